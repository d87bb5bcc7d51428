"""imapd acceptance, part 6: curl's IMAP client. Fetching by UID and by
section, mailbox listing, SEARCH through a URL query, EXAMINE as a custom
request, upload (APPEND), on imap:// (plain, and STARTTLS with --ssl-reqd
against a server that refuses plaintext) and imaps:// (port 993), with
curl's SASL (AUTHENTICATE PLAIN, with and without --sasl-ir) and LOGIN."""
import os
import re
import shutil
import tempfile

import pytest

from conftest import have_program, run
from imap_helpers import crlf, imap, maildir_files, seed

pytestmark = [pytest.mark.skipif(not have_program("imapd"), reason="imapd not built"),
              pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")]

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))

MSGS = [
    b"From: ann@example.org\nTo: alice@example.test\nSubject: first\n\nbody one\n",
    b"From: bob@example.org\nTo: alice@example.test\nSubject: second curl\nMIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\npart one\n\n"
    b"--b\nContent-Type: text/plain\n\npart two\n\n--b--\n",
    b"From: carl@example.org\nTo: alice@example.test\nSubject: third\n\nbody three\n",
]


def curl(inst, url, *args, user="alice:pw-alice", check=True):
    cmd = ["curl", "-sS", "--max-time", "20", "-u", user] + list(args) + [url]
    return run(cmd, check=check, timeout=30)


def base(inst, scheme="imap"):
    svc = "imaps" if scheme == "imaps" else "imap"
    return "%s://%s:%d" % (scheme, inst.listen, inst.port(svc))


@pytest.fixture
def plain(make_instance):
    i = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})
    seed(i, "alice", MSGS)
    seed(i, "alice", [MSGS[0]], folder="Work")
    i.start()
    return i


def curl_bytes(inst, url, *args):
    cmd = ["curl", "-sS", "--max-time", "20", "-u", "alice:pw-alice"] + list(args) + [url]
    import subprocess
    r = subprocess.run(cmd, capture_output=True, timeout=30)
    assert r.returncode == 0, (cmd, r.returncode, r.stderr)
    return r.stdout


def test_curl_fetch_by_uid_and_section(plain):
    b = base(plain)
    for uid, msg in enumerate(MSGS, 1):
        got = curl_bytes(plain, "%s/INBOX;UID=%d" % (b, uid))
        assert got == crlf(msg), (uid, got[:200])
    got = curl_bytes(plain, "%s/INBOX;UID=2;SECTION=2" % b)
    assert got == b"part two\r\n", got
    got = curl_bytes(plain, "%s/INBOX;UID=2;SECTION=HEADER.FIELDS%%20(SUBJECT)" % b)
    assert got == b"Subject: second curl\r\n\r\n", got
    got = curl_bytes(plain, "%s/INBOX;MAILINDEX=3" % b)
    assert got == crlf(MSGS[2])
    got = curl_bytes(plain, "%s/Work;UID=1" % b)
    assert got == crlf(MSGS[0])
    # curl fetched with BODY[] (not PEEK): the messages are \Seen now
    m = imap(plain, login=("alice", "pw-alice"))
    m.select("INBOX", readonly=True)
    typ, data = m.fetch("1:3", "(FLAGS)")
    assert all(b"\\Seen" in d for d in data), data
    m.logout()
    # a UID that does not exist is an error for curl
    r = curl(plain, "%s/INBOX;UID=99" % b, check=False)
    assert r.returncode != 0 or r.stdout == "", r


def test_curl_listing_search_examine(plain):
    b = base(plain)
    out = curl(plain, b + "/").stdout
    names = [re.sub(r'^\* LIST \([^)]*\) "/" ', "", line).strip('"') for line in out.splitlines() if line.strip()]
    assert "INBOX" in names and "Work" in names, out
    out = curl(plain, b + "/INBOX?SUBJECT%20curl").stdout
    assert out.split() == ["*", "SEARCH", "2"], out
    out = curl(plain, b + "/INBOX?ALL").stdout
    assert out.split() == ["*", "SEARCH", "1", "2", "3"], out
    out = curl(plain, b + "/", "-X", "EXAMINE INBOX").stdout
    assert re.search(r"^\* 3 EXISTS", out, re.M) and "UIDVALIDITY" in out, out
    out = curl(plain, b + "/INBOX", "-X", "UID FETCH 1:* (FLAGS)").stdout
    assert len(re.findall(r"^\* \d+ FETCH", out, re.M)) == 3, out
    out = curl(plain, b + "/", "-X", 'STATUS INBOX (MESSAGES)').stdout
    assert re.search(r"\(MESSAGES 3\)", out), out
    # wrong password
    r = curl(plain, b + "/", user="alice:wrong", check=False)
    assert r.returncode == 67, r  # CURLE_LOGIN_DENIED


def test_curl_upload_appends(plain):
    d = tempfile.mkdtemp(prefix="tern-curl-", dir="/tmp")
    try:
        p = os.path.join(d, "msg.eml")
        msg = b"From: curl@example.org\r\nTo: alice@example.test\r\nSubject: uploaded\r\n\r\nvia curl -T\r\n"
        open(p, "wb").write(msg)
        curl(plain, base(plain) + "/Work", "-T", p)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert len(maildir_files(plain, "alice", "Work")) == 2
    got = curl_bytes(plain, base(plain) + "/Work;UID=2")
    assert got == msg, got


@pytest.mark.parametrize("auth", ["sasl-ir", "plain", "default"])
def test_curl_auth_mechanisms(plain, auth):
    args = {"sasl-ir": ["--sasl-ir"], "plain": ["--login-options", "AUTH=PLAIN"], "default": []}[auth]
    got = curl_bytes(plain, base(plain) + "/INBOX;UID=1", *args)
    assert got == crlf(MSGS[0])


def test_curl_starttls_and_imaps(make_instance):
    inst = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "no"})
    seed(inst, "alice", MSGS[:1])
    inst.start()
    got = curl_bytes(inst, base(inst, "imaps") + "/INBOX;UID=1", "-k")
    assert got == crlf(MSGS[0])
    got = curl_bytes(inst, base(inst) + "/INBOX;UID=1", "-k", "--ssl-reqd")
    assert got == crlf(MSGS[0])
    out = curl(inst, base(inst, "imaps") + "/", "-k").stdout
    assert "INBOX" in out
    # without TLS the login is refused (LOGINDISABLED; no AUTH=PLAIN before TLS)
    r = curl(inst, base(inst) + "/INBOX;UID=1", check=False)
    assert r.returncode != 0 and r.stdout == "", r
