"""imapd acceptance, part 8: mail delivered over SMTP (Python's smtplib ->
smtpd -> qmgr -> local-delivery) is reported to an IDLE session within a
second of landing in the maildir, and fetched back intact. Skipped until
the delivery programs are part of the build."""
import email
import os
import re
import smtplib
import time

import pytest

from conftest import have_program
from imap_helpers import Raw, fetches, folder_dir, imap, seed, status_of

pytestmark = pytest.mark.skipif(
    not all(have_program(p) for p in ("imapd", "smtpd", "qmgr", "local-delivery")),
    reason="needs imapd, smtpd, qmgr and local-delivery")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))
ALICE = ("alice", "pw-alice")


def delivered_file(inst, user, subject):
    """(path, mtime) of the maildir file holding a subject, or None."""
    base = folder_dir(inst, user)
    for sub in ("new", "cur"):
        d = os.path.join(base, sub)
        for n in os.listdir(d) if os.path.isdir(d) else []:
            p = os.path.join(d, n)
            try:
                with open(p, "rb") as f:
                    head = f.read(8192)
            except FileNotFoundError:
                continue
            if b"Subject: " + subject.encode() in head:
                return p, os.stat(p).st_mtime
    return None


def test_idle_reports_smtp_delivery_within_a_second(make_instance):
    inst = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})
    seed(inst, "alice", [b"Subject: old\n\nold\n"])
    inst.start()
    r = Raw(inst)
    r.login(*ALICE)
    r.ok("SELECT INBOX")
    r.send(b"i1 IDLE\r\n")
    assert r.read_response().startswith(b"+")
    body = "Hello over SMTP.\r\nSecond line.\r\n"
    msg = ("From: bob@example.org\r\nTo: alice@example.test\r\nSubject: via smtp\r\n"
           "Message-ID: <smtp1@example.org>\r\n\r\n" + body)
    t_sent = time.time()
    with smtplib.SMTP(inst.listen, inst.port("smtp"), timeout=20) as s:
        s.ehlo("client.example.org")
        refused = s.sendmail("bob@example.org", ["alice@example.test"], msg)
        assert not refused
    t_accepted = time.time()
    r.sock.settimeout(30)
    while True:
        line = r.read_response()
        if re.match(rb"\* 2 EXISTS", line):
            t_exists = time.time()
            break
    r.sock.settimeout(r.timeout)
    found = delivered_file(inst, "alice", "via smtp")
    assert found, "no delivered file"
    lag = t_exists - found[1]
    print("SMTP accepted after %.3f s, file in maildir, IDLE EXISTS %.3f s after the file was written, "
          "%.3f s after the 250" % (t_accepted - t_sent, lag, t_exists - t_accepted))
    assert lag < 1.0 + 0.05, lag  # plus the coarse file clock
    r.send(b"DONE\r\n")
    assert status_of(r.wait_tagged("i1")[0]) == "OK"
    tagged, untag = r.ok("FETCH 2 (BODY.PEEK[TEXT] BODY.PEEK[HEADER.FIELDS (SUBJECT DELIVERED-TO)])")
    f = fetches(untag)[2]
    assert f["BODY[TEXT]"] == body.encode(), f
    hdr = [v for k, v in f.items() if k.startswith("BODY[HEADER.FIELDS")][0]
    assert b"Subject: via smtp" in hdr and b"Delivered-To: alice@example.test" in hdr, hdr
    r.close()


def test_smtp_mail_seen_by_two_sessions_and_searchable(make_instance):
    inst = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})
    inst.start()
    a = imap(inst, login=ALICE)
    b = imap(inst, login=ALICE)
    a.select("INBOX")
    b.select("INBOX", readonly=True)
    with smtplib.SMTP(inst.listen, inst.port("smtp"), timeout=20) as s:
        for i in range(3):
            s.sendmail("bob@example.org", ["alice@example.test"],
                       "From: bob@example.org\r\nTo: alice@example.test\r\nSubject: batch %d\r\n\r\nbody %d\r\n"
                       % (i, i))
    deadline = time.time() + 20
    n = 0
    while time.time() < deadline and n < 3:
        a.noop()
        n = int(a.untagged_responses.get("EXISTS", [b"0"])[-1])
        time.sleep(0.1)
    assert n == 3
    b.noop()
    assert int(b.untagged_responses.get("EXISTS", [b"0"])[-1]) == 3
    typ, data = a.search(None, "SUBJECT", '"batch 1"')
    assert data[0].split() == [b"2"] or len(data[0].split()) == 1, data
    typ, data = a.fetch("1:3", "(BODY.PEEK[])")
    msgs = [email.message_from_bytes(d[1]) for d in data if isinstance(d, tuple)]
    assert sorted(m["Subject"] for m in msgs) == ["batch 0", "batch 1", "batch 2"]
    a.logout()
    b.logout()
