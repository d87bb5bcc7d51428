"""imapd with Python's imaplib: every RFC 3501 command over the three ways
in (plain with imapd_allow_plaintext_auth = yes, STARTTLS, port 993),
LOGINDISABLED without TLS, APPEND then FETCH byte-identical, FETCH items
and BODYSTRUCTURE of nested MIME, SEARCH keys, STORE/COPY/EXPUNGE/CLOSE,
mailbox management, bad input, and an mbox user. Messages are seeded with
Python's mailbox module (test_imapd_sessions.py covers concurrency, IDLE
and large folders; test_imapd_ext.py the extensions)."""
import base64
import imaplib
import os
import re
import time

import pytest

from conftest import have_program
from imapd_support import Raw, connect, crlf, ok, seed, status_word

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

ALICE = ("alice", "pw-alice")
USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))

MSGS = [
    b"From: Ann <ann@example.org>\nTo: alice@example.test\nSubject: first message\n"
    b"Date: Tue, 1 Jul 2003 10:52:37 +0200\nMessage-ID: <m1@example.org>\n\nhello world\n",
    b"From: bob@example.net\nTo: alice@example.test\nCc: carol@example.com\nSubject: Re: first message\n"
    b"Date: Wed, 2 Jul 2003 10:00:00 +0000\nMessage-ID: <m2@example.net>\nIn-Reply-To: <m1@example.org>\n"
    b"X-Priority: 1\n\nsecond body with the word needle\n",
    b"From: =?UTF-8?Q?J=C3=BCrgen?= <j@example.de>\nTo: alice@example.test\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\n"
    b"Date: Thu, 3 Jul 2003 09:00:00 +0000\nMIME-Version: 1.0\n"
    b"Content-Type: multipart/mixed; boundary=\"XX\"\n\npreamble\n--XX\n"
    b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
    b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe\n--XX\nContent-Type: message/rfc822\n\n"
    b"From: inner@example.org\nSubject: inner\n\ninner text\n--XX\n"
    b"Content-Type: application/octet-stream; name=data.bin\nContent-Transfer-Encoding: base64\n"
    b"Content-Disposition: attachment; filename=data.bin\n\nAAECAwQ=\n--XX--\n",
]


@pytest.fixture
def plain(make_instance):
    return make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})


@pytest.fixture
def strict(make_instance):
    return make_instance(users=USERS)


@pytest.mark.parametrize("kind", ["plain", "starttls", "ssl"])
def test_session_three_ways(plain, kind):
    seed(plain, "alice", MSGS)
    plain.start()
    m = connect(plain, kind)
    assert b"IMAP4rev1" in m.welcome
    assert "IMAP4REV1" in m.capabilities and "AUTH=PLAIN" in m.capabilities
    assert ("STARTTLS" in m.capabilities) == (kind == "plain")
    typ, data = m.login(*ALICE)
    assert typ == "OK" and b"[CAPABILITY IMAP4rev1" in data[0]
    assert b"STARTTLS" not in data[0] and b"AUTH=" not in data[0]
    names = [re.search(rb'"/" "?([^"]*)"?$', x).group(1) for x in ok(m.list())]
    assert b"INBOX" in names and b"Sent" in names
    assert ok(m.select("INBOX")) == [b"3"]
    data = ok(m.fetch("1", "(BODY.PEEK[HEADER] BODY.PEEK[TEXT])"))
    assert data[0][1] == crlf(MSGS[0].split(b"\n\n")[0] + b"\n\n")
    assert data[1][1] == b"hello world\r\n"
    typ, _ = m.logout()
    assert typ == "BYE"


def test_logindisabled_until_tls(strict):
    seed(strict, "alice", MSGS[:1])
    strict.start()
    m = connect(strict)
    assert "LOGINDISABLED" in m.capabilities and "STARTTLS" in m.capabilities
    assert "AUTH=PLAIN" not in m.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        m.login(*ALICE)
    m.starttls(ssl_context=__import__("imapd_support").tls_ctx())
    assert "LOGINDISABLED" not in m.capabilities and "AUTH=PLAIN" in m.capabilities
    ok(m.login(*ALICE))
    m.logout()
    # AUTHENTICATE PLAIN on port 993
    m = connect(strict, "ssl")
    ok(m.authenticate("PLAIN", lambda _: b"\0alice\0pw-alice"))
    assert ok(m.select("INBOX")) == [b"1"]
    m.logout()


def test_authenticate_plain_raw(plain):
    plain.start()
    r = Raw(plain)
    ir = base64.b64encode(b"\0alice\0wrong").decode()
    t, _ = r.cmd("AUTHENTICATE PLAIN " + ir)
    assert status_word(t) == b"NO" and b"AUTHENTICATIONFAILED" in t
    r.close()
    r = Raw(plain)
    r.send("a1 AUTHENTICATE PLAIN\r\n")
    assert r.response().startswith(b"+")
    r.send("*\r\n")
    t, _ = r.wait("a1")
    assert status_word(t) == b"BAD"
    r.send("a2 AUTHENTICATE PLAIN\r\n")
    assert r.response().startswith(b"+")
    r.send(base64.b64encode(b"\0alice\0pw-alice") + b"\r\n")
    t, _ = r.wait("a2")
    assert status_word(t) == b"OK" and b"CAPABILITY" in t
    t, _ = r.cmd("LOGIN alice pw-alice")
    assert status_word(t) == b"NO"  # already logged in: wrong state
    r.close()


def test_wrong_state_and_errors(plain):
    plain.start()
    r = Raw(plain)
    for cmd in ("SELECT INBOX", "LIST \"\" *", "FETCH 1 FLAGS", "APPEND INBOX {1+}\r\nx"):
        t, _ = r.cmd(cmd)
        assert status_word(t) == b"NO", (cmd, t)
    t, _ = r.cmd("LOGIN alice pw-alice")
    assert status_word(t) == b"OK"
    for cmd in ("FETCH 1 FLAGS", "EXPUNGE", "CLOSE", "STORE 1 +FLAGS (\\Seen)"):
        t, _ = r.cmd(cmd)
        assert status_word(t) == b"NO" and b"selected" in t.lower(), (cmd, t)
    for cmd in ("FROB", "SELECT", "LIST \"\"", "STATUS INBOX (BOGUS)", "CREATE \"unterminated"):
        t, _ = r.cmd(cmd)
        assert status_word(t) == b"BAD" and len(t.split(b" ", 2)[2]) > 3, (cmd, t)
    r.close()


def test_mailbox_management(plain):
    seed(plain, "alice", MSGS[:2])
    plain.start()
    m = connect(plain, login=ALICE)
    ok(m.create("Work"))
    ok(m.create("Work/Projects/"))  # trailing separator: children planned
    assert m.create("Work")[0] == "NO"
    lst = {re.search(rb'"/" "?([^"]*)"?$', x).group(1): x for x in ok(m.list('""', "Work*"))}
    assert b"\\HasChildren" in lst[b"Work"] and b"\\HasNoChildren" in lst[b"Work/Projects"]
    assert ok(m.list('""', "%")) and all(b"Work/Projects" not in x for x in ok(m.list('""', "%")))
    assert [x for x in ok(m.list("Work/", "%")) if x][0].endswith(b'"Work/Projects"')
    assert ok(m.list('""', '""')) == [b'(\\Noselect) "/" ""']
    ok(m.rename("Work/Projects", "Work/Done"))
    assert any(x.endswith(b'"Work/Done"') for x in ok(m.list('""', "*")))
    ok(m.subscribe("Work/Done"))
    assert any(x.endswith(b'"Work/Done"') for x in ok(m.lsub('""', "*")))
    ok(m.unsubscribe("Work/Done"))
    assert not any(x and x.endswith(b'"Work/Done"') for x in ok(m.lsub('""', "*")))
    ok(m.delete("Work/Done"))
    assert m.delete("INBOX")[0] == "NO"
    assert m.delete("NoSuch")[0] == "NO"
    # STATUS
    st = ok(m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ)"))[0]
    assert re.search(rb"MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY \d+ UNSEEN 2 HIGHESTMODSEQ \d+", st), st
    # RENAME INBOX moves its messages and leaves INBOX empty
    ok(m.rename("INBOX", "Old"))
    assert ok(m.select("Old")) == [b"2"]
    assert ok(m.select("INBOX")) == [b"0"]
    assert m.select("NoSuch")[0] == "NO"
    m.logout()


def test_select_examine_and_recent(plain):
    seed(plain, "alice", MSGS, flags=["S", None, None])
    plain.start()
    m = connect(plain, login=ALICE)
    typ, data = m.select("INBOX", readonly=True)
    assert typ == "OK" and data == [b"3"]
    assert m.untagged_responses.get("READ-ONLY") is not None
    assert m.untagged_responses["RECENT"] == [b"3"]
    assert m.untagged_responses["UNSEEN"] == [b"2"]
    assert int(m.untagged_responses["UIDNEXT"][0]) == 4
    assert int(m.untagged_responses["HIGHESTMODSEQ"][0]) >= 1
    assert m.store("1", "+FLAGS", "(\\Flagged)")[0] == "NO"
    typ, data = m.select("INBOX")
    assert m.untagged_responses.get("READ-WRITE") is not None
    assert m.untagged_responses["RECENT"] == [b"3"]  # EXAMINE claimed nothing
    assert b"\\*" in m.untagged_responses["PERMANENTFLAGS"][0]
    m.logout()
    # a second SELECT sees them as no longer recent
    m = connect(plain, login=ALICE)
    m.select("INBOX")
    assert m.untagged_responses["RECENT"] == [b"0"]
    m.logout()


def test_append_then_fetch_is_byte_identical(plain):
    plain.start()
    m = connect(plain, login=ALICE)
    msg = crlf(MSGS[2]) + b"trailing line without newline"
    date = imaplib.Time2Internaldate(time.mktime((2020, 5, 17, 12, 30, 0, 0, 0, -1)))
    typ, data = m.append("Drafts", "(\\Draft $Label1)", date, msg)
    assert typ == "OK"
    mo = re.search(rb"\[APPENDUID (\d+) (\d+)\]", data[0])
    assert mo, data
    uid = mo.group(2)
    m.select("Drafts")
    data = ok(m.uid("FETCH", uid, "(FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"))
    assert data[0][1] == msg
    head = data[0][0]
    assert b"RFC822.SIZE %d" % len(msg) in head
    assert b"\\Draft" in head and b"$Label1" in head
    assert imaplib.Internaldate2tuple(head)[:5] == time.localtime(time.mktime((2020, 5, 17, 12, 30, 0, 0, 0, -1)))[:5]
    # a message appended to the selected mailbox shows up at once
    ok(m.append("Drafts", None, None, b"Subject: two\r\n\r\nx\r\n"))
    assert m.untagged_responses["EXISTS"][-1] == b"2"
    assert m.append("NoSuchBox", None, None, b"Subject: x\r\n\r\n")[0] == "NO"
    m.logout()
    r = Raw(plain)
    r.cmd("LOGIN alice pw-alice")
    t, _ = r.cmd("APPEND NoSuchBox {5+}\r\nhello")
    assert status_word(t) == b"NO" and b"[TRYCREATE]" in t
    t, _ = r.cmd("APPEND INBOX {0+}\r\n")
    assert status_word(t) == b"NO"
    r.close()


def test_literal_limits(make_instance):
    inst = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes", "imapd_literal_size_limit": "2k"})
    inst.start()
    r = Raw(inst)
    r.cmd("LOGIN alice pw-alice")
    # a synchronising literal too large is refused before its data is sent
    r.send("a1 APPEND INBOX {5000}\r\n")
    t = r.response()
    assert t.startswith(b"a1 NO [TOOBIG]"), t
    # a small one gets the continuation
    r.send("a2 APPEND INBOX {10}\r\n")
    assert r.response().startswith(b"+ ")
    r.send("Subject: x\r\n")
    t, _ = r.wait("a2")
    assert status_word(t) == b"OK"
    # LITERAL+ too large: the session ends
    r.send("a3 APPEND INBOX {5000+}\r\n")
    assert b"BYE" in r.response()
    assert r.closed()
    r.close()


def test_fetch_items_and_seen(plain):
    seed(plain, "alice", MSGS)
    plain.start()
    m = connect(plain, login=ALICE)
    m.select("INBOX")
    data = ok(m.fetch("1", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE)"))[0]
    assert b"UID 1 " in data and b"FLAGS (\\Recent)" in data
    assert b"RFC822.SIZE %d" % len(crlf(MSGS[0])) in data
    assert b'ENVELOPE ("Tue, 1 Jul 2003 10:52:37 +0200" "first message" (("Ann" NIL "ann" "example.org"))' in data
    assert b'NIL NIL NIL "<m1@example.org>")' in data
    data = ok(m.fetch("2", "ENVELOPE"))[0]
    assert b'((NIL NIL "carol" "example.com")) NIL "<m1@example.org>" "<m2@example.net>")' in data
    # BODYSTRUCTURE of the nested message (sizes in CRLF form)
    data = ok(m.fetch("3", "(BODYSTRUCTURE)"))[0]
    part1 = crlf(b"Sch=C3=B6ne Gr=C3=BC=C3=9Fe")
    inner = crlf(b"From: inner@example.org\nSubject: inner\n\ninner text")
    assert (b'BODYSTRUCTURE (("text" "plain" ("charset" "utf-8") NIL NIL "quoted-printable" %d 1 NIL NIL NIL NIL)'
            % len(part1)) in data, data
    assert (b'("message" "rfc822" NIL NIL NIL "7bit" %d (NIL "inner" ((NIL NIL "inner" "example.org"))' % len(inner)) in data
    assert b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 10 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)' in data
    assert (b'("application" "octet-stream" ("name" "data.bin") NIL NIL "base64" 8 NIL ("attachment" ("filename" '
            b'"data.bin")) NIL NIL) "mixed" ("boundary" "XX") NIL NIL NIL)') in data
    data = ok(m.fetch("3", "BODY"))[0]
    assert b'"mixed")' in data and b"boundary" not in data
    # sections, partials, PEEK
    items = "(BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT] BODY.PEEK[1.MIME] BODY.PEEK[3]<0.4> BODY.PEEK[9])"
    data = ok(m.fetch("3", items))
    got = {}
    for d in data:
        if isinstance(d, tuple):
            got[re.findall(rb"(BODY\[[^\]]*\](?:<\d+>)?) \{\d+\}$", d[0])[0]] = d[1]
    assert got[b"BODY[1]"] == part1
    assert got[b"BODY[2]"] == inner
    assert got[b"BODY[2.HEADER]"] == b"From: inner@example.org\r\nSubject: inner\r\n\r\n"
    assert got[b"BODY[2.TEXT]"] == b"inner text"
    assert got[b"BODY[1.MIME]"] == b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    assert got[b"BODY[3]<0>"] == b"AAEC"
    assert b"BODY[9] NIL" in b"".join(d if isinstance(d, bytes) else d[0] for d in data)
    data = ok(m.fetch("2", "(BODY.PEEK[HEADER.FIELDS (Subject X-Priority)] BODY.PEEK[HEADER.FIELDS.NOT (Subject X-Priority To Cc From Date Message-ID)])"))
    assert data[0][1] == b"Subject: Re: first message\r\nX-Priority: 1\r\n\r\n"
    assert data[1][1] == b"In-Reply-To: <m1@example.org>\r\n\r\n"
    assert b"\\Seen" not in ok(m.fetch("2", "FLAGS"))[0]
    # RFC822.HEADER does not set \Seen; RFC822.TEXT and BODY[] do, and say so
    data = ok(m.fetch("1", "RFC822.HEADER"))
    assert data[0][1] == crlf(MSGS[0].split(b"\n\n")[0] + b"\n\n")
    assert b"\\Seen" not in ok(m.fetch("1", "FLAGS"))[0]
    data = ok(m.fetch("1", "RFC822.TEXT"))
    assert data[0][1] == b"hello world\r\n" and b"\\Seen" in data[0][0]
    data = ok(m.fetch("2", "BODY[]"))
    assert data[0][1] == crlf(MSGS[1]) and b"FLAGS (\\Seen" in data[0][0]
    data = ok(m.fetch("3", "RFC822"))
    assert data[0][1] == crlf(MSGS[2])
    # macros and UID FETCH
    assert b"ENVELOPE" in ok(m.fetch("1", "ALL"))[0]
    assert b"BODY (" in ok(m.fetch("1", "FULL"))[0]
    assert b"RFC822.SIZE" in ok(m.fetch("1", "FAST"))[0]
    data = ok(m.uid("FETCH", "2:*", "FLAGS"))
    assert [re.search(rb"UID (\d+)", d).group(1) for d in data] == [b"2", b"3"]
    assert ok(m.uid("FETCH", "99", "FLAGS")) == [None]
    for bad in ("4 FLAGS", "0 FLAGS", "1 BODY[NOSUCH]", "1 (FLAGS"):
        with pytest.raises(imaplib.IMAP4.error):
            m.fetch(*bad.split(" ", 1))
    m.logout()


def test_search_keys(plain):
    seed(plain, "alice", MSGS, flags=["S", "FRS", None])
    plain.start()
    m = connect(plain, login=ALICE)
    m.select("INBOX")
    ok(m.store("3", "+FLAGS", "($Important)"))

    def s(*keys, charset=None):
        typ, data = m.search(charset, *keys)
        assert typ == "OK", (keys, data)
        return data[0].split()

    assert s("ALL") == [b"1", b"2", b"3"]
    assert s("SEEN") == [b"1", b"2"]
    assert s("UNSEEN") == [b"3"]
    assert s("FLAGGED") == [b"2"] and s("ANSWERED") == [b"2"] and s("UNANSWERED") == [b"1", b"3"]
    assert s("DELETED") == [] and s("UNDELETED") == [b"1", b"2", b"3"]
    assert s("DRAFT") == [] and s("UNDRAFT") == [b"1", b"2", b"3"] and s("UNFLAGGED") == [b"1", b"3"]
    assert s("KEYWORD", "$Important") == [b"3"] and s("UNKEYWORD", "$Important") == [b"1", b"2"]
    assert s("RECENT") == [b"1", b"2", b"3"] and s("OLD") == [] and s("NEW") == [b"3"]
    assert s("FROM", "ann") == [b"1"]
    assert s("FROM", '"JÜRGEN"'.encode(), charset="UTF-8") == [b"3"]
    assert s("TO", "alice") == [b"1", b"2", b"3"]
    assert s("CC", "carol") == [b"2"] and s("BCC", "x") == []
    assert s("SUBJECT", '"first message"') == [b"1", b"2"]
    assert s("SUBJECT", "grüße".encode(), charset="UTF-8") == [b"3"]
    assert s("HEADER", "X-Priority", '""') == [b"2"]
    assert s("HEADER", "Message-ID", "m2@") == [b"2"]
    assert s("BODY", "needle") == [b"2"]
    assert s("BODY", "first") == []
    assert s("TEXT", "first") == [b"1", b"2"]
    assert s("BODY", "schöne".encode(), charset="UTF-8") == [b"3"]
    assert s("SENTON", "2-Jul-2003") == [b"2"]
    assert s("SENTBEFORE", "2-Jul-2003") == [b"1"]
    assert s("SENTSINCE", "2-Jul-2003") == [b"2", b"3"]
    today = time.strftime("%d-%b-%Y")
    assert s("ON", today) == [b"1", b"2", b"3"] and s("BEFORE", "1-Jan-2000") == []
    assert s("SINCE", "1-Jan-2000") == [b"1", b"2", b"3"]
    assert s("LARGER", "500") == [b"3"] and s("SMALLER", "500") == [b"1", b"2"]
    assert s("NOT", "SEEN") == [b"3"]
    assert s("OR", "FLAGGED", "KEYWORD", "$Important") == [b"2", b"3"]
    assert s("(SEEN FROM bob)") == [b"2"]
    assert s("2:*") == [b"2", b"3"]
    assert s("UID", "1,3") == [b"1", b"3"]
    typ, data = m.uid("SEARCH", "UID", "2:*")
    assert data[0].split() == [b"2", b"3"]
    # a literal in UTF-8 and another charset
    r = Raw(plain)
    r.cmd("LOGIN alice pw-alice")
    r.cmd("SELECT INBOX")
    t, u = r.cmd(b"SEARCH CHARSET UTF-8 BODY {6+}\r\nsch\xc3\xb6n")
    assert u == [b"* SEARCH 3"], u
    t, u = r.cmd(b"SEARCH CHARSET ISO-8859-1 SUBJECT {5+}\r\nGr\xfc\xdfe")
    assert u == [b"* SEARCH 3"], u
    t, u = r.cmd("SEARCH CHARSET X-UNKNOWN-CS ALL")
    assert status_word(t) == b"NO" and b"BADCHARSET" in t
    t, u = r.cmd("SEARCH FROB")
    assert status_word(t) == b"BAD"
    r.close()
    m.logout()


def test_store_copy_expunge_close(plain):
    seed(plain, "alice", MSGS)
    plain.start()
    m = connect(plain, login=ALICE)
    m.select("INBOX")
    data = ok(m.store("1:2", "+FLAGS", "(\\Flagged $Work)"))
    assert len(data) == 2 and all(b"\\Flagged" in d and b"$Work" in d for d in data)
    data = ok(m.store("1", "-FLAGS", "(\\Flagged)"))
    assert b"\\Flagged" not in data[0] and b"$Work" in data[0]
    data = ok(m.store("2", "FLAGS", "(\\Answered)"))
    assert b"(\\Answered \\Recent)" in data[0] or b"FLAGS (\\Answered" in data[0]
    assert ok(m.store("3", "+FLAGS.SILENT", "(\\Seen)")) == [None]
    assert b"\\Seen" in ok(m.fetch("3", "FLAGS"))[0]
    with pytest.raises(imaplib.IMAP4.error):
        m.store("1", "+FLAGS", "(\\Bogus)")
    # COPY with COPYUID; the copy keeps flags
    typ, data = m.copy("1:2", "Archive")
    assert typ == "OK" and re.search(rb"\[COPYUID \d+ 1:2 1:2\]", data[0]), data
    assert m.copy("1", "NoSuchBox")[0] == "NO"
    st = ok(m.status("Archive", "(MESSAGES)"))[0]
    assert b"MESSAGES 2" in st
    # EXPUNGE reports sequence numbers, highest first is fine as long as they are consistent
    ok(m.store("1,3", "+FLAGS", "(\\Deleted)"))
    typ, data = m.expunge()
    assert typ == "OK" and data == [b"3", b"1"], data
    assert ok(m.search(None, "ALL")) == [b"1"]
    # UID EXPUNGE removes only the named \Deleted messages
    ok(m.append("INBOX", "(\\Deleted)", None, b"Subject: a\r\n\r\na\r\n"))
    ok(m.append("INBOX", "(\\Deleted)", None, b"Subject: b\r\n\r\nb\r\n"))
    m.noop()
    uids = ok(m.uid("SEARCH", "DELETED"))[0].split()
    assert len(uids) == 2
    typ, data = m.uid("EXPUNGE", uids[0].decode())
    assert typ == "OK"
    assert ok(m.uid("SEARCH", "DELETED"))[0].split() == [uids[1]]
    ok(m.check())
    # CLOSE expunges silently
    ok(m.store("1", "+FLAGS", "(\\Deleted)"))
    ok(m.append("INBOX", None, None, b"Subject: kept\r\n\r\nk\r\n"))
    m.untagged_responses.pop("EXPUNGE", None)
    typ, data = m.close()
    assert typ == "OK"
    assert m.untagged_responses.get("EXPUNGE") is None
    assert ok(m.status("INBOX", "(MESSAGES)"))[0].endswith(b"(MESSAGES 1)")
    m.logout()


def test_mbox_user(plain):
    import mailbox as mb_mod
    from imapd_support import owner_ids
    addr = "bob@%s" % plain.domain
    vpath = os.path.join(plain.dir, "vmailbox")
    text = open(vpath).read()
    open(vpath, "w").write(text.replace("%s  %s/" % (addr, addr), "%s  bob.mbox" % addr))
    path = os.path.join(plain.dir, "mail", "bob.mbox")
    mb = mb_mod.mbox(path, create=True)
    for msg in MSGS[:2]:
        mb.add(msg)
    mb.flush()
    mb.close()
    os.chown(path, *owner_ids())
    plain.start()
    m = connect(plain, login=("bob", "pw-bob"))
    assert ok(m.select("INBOX")) == [b"2"]
    assert ok(m.fetch("2", "BODY.PEEK[]"))[0][1] == crlf(MSGS[1])
    ok(m.store("1", "+FLAGS", "(\\Flagged \\Seen)"))
    ok(m.check())  # CHECK writes the flags into the mbox file
    flags = [x.get_flags() for x in mb_mod.mbox(path, create=False)]
    assert "F" in flags[0] and "R" in flags[0], flags
    m.logout()
