"""imapd acceptance, part 1: the seed session and the ways in.

The seed's IMAP session (CAPABILITY in the greeting, LOGIN, LIST "" "*" over
maildir++ folders, EXAMINE with its FLAGS/PERMANENTFLAGS/EXISTS/RECENT/
UNSEEN/UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ, FETCH n BODY[HEADER] and
BODY[TEXT], LOGOUT) through Python's imaplib and as a raw transcript; plain
connections with plaintext allowed, STARTTLS and port 993; LOGINDISABLED
before TLS; plaintext pipelined behind STARTTLS is never executed; LOGIN and
AUTHENTICATE PLAIN with and without an initial response."""
import base64
import imaplib
import re
import socket
import ssl

import pytest

from conftest import have_program
from imap_helpers import (Raw, check_ok, crlf, fetches, imap, parse, seed, select_info, status_of,
                          tls_context, untagged)

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))
ALICE = ("alice", "pw-alice")

MSGS = [
    b"From: Ann <ann@example.org>\nTo: alice@example.test\nSubject: first\nDate: Mon, 02 Mar 2026 10:00:00 +0000\n"
    b"Message-ID: <m1@example.org>\n\nbody one\nsecond line\n",
    b"From: bob@example.org\nTo: alice@example.test\nSubject: second\nDate: Tue, 03 Mar 2026 10:00:00 +0000\n\n"
    b"body two\n",
    b"From: carl@example.org\nTo: alice@example.test\nSubject: third\n\nbody three\n\n-- \nsig\n",
]

EXPECTED_CAPS = ["IMAP4REV1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE", "NAMESPACE", "UIDPLUS", "MOVE",
                 "UNSELECT", "CHILDREN", "LIST-EXTENDED", "LIST-STATUS", "SPECIAL-USE", "CONDSTORE", "QRESYNC",
                 "ESEARCH", "SORT", "THREAD=REFERENCES", "THREAD=ORDEREDSUBJECT"]


def split_msg(m):
    i = m.index(b"\n\n") + 2
    return crlf(m[:i]), crlf(m[i:])


@pytest.fixture
def inst(make_instance):
    """Instance with plaintext allowed; alice has 3 INBOX messages (first
    seen) and the maildir++ folders Work, Work/Projects and Lists.dev."""
    i = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})
    seed(i, "alice", MSGS, flags=["S", None, None])
    seed(i, "alice", [MSGS[0]], folder="Work")
    seed(i, "alice", [MSGS[1]], folder="Work/Projects")
    seed(i, "alice", [MSGS[2]], folder="Lists.dev")
    i.start()
    return i


@pytest.fixture
def tls_only(make_instance):
    i = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "no"})
    seed(i, "alice", MSGS[:1])
    i.start()
    return i


def caps_of(line):
    mo = re.search(rb"\[CAPABILITY ([^\]]*)\]", line)
    return mo.group(1).decode().upper().split() if mo else None


def test_seed_session_raw_transcript(inst):
    """The seed session on the wire, checked line by line."""
    r = Raw(inst)
    assert r.greeting.startswith(b"* OK "), r.greeting
    caps = caps_of(r.greeting)
    assert caps and "IMAP4REV1" in caps and "STARTTLS" in caps, r.greeting
    assert "LOGINDISABLED" not in caps  # plaintext allowed here
    tagged, untag = r.login(*ALICE)
    # after login the server tells the capabilities again (code or untagged)
    if caps_of(tagged):
        assert "IMAP4REV1" in caps_of(tagged), tagged
    tagged, untag = r.ok("CAPABILITY")
    post = untag[0].decode().upper().split()[2:]
    for c in EXPECTED_CAPS:
        assert c in post, (c, post)
    assert "STARTTLS" not in post and "LOGINDISABLED" not in post
    # LIST "" "*" over the maildir++ folders
    tagged, untag = r.ok('LIST "" "*"')
    boxes = {}
    for line in untag:
        p = parse(line)
        assert p[0] == b"*" and p[1].upper() == b"LIST", line
        assert p[3] == b"/", line  # hierarchy separator
        boxes[p[4].decode()] = [a.decode().lower() for a in p[2]]
    for name in ("INBOX", "Work", "Work/Projects", "Lists.dev"):
        assert name in boxes, (name, boxes)
    assert "\\haschildren" in boxes["Work"] and "\\hasnochildren" in boxes["Work/Projects"], boxes
    # EXAMINE: every datum of the seed
    tagged, untag = r.ok("EXAMINE INBOX")
    assert b"[READ-ONLY]" in tagged.upper(), tagged
    info = select_info(untag)
    assert set(x.lower() for x in info["FLAGS"]) >= {b"\\answered", b"\\flagged", b"\\deleted", b"\\seen",
                                                    b"\\draft"}, info
    assert "PERMANENTFLAGS" in info, untag
    # \Recent: no session has seen any of them; a server may count only the
    # files still in new/ (maildir's convention: cur/ was seen by some MUA)
    assert info["EXISTS"] == 3 and info["RECENT"] in (2, 3), info
    assert info["UNSEEN"] == 2, info  # first unseen message's sequence number
    assert info["UIDVALIDITY"] > 0 and info["UIDNEXT"] >= 4, info
    assert info["HIGHESTMODSEQ"] >= 1, info
    # FETCH n BODY[HEADER] and BODY[TEXT]
    for n, m in enumerate(MSGS, 1):
        head, text = split_msg(m)
        tagged, untag = r.ok("FETCH %d BODY[HEADER]" % n)
        f = fetches(untag)
        assert f[n]["BODY[HEADER]"] == head, f
        tagged, untag = r.ok("FETCH %d BODY[TEXT]" % n)
        f = fetches(untag)
        assert f[n]["BODY[TEXT]"] == text, f
    # EXAMINE is read-only: BODY[TEXT] did not set \Seen
    tagged, untag = r.ok("FETCH 1:* FLAGS")
    f = fetches(untag)
    assert [b"\\Seen" in f[i]["FLAGS"] for i in (1, 2, 3)] == [True, False, False], f
    # LOGOUT: untagged BYE, tagged OK, then the server closes
    tagged, untag = r.command("LOGOUT")
    assert status_of(tagged) == "OK" and any(u.startswith(b"* BYE") for u in untag), (tagged, untag)
    assert r.closed_by_peer(5)
    r.close()


def test_seed_session_imaplib(inst):
    m = imap(inst)
    assert m.welcome.startswith(b"* OK"), m.welcome
    for c in ("IMAP4REV1", "STARTTLS"):
        assert c in m.capabilities, m.capabilities
    check_ok(m.login(*ALICE))
    typ, data = m.list('""', "*")
    assert typ == "OK"
    names = set()
    for d in data:
        mo = re.match(rb'\((.*?)\) "(.)" (.*)$', d)
        assert mo, d
        names.add(mo.group(3).strip(b'"').decode())
    assert {"INBOX", "Work", "Work/Projects", "Lists.dev"} <= names, names
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"3"], (typ, data)
    assert untagged(m, "READ-ONLY") is not None
    assert int(untagged(m, "UIDNEXT")[0]) >= 4
    assert int(untagged(m, "UIDVALIDITY")[0]) > 0
    assert int(untagged(m, "HIGHESTMODSEQ")[0]) >= 1
    assert untagged(m, "UNSEEN") == [b"2"]
    assert untagged(m, "RECENT") in ([b"2"], [b"3"])
    for n, msg in enumerate(MSGS, 1):
        head, text = split_msg(msg)
        typ, data = m.fetch(str(n), "(BODY[HEADER])")
        assert typ == "OK" and data[0][1] == head, data
        typ, data = m.fetch(str(n), "(BODY[TEXT])")
        assert typ == "OK" and data[0][1] == text, data
    typ, data = m.logout()
    assert typ == "BYE", (typ, data)


@pytest.mark.parametrize("kind", ["plain", "starttls", "ssl"])
def test_imaplib_login_plain_starttls_993(inst, kind):
    m = imap(inst, kind)
    if kind != "plain":
        assert "STARTTLS" not in m.capabilities and "LOGINDISABLED" not in m.capabilities
    check_ok(m.login(*ALICE))
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"3"]
    typ, data = m.fetch("1:*", "(UID RFC822.SIZE)")
    assert typ == "OK" and len(data) == 3, data
    for d, msg in zip(data, MSGS):
        assert b"RFC822.SIZE %d" % len(crlf(msg)) in d, d
    m.logout()


def test_logindisabled_until_tls(tls_only):
    inst = tls_only
    r = Raw(inst)
    caps = caps_of(r.greeting)
    if caps is None:
        tagged, untag = r.ok("CAPABILITY")
        caps = untag[0].decode().upper().split()[2:]
    assert "LOGINDISABLED" in caps and "STARTTLS" in caps, caps
    tagged, _ = r.command('LOGIN alice "pw-alice"')
    assert status_of(tagged) in ("NO", "BAD"), tagged
    tagged, untag = r.command("AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice\0pw-alice").decode())
    assert status_of(tagged) in ("NO", "BAD"), (tagged, untag)
    tagged, _ = r.command("SELECT INBOX")
    assert status_of(tagged) in ("NO", "BAD"), tagged  # not logged in
    r.close()
    # imaplib: plaintext LOGIN fails, after STARTTLS it works
    m = imap(inst)
    assert "LOGINDISABLED" in m.capabilities
    with pytest.raises(imaplib.IMAP4.error):
        m.login(*ALICE)
    m.shutdown()
    m = imap(inst, "starttls")
    assert "LOGINDISABLED" not in m.capabilities and "STARTTLS" not in m.capabilities
    assert "AUTH=PLAIN" in m.capabilities
    check_ok(m.login(*ALICE))
    assert m.select("INBOX")[1] == [b"1"]
    m.logout()
    m = imap(inst, "ssl")
    check_ok(m.login(*ALICE))
    m.logout()


def test_plaintext_pipelined_after_starttls_is_not_executed(tls_only):
    inst = tls_only
    s = socket.create_connection(inst.addr("imap"), timeout=10)
    buf = b""
    while b"\r\n" not in buf:
        buf += s.recv(4096)
    # STARTTLS with a LOGIN and a SELECT behind it in the same packet
    s.sendall(b"a1 STARTTLS\r\na2 LOGIN alice pw-alice\r\na3 SELECT INBOX\r\n")
    buf = b""
    while b"a1 " not in buf or not buf.endswith(b"\r\n"):
        d = s.recv(4096)
        assert d, buf
        buf += d
    assert re.search(rb"^a1 OK", buf, re.M), buf
    assert b"a2 " not in buf and b"a3 " not in buf, buf
    try:
        t = tls_context().wrap_socket(s)
    except (ssl.SSLError, OSError):
        return  # dropping a client that pipelines behind STARTTLS is acceptable
    t.settimeout(10)
    t.sendall(b"b1 SELECT INBOX\r\n")
    got = b""
    try:
        while b"b1 " not in got:
            d = t.recv(4096)
            if not d:
                break
            got += d
    except (ssl.SSLError, OSError):
        pass
    # never logged in by the plaintext LOGIN: SELECT is refused, a2/a3 never answered
    assert b"a2 " not in got and b"a3 " not in got, got
    if got:
        assert re.search(rb"b1 (NO|BAD)", got), got
    t.close()


def test_authenticate_plain_with_and_without_initial_response(inst):
    ir = base64.b64encode(b"\0alice\0pw-alice").decode()
    for service, tls in (("imap", False), ("imaps", True)):
        r = Raw(inst, service, tls=tls)
        tagged, untag = r.command("AUTHENTICATE PLAIN " + ir)  # SASL-IR
        assert status_of(tagged) == "OK", (tagged, untag)
        r.ok("SELECT INBOX")
        r.close()
    # classic exchange: empty continuation, then the response
    r = Raw(inst)
    r.send(b"x1 AUTHENTICATE PLAIN\r\n")
    cont = r.read_response()
    assert cont.startswith(b"+"), cont
    r.send(ir.encode() + b"\r\n")
    tagged, _ = r.wait_tagged("x1")
    assert status_of(tagged) == "OK", tagged
    r.close()
    # wrong password, and a cancelled exchange
    r = Raw(inst)
    tagged, _ = r.command("AUTHENTICATE PLAIN " + base64.b64encode(b"\0alice\0wrong").decode())
    assert status_of(tagged) == "NO", tagged
    tagged, _ = r.command('LOGIN alice "wrong"')
    assert status_of(tagged) == "NO", tagged
    r.send(b"x2 AUTHENTICATE PLAIN\r\n")
    assert r.read_response().startswith(b"+")
    r.send(b"*\r\n")
    tagged, _ = r.wait_tagged("x2")
    assert status_of(tagged) == "BAD", tagged  # RFC 3501 6.2.2: cancelled -> BAD
    tagged, _ = r.command("AUTHENTICATE X-UNKNOWN-MECH")
    assert status_of(tagged) in ("NO", "BAD"), tagged
    r.login(*ALICE)
    r.close()
    # imaplib's own AUTHENTICATE
    m = imap(inst)
    check_ok(m.authenticate("PLAIN", lambda _: b"\0alice\0pw-alice"))
    m.logout()


def test_bob_sees_only_his_mail(inst):
    m = imap(inst, login=("bob", "pw-bob"))
    typ, data = m.select("INBOX")
    assert typ == "OK" and data == [b"0"], data
    typ, data = m.list('""', "*")
    names = [d.rsplit(b" ", 1)[-1].strip(b'"') for d in data]
    assert b"Work" not in names, names
    m.logout()
