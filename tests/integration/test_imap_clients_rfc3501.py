"""imapd acceptance, part 2: every RFC 3501 command through Python's
imaplib (with raw transcripts where imaplib hides the detail), each with
checked results: CAPABILITY, NOOP, LOGOUT, CREATE, DELETE, RENAME (INBOX
too), SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS, APPEND (FETCH BODY[] gives
the same bytes back), CHECK, CLOSE, EXPUNGE, SEARCH (every key, CHARSET
UTF-8, literals), FETCH (every item, BODYSTRUCTURE of a nested multipart
with message/rfc822 against values computed from Python's email package),
STORE, COPY and the UID forms. The mail store is looked at directly too
(maildir++ directories, flag letters in file names)."""
import datetime
import email
import imaplib
import os

import pytest

from conftest import have_program
from imap_helpers import (Lit, Raw, check_ok, crlf, expected_bodystructure, expected_envelope,
                          fetches, find_untagged, folder_dir, imap, maildir_files, normalize_bs, parse, seed,
                          select_info, status_of, untagged)

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))
ALICE = ("alice", "pw-alice")


@pytest.fixture
def plain(make_instance):
    return make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})


def simple(subject, body=b"hello\n", frm=b"x@example.org"):
    return b"From: " + frm + b"\nTo: alice@example.test\nSubject: " + subject.encode() + b"\n\n" + body


def names_of(m, cmd="list", pat="*"):
    typ, data = getattr(m, cmd)('""', '"%s"' % pat)
    assert typ == "OK", (typ, data)
    out = {}
    for d in data:
        if d is None:
            continue
        if isinstance(d, tuple):
            attrs = parse(d[0])[0]
            name = d[1]
        else:
            p = parse(d)
            attrs, name = p[0], p[2]
        out[name.decode()] = [a.decode().lower() for a in attrs]
    return out


# ---------------------------------------------------------------- any state


def test_capability_noop_logout(plain):
    plain.start()
    m = imap(plain)
    typ, data = m.capability()
    assert typ == "OK" and b"IMAP4rev1" in data[0], data
    assert m.noop()[0] == "OK"
    check_ok(m.login(*ALICE))
    assert m.noop()[0] == "OK"
    m.select("INBOX")
    assert m.noop()[0] == "OK"
    typ, data = m.logout()
    assert typ == "BYE"


# ---------------------------------------------------------------- mailboxes


def test_create_delete_rename(plain):
    seed(plain, "alice", [simple("w1"), simple("w2")], folder="Work")
    seed(plain, "alice", [simple("i1"), simple("i2"), simple("i3")])
    plain.start()
    m = imap(plain, login=ALICE)
    check_ok(m.create("Projects"))
    check_ok(m.create("Projects/2026"))
    check_ok(m.create("Deep/Er/Est"))  # superiors are created or listed as \Noselect
    check_ok(m.create("Dot.ted"))
    n = names_of(m)
    for name in ("Projects", "Projects/2026", "Deep/Er/Est", "Deep", "Deep/Er", "Dot.ted"):
        assert name in n, (name, n)
    assert "\\haschildren" in n["Projects"] and "\\hasnochildren" in n["Projects/2026"], n
    assert os.path.isdir(os.path.join(folder_dir(plain, "alice", "Projects/2026"), "cur"))
    assert os.path.isdir(os.path.join(folder_dir(plain, "alice", "Dot.ted"), "cur"))
    # failures
    assert m.create("Projects")[0] == "NO"
    assert m.create("INBOX")[0] == "NO"
    assert m.create("inbox")[0] == "NO"
    assert m.delete("NoSuchBox")[0] == "NO"
    assert m.delete("INBOX")[0] == "NO"
    assert m.rename("NoSuchBox", "Other")[0] == "NO"
    assert m.rename("Work", "Projects")[0] == "NO"  # target exists
    # CREATE with a trailing separator creates the name without it
    check_ok(m.create("Trailing/"))
    assert "Trailing" in names_of(m)
    # DELETE a leaf; DELETE of a folder with children keeps the children
    check_ok(m.delete("Projects/2026"))
    assert "Projects/2026" not in names_of(m)
    assert not os.path.exists(folder_dir(plain, "alice", "Projects/2026"))
    check_ok(m.create("Projects/2027"))
    r = m.delete("Projects")
    n = names_of(m)
    if r[0] == "OK":  # RFC 3501: the name may remain as \Noselect
        assert "Projects/2027" in n, n
        assert "Projects" not in n or "\\noselect" in n["Projects"], n
    # RENAME keeps the messages and their UIDs
    m.select("Work")
    before = m.uid("FETCH", "1:*", "(UID)")[1]
    m.close()
    check_ok(m.rename("Work", "Jobs/Old"))
    n = names_of(m)
    assert "Work" not in n and "Jobs/Old" in n, n
    typ, data = m.select("Jobs/Old")
    assert data == [b"2"], data
    assert m.uid("FETCH", "1:*", "(UID)")[1] == before
    m.close()
    assert not os.path.exists(folder_dir(plain, "alice", "Work"))
    # RENAME INBOX: messages move to the new name, INBOX stays and is empty
    check_ok(m.rename("INBOX", "Saved"))
    assert m.select("Saved")[1] == [b"3"]
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subj = sorted(d[1].strip() for d in data if isinstance(d, tuple))
    assert subj == [b"Subject: i1", b"Subject: i2", b"Subject: i3"], subj
    assert m.select("INBOX")[1] == [b"0"]
    assert "INBOX" in names_of(m)
    # mailbox names in modified UTF-7 are kept as given
    check_ok(m.create("&AOk-t&AOk-"))  # "été"
    assert "&AOk-t&AOk-" in names_of(m)
    m.logout()


def test_subscribe_lsub_list_patterns(plain):
    seed(plain, "alice", [simple("x")], folder="A/B")
    seed(plain, "alice", [simple("x")], folder="A/C")
    seed(plain, "alice", [simple("x")], folder="Other")
    plain.start()
    m = imap(plain, login=ALICE)
    check_ok(m.subscribe("A/B"))
    check_ok(m.subscribe("Other"))
    lsub = names_of(m, "lsub")
    assert "A/B" in lsub and "Other" in lsub and "A/C" not in lsub, lsub
    check_ok(m.unsubscribe("Other"))
    assert "Other" not in names_of(m, "lsub")
    # subscribing a name that does not exist is allowed; LSUB lists it
    r = m.subscribe("Ghost")
    if r[0] == "OK":
        assert "Ghost" in names_of(m, "lsub")
        check_ok(m.unsubscribe("Ghost"))
    # % does not cross the hierarchy, * does
    top = names_of(m, pat="%")
    assert "A" in top and "A/B" not in top and "INBOX" in top, top
    assert set(names_of(m, pat="A/%")) == {"A/B", "A/C"}
    assert set(names_of(m, pat="A*")) >= {"A", "A/B", "A/C"}
    # LIST "" "" returns the hierarchy delimiter
    typ, data = m.list('""', '""')
    assert typ == "OK" and len(data) == 1, data
    p = parse(data[0])
    assert b"\\noselect" in [a.lower() for a in p[0]] and p[1] == b"/" and p[2] == b"", p
    # LIST with a reference name
    assert set(names_of_ref(m, "A/", "%")) == {"A/B", "A/C"}
    # INBOX is case-insensitive
    assert "INBOX" in names_of(m, pat="inbox")
    m.logout()


def names_of_ref(m, ref, pat):
    typ, data = m.list('"%s"' % ref, '"%s"' % pat)
    assert typ == "OK"
    return [parse(d)[2].decode() for d in data if d]


def test_status(plain):
    seed(plain, "alice", [simple("a"), simple("b"), simple("c")], flags=["S", None, None])
    plain.start()
    m = imap(plain, login=ALICE)
    typ, data = m.status("INBOX", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)")
    assert typ == "OK", data
    p = parse(data[0])
    d = dict(zip([x.decode().upper() for x in p[1][0::2]], [int(x) for x in p[1][1::2]]))
    assert p[0] == b"INBOX" or p[0].upper() == b"INBOX"
    assert d["MESSAGES"] == 3 and d["UNSEEN"] == 2 and d["RECENT"] in (2, 3) and d["UIDNEXT"] >= 4, d
    assert d["UIDVALIDITY"] > 0
    # STATUS agrees with SELECT
    m.select("INBOX")
    assert int(untagged(m, "UIDVALIDITY")[0]) == d["UIDVALIDITY"]
    assert int(untagged(m, "UIDNEXT")[0]) == d["UIDNEXT"]
    m.close()
    assert m.status("NoSuchBox", "(MESSAGES)")[0] == "NO"
    with pytest.raises(imaplib.IMAP4.error):
        m.status("INBOX", "(BOGUS)")
    m.logout()


# ---------------------------------------------------------------- APPEND


APPEND_MSGS = [
    # ordinary, with trailing blanks, a lone dot, a From_ line, tabs and 8-bit text
    b"From: a@example.org\r\nTo: alice@example.test\r\nSubject: append 1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    b"line with trailing blanks   \r\n.\r\nFrom the start\r\n>From quoted\r\n\ttabbed\r\n"
    b"\xc3\xa9t\xc3\xa9\r\n\r\n\r\n",
    # no final CRLF
    b"From: a@example.org\r\nSubject: append 2\r\n\r\nno final line end",
    # empty body
    b"From: a@example.org\r\nSubject: append 3\r\n\r\n",
    # a larger message (about 300 KB)
    b"From: a@example.org\r\nSubject: append 4\r\n\r\n" + b"".join(
        b"%06d 0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n" % i
        for i in range(4000)),
]


def test_append_then_fetch_body_is_byte_identical(plain):
    plain.start()
    m = imap(plain, login=ALICE)
    date = imaplib.Time2Internaldate(datetime.datetime(2026, 2, 1, 12, 34, 56,
                                                       tzinfo=datetime.timezone(datetime.timedelta(hours=1))))
    uids = []
    for i, msg in enumerate(APPEND_MSGS):
        typ, data = m.append("INBOX", r"(\Flagged $Label1)" if i == 0 else None, date if i == 0 else None, msg)
        assert typ == "OK", data
        code = untagged(m, "APPENDUID")
        assert code, "no APPENDUID in %r" % data
        uids.append(int(code[0].split()[1]))
    assert uids == sorted(uids) and len(set(uids)) == 4
    typ, data = m.select("INBOX")
    assert data == [b"4"]
    for i, msg in enumerate(APPEND_MSGS):
        typ, data = m.uid("FETCH", str(uids[i]), "(RFC822.SIZE BODY.PEEK[])")
        assert typ == "OK"
        assert data[0][1] == msg, (i, data[0][1][:300], msg[:300])
        assert b"RFC822.SIZE %d" % len(msg) in data[0][0], data[0][0]
        # RFC822 and BODY[] agree, and BINARY-free partial fetches are slices
        typ, data = m.uid("FETCH", str(uids[i]), "(BODY.PEEK[]<5.40>)")
        assert data[0][1] == msg[5:45], data
    # flags and internal date were stored
    typ, data = m.uid("FETCH", str(uids[0]), "(FLAGS INTERNALDATE)")
    it = parse(data[0])[1]
    d = dict(zip([x.upper() for x in it[0::2]], it[1::2]))
    assert {x.lower() for x in d[b"FLAGS"]} >= {b"\\flagged", b"$label1"}, d
    got = datetime.datetime.strptime(d[b"INTERNALDATE"].decode(), "%d-%b-%Y %H:%M:%S %z")
    assert got == datetime.datetime(2026, 2, 1, 11, 34, 56, tzinfo=datetime.timezone.utc), got
    # and what landed in the maildir is the same message
    files = maildir_files(plain, "alice")
    assert len(files) == 4 and any("F" in info for info in files.values()), files
    # APPEND to a folder that does not exist: NO [TRYCREATE]
    typ, data = m.append("NoSuchBox", None, None, APPEND_MSGS[2])
    assert typ == "NO" and b"TRYCREATE" in data[0].upper(), (typ, data)
    # APPEND to another folder while one is selected: EXISTS is not sent for it
    check_ok(m.create("Other"))
    check_ok(m.append("Other", None, None, APPEND_MSGS[2]))
    m.logout()


def test_append_literal_forms_raw(plain):
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    msg = b"Subject: lit\r\n\r\nbody\r\n"
    tagged, untag = r.command("APPEND INBOX ", Lit(msg))  # synchronising
    assert status_of(tagged) == "OK", tagged
    tagged, untag = r.command("APPEND INBOX (\\Seen) ", Lit(msg, plus=True))  # LITERAL+
    assert status_of(tagged) == "OK", tagged
    tagged, untag = r.command('APPEND INBOX (\\Seen) "01-Jan-2026 00:00:00 +0000" ', Lit(msg))
    assert status_of(tagged) == "OK", tagged
    # a zero-length message is refused (RFC 3501 permits it, but it is no message)
    tagged, untag = r.command("APPEND INBOX {0}\r\n")
    assert status_of(tagged) in ("OK", "NO", "BAD"), tagged
    tagged, untag = r.ok("SELECT INBOX")
    n = select_info(untag)["EXISTS"]
    assert n in (3, 4), untag
    tagged, untag = r.ok("FETCH 1:3 (BODY.PEEK[])")
    f = fetches(untag)
    assert all(f[i]["BODY[]"] == msg for i in (1, 2, 3)), f
    r.close()


# ---------------------------------------------------------------- CHECK CLOSE EXPUNGE


def test_check_close_expunge(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 7)])
    plain.start()
    m = imap(plain, login=ALICE)
    assert m.select("INBOX")[1] == [b"6"]
    check_ok(m.store("2,4", "+FLAGS", r"(\Deleted)"))
    assert m.check()[0] == "OK"
    typ, data = m.expunge()
    assert typ == "OK"
    # applying the EXPUNGE responses in order removes exactly messages 2 and 4
    left = list(range(1, 7))
    for n in data:
        del left[int(n) - 1]
    assert left == [1, 3, 5, 6], data
    assert len(maildir_files(plain, "alice")) == 4
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subj = [d[1].strip() for d in data if isinstance(d, tuple)]
    assert subj == [b"Subject: m1", b"Subject: m3", b"Subject: m5", b"Subject: m6"], subj
    # CLOSE expunges silently and leaves the selected state
    check_ok(m.store("1", "+FLAGS", r"(\Deleted)"))
    r = m.close()
    assert r[0] == "OK"
    assert untagged(m, "EXPUNGE") == [], "CLOSE must not send EXPUNGE"
    assert len(maildir_files(plain, "alice")) == 3
    with pytest.raises(imaplib.IMAP4.error):
        m.fetch("1", "(FLAGS)")  # imaplib checks the state itself
    # neither SELECT over a selection nor CLOSE after EXAMINE expunges
    m.select("INBOX")
    check_ok(m.store("1", "+FLAGS", r"(\Deleted)"))
    m.select("INBOX", readonly=True)
    m.close()
    assert len(maildir_files(plain, "alice")) == 3
    m.select("INBOX")
    assert m.expunge()[1] == [b"1"]
    m.logout()
    # raw: the server answers FETCH after CLOSE with an error itself
    r = Raw(plain)
    r.login(*ALICE)
    r.ok("SELECT INBOX")
    r.ok("CLOSE")
    tagged, _ = r.command("FETCH 1 FLAGS")
    assert status_of(tagged) in ("NO", "BAD"), tagged
    tagged, _ = r.command("EXPUNGE")
    assert status_of(tagged) in ("NO", "BAD"), tagged
    # EXPUNGE in a read-only mailbox is refused (or a no-op): nothing goes
    r.ok("SELECT INBOX")
    r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    r.ok("EXAMINE INBOX")
    before = len(maildir_files(plain, "alice"))
    tagged, _ = r.command("EXPUNGE")
    assert status_of(tagged) in ("NO", "OK"), tagged
    assert len(maildir_files(plain, "alice")) == before
    tagged, _ = r.command("STORE 1 +FLAGS (\\Seen)")
    assert status_of(tagged) == "NO", tagged
    r.close()


# ---------------------------------------------------------------- SEARCH

DAY = 86400


def utc(y, mo, d, h=12):
    return datetime.datetime(y, mo, d, h, tzinfo=datetime.timezone.utc).timestamp()


SEARCH_MSGS = [
    (b"From: Ann Example <ann@example.org>\nTo: alice@example.test\nCc: carol@example.org\n"
     b"Subject: Hello world\nDate: Sat, 31 Jan 2026 12:00:00 +0000\nMessage-ID: <s1@example.org>\n\n"
     b"apple banana\n", "S", utc(2026, 2, 1)),
    (b"From: bob@example.net\nTo: alice@example.test\nBcc: secret@example.net\nSubject: Re: Hello world\n"
     b"Date: Wed, 04 Feb 2026 12:00:00 +0000\nMessage-ID: <s2@example.net>\nIn-Reply-To: <s1@example.org>\n\n"
     b"cherry\n" + b"filler line for size\n" * 100, "FR", utc(2026, 2, 5)),
    (b"From: carol@example.org\nTo: dave@example.com\nSubject: =?UTF-8?Q?caf=C3=A9_menu?=\n"
     b"Date: Mon, 09 Feb 2026 12:00:00 +0000\nX-Priority: 1\nMIME-Version: 1.0\n"
     b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
     b"un caf\xc3\xa9 noir\n", "D", utc(2026, 2, 10)),
    (b"From: dave@example.com\nTo: alice@example.test\nSubject: Quarterly report\n"
     b"Date: Sat, 14 Feb 2026 12:00:00 +0000\n\nnumbers\n", "ST", utc(2026, 2, 15)),
]
SEARCH_NEW = (b"From: eve@example.com\nTo: alice@example.test\nSubject: misc\n"
              b"Date: Thu, 19 Feb 2026 12:00:00 +0000\n\nBanana split\n", None, utc(2026, 2, 20))

SEARCHES = [
    ("ALL", "1 2 3 4 5"),
    ("ANSWERED", "2"),
    ('BCC "secret"', "2"),
    ("BEFORE 5-Feb-2026", "1"),
    ("BODY banana", "1 5"),
    ("BODY BANANA", "1 5"),
    ('BODY "apple banana"', "1"),
    ("CC carol", "1"),
    ("DELETED", "4"),
    ("DRAFT", "3"),
    ("FLAGGED", "2"),
    ("FROM example.com", "4 5"),
    ('FROM "Ann Example"', "1"),
    ('HEADER X-Priority "1"', "3"),
    ('HEADER X-Priority ""', "3"),
    ('HEADER In-Reply-To "s1@example"', "2"),
    ("KEYWORD Project1", "1"),
    ("LARGER 1500", "2"),
    ("SMALLER 1500", "1 3 4 5"),
    ("NEW", "5"),
    ("OLD", "1 2 3 4"),
    ("RECENT", "5"),
    ("SEEN", "1 4"),
    ("UNSEEN", "2 3 5"),
    ("NOT SEEN", "2 3 5"),
    ("OR FROM ann FROM eve", "1 5"),
    ("ON 10-Feb-2026", "3"),
    ("SENTBEFORE 4-Feb-2026", "1"),
    ("SENTON 9-Feb-2026", "3"),
    ("SENTSINCE 14-Feb-2026", "4 5"),
    ("SINCE 15-Feb-2026", "4 5"),
    ("SUBJECT hello", "1 2"),
    ('SUBJECT "HELLO WORLD"', "1 2"),
    ("TEXT banana", "1 5"),
    ("TEXT ann@example.org", "1"),
    ("TO dave", "3"),
    ("UNANSWERED", "1 3 4 5"),
    ("UNDELETED", "1 2 3 5"),
    ("UNDRAFT", "1 2 4 5"),
    ("UNFLAGGED", "1 3 4 5"),
    ("UNKEYWORD Project1", "2 3 4 5"),
    ("2:4", "2 3 4"),
    ("*", "5"),
    ("4:*", "4 5"),
    ("1,3:*", "1 3 4 5"),
    ("*:4", "4 5"),
    ("(SEEN FROM ann)", "1"),
    ("NOT (OR SEEN DELETED)", "2 3 5"),
    ("SEEN UNDELETED", "1"),
    ("OR (FLAGGED ANSWERED) DRAFT", "2 3"),
    ("NOT NOT SEEN", "1 4"),
    ("LARGER 1 SMALLER 100000 ALL", "1 2 3 4 5"),
    ("SUBJECT nothing-matches-this", ""),
]


@pytest.fixture
def search_inst(plain):
    msgs = SEARCH_MSGS
    seed(plain, "alice", [x[0] for x in msgs], flags=[x[1] for x in msgs], dates=[x[2] for x in msgs])
    plain.start()
    # a first session takes \Recent for the first four, then the fifth arrives
    m = imap(plain, login=ALICE)
    m.select("INBOX")
    check_ok(m.store("1", "+FLAGS", "(Project1)"))
    m.logout()
    seed(plain, "alice", [SEARCH_NEW[0]], dates=[SEARCH_NEW[2]])
    return plain


def test_search_every_key(search_inst):
    m = imap(search_inst, login=ALICE)
    typ, data = m.select("INBOX")
    assert data == [b"5"]
    assert untagged(m, "RECENT") == [b"1"]
    failures = []
    for crit, want in SEARCHES:
        typ, data = m._simple_command("SEARCH", crit)
        got = m._untagged_response(typ, data, "SEARCH")[1]
        got = b" ".join(x for x in got if x).decode().split()
        if typ != "OK" or sorted(got, key=int) != want.split():
            failures.append("SEARCH %s: want [%s] got %s %s" % (crit, want, typ, got))
    assert not failures, "\n".join(failures)
    # UID SEARCH answers UIDs; UID ranges as keys
    typ, data = m.uid("SEARCH", "ALL")
    uids = [int(x) for x in data[0].split()]
    assert len(uids) == 5 and uids == sorted(uids)
    typ, data = m.search(None, "UID", "%d:%d" % (uids[1], uids[2]))
    assert data[0].split() == [b"2", b"3"], data
    typ, data = m.uid("SEARCH", "UID", "%d,%d" % (uids[0], uids[4]))
    assert [int(x) for x in data[0].split()] == [uids[0], uids[4]]
    m.logout()


def test_search_charset_and_literals(search_inst):
    m = imap(search_inst, login=ALICE)
    m.select("INBOX")
    # CHARSET UTF-8 with the key as a synchronising literal (imaplib's way)
    m.literal = "café".encode()
    typ, data = m.search("UTF-8", "BODY")
    assert typ == "OK" and data[0].split() == [b"3"], (typ, data)
    # the subject is an RFC 2047 encoded word: matched after decoding
    m.literal = "café".encode()
    typ, data = m.search("UTF-8", "SUBJECT")
    assert typ == "OK" and data[0].split() == [b"3"], (typ, data)
    m.literal = "CAFÉ MENU".encode()
    typ, data = m.search("UTF-8", "SUBJECT")
    assert typ == "OK" and data[0].split() == [b"3"], ("case-insensitive UTF-8", typ, data)
    # US-ASCII charset is accepted too, unknown ones give NO [BADCHARSET]
    typ, data = m.search("US-ASCII", "SUBJECT", "hello")
    assert typ == "OK" and data[0].split() == [b"1", b"2"]
    typ, data = m._simple_command("SEARCH", "CHARSET", "X-NO-SUCH-CHARSET", "ALL")
    assert typ == "NO" and b"BADCHARSET" in data[0].upper(), (typ, data)
    m.logout()
    # raw: LITERAL+ and quoted strings with escapes
    r = Raw(search_inst)
    r.login(*ALICE)
    r.ok("SELECT INBOX")
    tagged, untag = r.command("SEARCH BODY ", Lit(b"cherry", plus=True))
    assert status_of(tagged) == "OK" and find_untagged(untag, "SEARCH") == [b"* SEARCH 2"], untag
    tagged, untag = r.command("SEARCH CHARSET UTF-8 TEXT ", Lit("noir".encode()), " FROM carol")
    assert find_untagged(untag, "SEARCH") == [b"* SEARCH 3"], untag
    tagged, untag = r.ok('SEARCH SUBJECT "Re: Hello"')
    assert find_untagged(untag, "SEARCH") == [b"* SEARCH 2"], untag
    tagged, untag = r.command("SEARCH FROM")
    assert status_of(tagged) == "BAD", tagged
    tagged, untag = r.command("SEARCH BEFORE 31-Foo-2026")
    assert status_of(tagged) == "BAD", tagged
    tagged, untag = r.command("SEARCH NOSUCHKEY")
    assert status_of(tagged) == "BAD", tagged
    r.close()


# ---------------------------------------------------------------- FETCH

NESTED = b"""From: Alice Example <alice@example.test>
To: bob@example.test, "Carol C" <carol@example.org>
Cc: dave@example.com
Reply-To: replies@example.test
Subject: nested test
Date: Mon, 02 Mar 2026 10:00:00 +0000
Message-ID: <nested1@example.test>
In-Reply-To: <prev@example.test>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

plain line 1
plain line 2

--alt
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<p>caf=C3=A9</p>

--alt--

--outer
Content-Type: message/rfc822
Content-Description: forwarded

From: Dave <dave@example.org>
To: alice@example.test
Subject: inner
Date: Sun, 01 Mar 2026 09:00:00 +0000
Message-ID: <inner1@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain; charset=iso-8859-1

inner text

--inner
Content-Type: application/octet-stream; name="data.bin"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="data.bin"
Content-ID: <part3@example.org>

AAECAwQFBgcICQ==

--inner--

--outer
Content-Type: image/png
Content-Transfer-Encoding: base64
Content-Description: a picture

iVBORw0KGgo=

--outer--
epilogue
"""

PLAIN = (b"From: Ann <ann@example.org>\nTo: alice@example.test\nSubject: plain one\n"
         b"Date: Mon, 02 Mar 2026 10:00:00 +0000\nMessage-ID: <p1@example.org>\n"
         b"Content-Type: text/plain; charset=us-ascii\n\nline 1\nline 2\nline 3\n")


def header_and_body(raw):
    i = raw.index(b"\n\n") + 2
    return raw[:i], raw[i:]


def sections_of(msg):
    """{section: expected bytes} computed with Python's email package."""
    em = email.message_from_bytes(msg)
    assert em.as_bytes() == msg  # the package sees exactly these bytes
    out = {}
    h, b = header_and_body(msg)
    out["HEADER"] = h
    out["TEXT"] = b

    def walk(part, prefix):
        if part.get_content_maintype() == "multipart":
            for i, sub in enumerate(part.get_payload(), 1):
                sec = prefix + str(i)
                raw = sub.as_bytes()
                sh, sb = header_and_body(raw)
                out[sec + ".MIME"] = sh
                out[sec] = sb
                if sub.get_content_type() == "message/rfc822":
                    inner = sub.get_payload()[0]
                    ir = inner.as_bytes()
                    ih, ib = header_and_body(ir)
                    out[sec] = ir
                    out[sec + ".HEADER"] = ih
                    out[sec + ".TEXT"] = ib
                    walk(inner, sec + ".")
                elif sub.get_content_maintype() == "multipart":
                    walk(sub, sec + ".")

    walk(em, "")
    return {k: crlf(v) for k, v in out.items()}


@pytest.fixture
def fetch_inst(plain):
    seed(plain, "alice", [PLAIN, NESTED], dates=[utc(2026, 3, 2), utc(2026, 3, 3)])
    plain.start()
    return plain


def test_fetch_bodystructure_nested_against_email_package(fetch_inst):
    em = email.message_from_bytes(NESTED)
    expected = normalize_bs(expected_bodystructure(em))
    r = Raw(fetch_inst)
    r.login(*ALICE)
    r.ok("EXAMINE INBOX")
    tagged, untag = r.ok("FETCH 2 (BODYSTRUCTURE)")
    got_full = fetches(untag)[2]["BODYSTRUCTURE"]
    assert normalize_bs(got_full) == expected, "\n got %r\nwant %r" % (normalize_bs(got_full), expected)
    tagged, untag = r.ok("FETCH 2 (BODY)")
    got = fetches(untag)[2]["BODY"]
    assert normalize_bs(got) == expected
    # BODY has no extension data, BODYSTRUCTURE does: multipart subtype then (boundary ...)
    ext = normalize_bs(got_full, ext=True)
    assert ext[-1] and ext[-1][0] and [x.upper() if i % 2 == 0 else x for i, x in enumerate(ext[-1][0])] == [
        b"BOUNDARY", b"outer"], ext[-1]
    # the attachment inside the forwarded message: disposition with its filename
    inner = got_full[1][8]  # part 2 is message/rfc822; [8] its body structure
    att = inner[1]
    assert att[0].upper() == b"APPLICATION" and att[5].upper() == b"BASE64", att
    disp = att[8]
    assert disp and disp[0].lower() == b"attachment" and [x.lower() for x in disp[1]] == [b"filename",
                                                                                         b"data.bin"], att
    # a single-part message
    tagged, untag = r.ok("FETCH 1 (BODYSTRUCTURE)")
    got = fetches(untag)[1]["BODYSTRUCTURE"]
    assert normalize_bs(got) == normalize_bs(expected_bodystructure(email.message_from_bytes(PLAIN))), got
    r.close()


def test_fetch_every_item(fetch_inst):
    r = Raw(fetch_inst)
    r.login(*ALICE)
    r.ok("SELECT INBOX")
    secs = sections_of(NESTED)
    wire = crlf(NESTED)
    items = {}
    for item in ("FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "UID", "RFC822.HEADER", "BODY.PEEK[]"):
        tagged, untag = r.ok("FETCH 2 (%s)" % item)
        items.update(fetches(untag)[2])
    assert items["RFC822.SIZE"] == str(len(wire)).encode()
    assert items["BODY[]"] == wire
    assert items["RFC822.HEADER"] == secs["HEADER"]
    assert datetime.datetime.strptime(items["INTERNALDATE"].decode(), "%d-%b-%Y %H:%M:%S %z").timestamp() == \
        utc(2026, 3, 3)
    env = items["ENVELOPE"]
    want_env = expected_envelope(email.message_from_bytes(NESTED))
    assert env == want_env, "\n got %r\nwant %r" % (env, want_env)
    assert b"\\Seen" not in items["FLAGS"]
    # every section
    failures = []
    for sec, want in sorted(secs.items()):
        tagged, untag = r.command("FETCH 2 (BODY.PEEK[%s])" % sec)
        if status_of(tagged) != "OK":
            failures.append("BODY[%s]: %r" % (sec, tagged))
            continue
        got = fetches(untag)[2].get("BODY[%s]" % sec)
        if got != want:
            failures.append("BODY[%s]:\n got %r\nwant %r" % (sec, got, want))
    assert not failures, "\n".join(failures)
    # HEADER.FIELDS and .NOT (names case-insensitive, order of the message)
    tagged, untag = r.ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS (subject FROM X-Absent)])")
    f = fetches(untag)[2]
    got = [v for k, v in f.items() if k.startswith("BODY[HEADER.FIELDS")][0]
    assert got == b"From: Alice Example <alice@example.test>\r\nSubject: nested test\r\n\r\n", got
    tagged, untag = r.ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS.NOT (Subject From To Cc Reply-To Date Message-ID "
                         "In-Reply-To)])")
    f = fetches(untag)[2]
    got = [v for k, v in f.items() if k.startswith("BODY[HEADER.FIELDS.NOT")][0]
    assert got == b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n", got
    tagged, untag = r.ok("FETCH 2 (BODY.PEEK[2.HEADER.FIELDS (Subject)])")
    f = fetches(untag)[2]
    assert list(f.values())[0] == b"Subject: inner\r\n\r\n", f
    # partial fetches: <origin.count>, past the end, and the origin in the reply name
    tagged, untag = r.ok("FETCH 2 (BODY.PEEK[]<10.20> BODY.PEEK[TEXT]<0.8> BODY.PEEK[1.1]<1000000.5>)")
    f = fetches(untag)[2]
    assert f["BODY[]<10>"] == wire[10:30], f
    assert f["BODY[TEXT]<0>"] == secs["TEXT"][:8], f
    assert f["BODY[1.1]<1000000>"] == b"", f
    # RFC822.TEXT / RFC822 set \Seen and report FLAGS; BODY.PEEK did not
    tagged, untag = r.ok("FETCH 1 (FLAGS)")
    assert b"\\Seen" not in fetches(untag)[1]["FLAGS"]
    tagged, untag = r.ok("FETCH 1 (RFC822.TEXT)")
    f = fetches(untag)[1]
    assert f["RFC822.TEXT"] == crlf(header_and_body(PLAIN)[1])
    tagged, untag = r.ok("FETCH 1 (FLAGS)")
    assert b"\\Seen" in fetches(untag)[1]["FLAGS"]
    tagged, untag = r.ok("FETCH 2 (RFC822)")
    f = fetches(untag)[2]
    assert f["RFC822"] == wire
    assert b"\\Seen" in f.get("FLAGS", []) or b"\\Seen" in fetches(r.ok("FETCH 2 FLAGS")[1])[2]["FLAGS"]
    # macros
    tagged, untag = r.ok("FETCH 1 ALL")
    assert set(fetches(untag)[1]) >= {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"}
    tagged, untag = r.ok("FETCH 1 FAST")
    assert set(fetches(untag)[1]) >= {"FLAGS", "INTERNALDATE", "RFC822.SIZE"}
    tagged, untag = r.ok("FETCH 1 FULL")
    assert set(fetches(untag)[1]) >= {"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"}
    # sequence numbers out of range
    tagged, _ = r.command("FETCH 3 FLAGS")
    assert status_of(tagged) in ("NO", "BAD"), tagged
    tagged, _ = r.command("FETCH 0 FLAGS")
    assert status_of(tagged) == "BAD", tagged
    tagged, _ = r.command("FETCH 1 (BODY[4.1])")  # no such part: empty or NO, never a crash
    assert status_of(tagged) in ("OK", "NO"), tagged
    r.ok("NOOP")
    r.close()


def test_fetch_with_imaplib(fetch_inst):
    m = imap(fetch_inst, login=ALICE)
    m.select("INBOX")
    typ, data = m.fetch("1:2", "(UID RFC822.SIZE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    assert typ == "OK"
    subj = [d[1] for d in data if isinstance(d, tuple)]
    assert subj == [b"Subject: plain one\r\n\r\n", b"Subject: nested test\r\n\r\n"], subj
    typ, data = m.fetch("1", "(RFC822)")
    assert data[0][1] == crlf(PLAIN)
    typ, data = m.fetch("1", "(FLAGS)")
    assert b"\\Seen" in data[0]
    m.logout()


EDGE = b"""From: x@example.org
To: alice@example.test
Subject: edge
Message-ID: <edge@example.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="e1"

--e1

no headers at all in this part

--e1
Content-Type: TEXT/PLAIN; CHARSET=UTF-8; FORMAT=flowed
Content-Language: en, de
Content-Location: http://example.org/x
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==

flowed text

--e1
Content-Type: application/x-thing; name="a \\"quoted\\" name"
Content-Disposition: inline

thing

--e1
Content-Type: message/rfc822

From: outer@example.org
Subject: level one
MIME-Version: 1.0
Content-Type: message/rfc822

From: inner@example.org
Subject: level two

deepest body

--e1--
"""


def default_params_as_nil(got, want):
    """A part without Content-Type may be reported with ("CHARSET" "us-ascii")."""
    if isinstance(want, list) and want and isinstance(want[0], list):
        return [default_params_as_nil(g, w) if isinstance(w, list) else g for g, w in zip(got, want)]
    if isinstance(want, list) and len(want) > 2 and want[2] is None and got[2] == [b"CHARSET", b"us-ascii"]:
        got = got[:2] + [None] + got[3:]
    if isinstance(want, list) and want[:2] == [b"MESSAGE", b"RFC822"]:
        got = got[:8] + [default_params_as_nil(got[8], want[8])] + got[9:]
    return got


def test_bodystructure_edge_cases(plain):
    """A part without headers, upper-case type and parameters, language,
    location and MD5 extension data, a quoted parameter with escapes, and a
    message/rfc822 that is itself a message/rfc822."""
    seed(plain, "alice", [EDGE])
    plain.start()
    em = email.message_from_bytes(EDGE)
    assert em.as_bytes() == EDGE
    want = normalize_bs(expected_bodystructure(em))
    r = Raw(plain)
    r.login(*ALICE)
    r.ok("EXAMINE INBOX")
    tagged, untag = r.ok("FETCH 1 (BODYSTRUCTURE)")
    raw = fetches(untag)[1]["BODYSTRUCTURE"]
    got = default_params_as_nil(normalize_bs(raw), want)
    assert got == want, "\n got %r\nwant %r" % (got, want)
    # extension data of the flowed part: md5, disposition, language, location
    ext = raw[1][8:]
    assert ext[0] == b"Q2hlY2sgSW50ZWdyaXR5IQ==", ext
    assert ext[1] is None, ext
    assert [x.lower() for x in (ext[2] if isinstance(ext[2], list) else [ext[2]])] == [b"en", b"de"], ext
    assert ext[3] == b"http://example.org/x", ext
    # the inline disposition without parameters
    assert raw[2][8][0].lower() == b"inline", raw[2]
    # sections through two message/rfc822 levels
    tagged, untag = r.ok("FETCH 1 (BODY.PEEK[4.1] BODY.PEEK[4.HEADER] BODY.PEEK[4.1.HEADER] BODY.PEEK[1])")
    f = fetches(untag)[1]
    assert f["BODY[1]"] == b"no headers at all in this part\r\n", f
    assert f["BODY[4.HEADER]"].startswith(b"From: outer@example.org\r\n"), f
    assert f["BODY[4.1.HEADER]"] == b"From: inner@example.org\r\nSubject: level two\r\n\r\n", f
    # part 1 of a non-multipart message is its body: here the level-two message
    assert f["BODY[4.1]"] == b"From: inner@example.org\r\nSubject: level two\r\n\r\ndeepest body\r\n", f
    r.close()


TRUNCATED = (b"From: x@example.org\nSubject: cut\nMIME-Version: 1.0\n"
             b"Content-Type: multipart/mixed; boundary=\"never\"\n\n--never\nContent-Type: text/plain\n\n"
             b"the closing boundary never comes\n")


def test_malformed_mime_is_served(plain):
    """A multipart without its closing boundary, a bad Content-Type and an
    8-bit header: every FETCH item still answers, and the session goes on."""
    odd = [TRUNCATED,
           b"From: x@example.org\nSubject: bad type\nContent-Type: ;;;\n\nbody\n",
           b"From: x@example.org\nSubject: caf\xc3\xa9 8-bit\nContent-Type: multipart/mixed\n\nno boundary\n"]
    seed(plain, "alice", odd)
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    r.ok("SELECT INBOX")
    tagged, untag = r.ok("FETCH 1:3 (BODYSTRUCTURE ENVELOPE BODY.PEEK[] BODY.PEEK[1] BODY.PEEK[1.MIME])")
    f = fetches(untag)
    assert sorted(f) == [1, 2, 3], untag
    for i, m in enumerate(odd, 1):
        assert f[i]["BODY[]"] == crlf(m), i
        assert isinstance(f[i]["BODYSTRUCTURE"], list), f[i]
    r.ok("SEARCH TEXT boundary")
    r.ok("SORT (SUBJECT) UTF-8 ALL")
    r.ok("THREAD REFERENCES UTF-8 ALL")
    r.ok("NOOP")
    r.close()


# ---------------------------------------------------------------- STORE COPY UID


def test_store_flags_and_keywords(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 5)], flags=["", "", "", ""])
    plain.start()
    m = imap(plain, login=ALICE)
    m.select("INBOX")
    perm = untagged(m, "PERMANENTFLAGS")
    assert perm and b"\\*" in perm[0] and b"\\Deleted" in perm[0], perm
    typ, data = m.store("1:2", "+FLAGS", r"(\Seen \Flagged)")
    assert typ == "OK"
    assert len(data) == 2 and all(b"\\Seen" in d and b"\\Flagged" in d for d in data), data
    typ, data = m.store("2", "-FLAGS", r"(\Flagged)")
    assert b"\\Flagged" not in data[0] and b"\\Seen" in data[0], data
    typ, data = m.store("3", "FLAGS", r"(\Answered \Draft $Forwarded Project1)")
    flags = parse(data[0])[1][-1]
    assert {f.lower() for f in flags} - {b"\\recent"} == {b"\\answered", b"\\draft", b"$forwarded", b"project1"}, data
    # .SILENT: no FETCH for our own change
    typ, data = m.store("4", "+FLAGS.SILENT", r"(\Deleted)")
    assert typ == "OK" and data == [None], data
    typ, data = m.store("4", "FLAGS.SILENT", r"(\Seen)")
    assert data == [None], data
    # the new keywords are announced in FLAGS
    m.noop()
    # flags persist: look from another session and in the maildir file names
    m2 = imap(plain, login=ALICE)
    m2.select("INBOX", readonly=True)
    flags_untagged = b" ".join(untagged(m2, "FLAGS"))
    assert b"Project1" in flags_untagged and b"$Forwarded" in flags_untagged, flags_untagged
    typ, data = m2.fetch("1:4", "(FLAGS)")
    got = [sorted(f.lower() for f in parse(d)[1][1] if f.lower() != b"\\recent") for d in data]
    assert got == [[b"\\flagged", b"\\seen"], [b"\\seen"],
                   sorted([b"\\answered", b"\\draft", b"$forwarded", b"project1"]), [b"\\seen"]], got
    m2.logout()
    infos = sorted(maildir_files(plain, "alice").values())
    assert sorted(i[:2] if i.startswith("D") else i for i in infos if i and i[0] in "FS") == ["FS", "S", "S"], infos
    assert any(i.startswith("DR") for i in infos), infos  # \Draft \Answered as D R letters
    # invalid flags
    try:
        typ, data = m._simple_command("STORE", "1", "+FLAGS", r"(\Bogus)")
        assert typ == "NO", (typ, data)
    except imaplib.IMAP4.error:
        pass  # BAD
    # \Recent cannot be stored: refused, or ignored
    try:
        typ, data = m._simple_command("STORE", "1", "+FLAGS", "(\\Recent)")
    except imaplib.IMAP4.error:
        pass
    m2 = imap(plain, login=ALICE)
    m2.select("INBOX", readonly=True)
    assert m2.search(None, "RECENT")[1] == [b""]  # the first session took \Recent
    m2.logout()
    m.logout()


def test_copy_and_uid_variants(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 6)], flags=["S", "F", "", "", ""])
    plain.start()
    m = imap(plain, login=ALICE)
    check_ok(m.create("Dest"))
    m.select("INBOX")
    typ, data = m.uid("SEARCH", "ALL")
    uids = [int(x) for x in data[0].split()]
    assert len(uids) == 5
    # COPY by sequence numbers, flags go along
    typ, data = m.copy("1:2", "Dest")
    assert typ == "OK"
    cu = untagged(m, "COPYUID")
    assert cu, data
    f = cu[0].split()
    assert f[1].decode() == "%d:%d" % (uids[0], uids[1]) or f[1].decode() == "%d,%d" % (uids[0], uids[1]), cu
    assert m.status("Dest", "(MESSAGES)")[1][0].endswith(b"(MESSAGES 2)")
    typ, data = m.copy("1", "NoSuchBox")
    assert typ == "NO" and b"TRYCREATE" in data[0].upper(), data
    # UID FETCH / STORE / COPY / SEARCH
    typ, data = m.uid("FETCH", "%d:%d" % (uids[1], uids[3]), "(FLAGS)")
    assert len(data) == 3 and all(b"UID " in d for d in data), data  # UID always included
    typ, data = m.uid("STORE", str(uids[2]), "+FLAGS", r"(\Seen)")
    assert b"UID %d" % uids[2] in data[0] and b"\\Seen" in data[0], data
    typ, data = m.uid("COPY", "%d,%d" % (uids[3], uids[4]), "Dest")
    assert typ == "OK"
    typ, data = m.uid("SEARCH", "SEEN")
    assert [int(x) for x in data[0].split()] == [uids[0], uids[2]]
    # non-existent UIDs are not an error; n:* includes the last message
    typ, data = m.uid("FETCH", "%d" % (uids[-1] + 100), "(FLAGS)")
    assert typ == "OK" and data == [None], data
    typ, data = m.uid("FETCH", "%d:*" % (uids[-1] + 100), "(FLAGS)")
    assert typ == "OK" and len(data) == 1 and b"UID %d" % uids[-1] in data[0], data
    typ, data = m.uid("STORE", "%d" % (uids[-1] + 100), "+FLAGS", r"(\Seen)")
    assert typ == "OK"
    # UID EXPUNGE only removes the named UIDs
    check_ok(m.store("1:2", "+FLAGS", r"(\Deleted)"))
    typ, data = m.uid("EXPUNGE", str(uids[1]))
    assert typ == "OK" and untagged(m, "EXPUNGE") == [b"2"], m.untagged_responses
    typ, data = m.uid("SEARCH", "ALL")
    assert [int(x) for x in data[0].split()] == [uids[0]] + uids[2:]
    # the copies in Dest
    m.select("Dest")
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    tuples = [d for d in data if isinstance(d, tuple)]
    subj = [t[1].strip() for t in tuples]
    assert subj == [b"Subject: m1", b"Subject: m2", b"Subject: m4", b"Subject: m5"], subj
    assert b"\\Seen" in tuples[0][0] and b"\\Flagged" in tuples[1][0], tuples
    m.logout()
    assert len(maildir_files(plain, "alice", "Dest")) == 4


# ---------------------------------------------------------------- an mbox user

MBOX_MSGS = [
    # (no ">From" line: Python's mailbox writes mboxo, where it would be ambiguous)
    b"From: a@example.org\nSubject: mbox one\n\nFrom the start of a line\nend\n",
    b"From: b@example.org\nSubject: mbox two\n\nsecond\n",
    b"From: c@example.org\nSubject: mbox three\n\nthird\n",
]


def test_mbox_user_inbox(plain):
    """A user whose mailbox is an mbox file (vmailbox value without '/')."""
    import mailbox
    from imap_helpers import owner_ids
    addr = "bob@%s" % plain.domain
    vpath = os.path.join(plain.dir, "vmailbox")
    text = open(vpath).read()
    assert "%s  %s/" % (addr, addr) in text, text
    open(vpath, "w").write(text.replace("%s  %s/" % (addr, addr), "%s  bob.mbox" % addr))
    path = os.path.join(plain.dir, "mail", "bob.mbox")
    mb = mailbox.mbox(path, create=True)
    mb.lock()
    for m in MBOX_MSGS:
        mb.add(m)
    mb.flush()
    mb.unlock()
    mb.close()
    os.chown(path, *owner_ids())
    plain.start()
    m = imap(plain, login=("bob", "pw-bob"))
    assert m.select("INBOX")[1] == [b"3"]
    for i, msg in enumerate(MBOX_MSGS, 1):
        typ, data = m.fetch(str(i), "(BODY.PEEK[] RFC822.SIZE)")
        assert data[0][1] == crlf(msg), (i, data[0][1])  # From_ quoting undone
        assert b"RFC822.SIZE %d" % len(crlf(msg)) in data[0][0], data[0][0]
    check_ok(m.store("1", "+FLAGS", r"(\Seen \Flagged)"))
    check_ok(m.store("2", "+FLAGS", r"(\Deleted)"))
    assert m.expunge()[1] == [b"2"]
    check_ok(m.append("INBOX", r"(\Seen)", None, b"Subject: appended to mbox\r\n\r\nFrom here\r\n"))
    m.logout()
    # another MUA reading the mbox sees the result, flags included
    mb = mailbox.mbox(path, create=False)
    got = [(x["Subject"], x.get_flags()) for x in mb]
    mb.close()
    assert [g[0] for g in got] == ["mbox one", "mbox three", "appended to mbox"], got
    assert "R" in got[0][1] and "F" in got[0][1], got
    # and a new session sees the same UIDs and flags
    m = imap(plain, login=("bob", "pw-bob"))
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[TEXT])")
    bodies = [d[1] for d in data if isinstance(d, tuple)]
    assert bodies[2] == b"From here\r\n", bodies
    assert b"\\Flagged" in data[0][0], data
    m.logout()
