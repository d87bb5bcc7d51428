"""imapd's extensions on the wire (raw client, plaintext allowed): LITERAL+,
SASL-IR (test_imapd.py), ID, ENABLE, NAMESPACE, UNSELECT, MOVE with
COPYUID, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE folders of a new user,
CONDSTORE (MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, SEARCH MODSEQ), QRESYNC
(SELECT with QRESYNC, VANISHED), ESEARCH, SORT and THREAD."""
import re

import pytest

from conftest import have_program
from imapd_support import Raw, connect, ok, seed, status_word

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))

MSGS = [
    b"From: Zed <zed@example.org>\nTo: b@example.net\nSubject: banana\nDate: Mon, 3 Jan 2022 10:00:00 +0000\n"
    b"Message-ID: <a1@x>\n\none\n",
    b"From: amy@example.org\nTo: c@example.net\nSubject: Re: banana\nDate: Tue, 4 Jan 2022 10:00:00 +0000\n"
    b"Message-ID: <a2@x>\nReferences: <a1@x>\n\ntwo two\n",
    b"From: bob@example.org\nTo: a@example.net\nSubject: apple\nDate: Sun, 2 Jan 2022 10:00:00 +0000\n"
    b"Message-ID: <a3@x>\n\nthree three three\n",
    b"From: cat@example.org\nTo: d@example.net\nSubject: Re: banana\nDate: Wed, 5 Jan 2022 10:00:00 +0000\n"
    b"Message-ID: <a4@x>\nIn-Reply-To: <a1@x>\n\nfour\n",
]


@pytest.fixture
def inst(make_instance):
    i = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})
    seed(i, "alice", MSGS)
    i.start()
    return i


def login(inst, user="alice"):
    r = Raw(inst)
    t, _ = r.cmd("LOGIN %s pw-%s" % (user, user))
    assert status_word(t) == b"OK", t
    return r


def test_literal_plus_id_enable_namespace(inst):
    r = Raw(inst)
    assert b"LITERAL+" in r.greeting and b"SASL-IR" in r.greeting
    # LITERAL+: no continuation is sent
    t, u = r.cmd("LOGIN {5+}\r\nalice {8+}\r\npw-alice")
    assert status_word(t) == b"OK" and not any(x.startswith(b"+") for x in u)
    t, u = r.cmd('ID ("name" "pytest" "version" "1")')
    assert status_word(t) == b"OK" and u[0].startswith(b'* ID ("name" "tern"')
    t, u = r.cmd("ID NIL")
    assert status_word(t) == b"OK"
    t, u = r.cmd('ID ("odd")')
    assert status_word(t) == b"BAD"
    t, u = r.cmd("ENABLE CONDSTORE QRESYNC X-UNKNOWN")
    assert u == [b"* ENABLED CONDSTORE QRESYNC"], u
    t, u = r.cmd("NAMESPACE")
    assert u == [b'* NAMESPACE (("" "/")) NIL NIL']
    r.close()


def test_special_use_folders_of_a_new_user(inst):
    r = login(inst, "bob")
    t, u = r.cmd('LIST "" "*"')
    boxes = {re.search(rb'"/" "?([^"]*)"?$', x).group(1): x for x in u}
    for name, attr in ((b"Sent", b"\\Sent"), (b"Drafts", b"\\Drafts"), (b"Trash", b"\\Trash"), (b"Junk", b"\\Junk"),
                       (b"Archive", b"\\Archive")):
        assert attr in boxes[name], (name, boxes)
    t, u = r.cmd('LSUB "" "*"')
    assert len(u) == 6
    t, u = r.cmd('LIST (SPECIAL-USE) "" "*"')
    assert len(u) == 5 and not any(b'"INBOX"' in x for x in u)
    r.close()


def test_list_extended_and_status(inst):
    r = login(inst)
    r.cmd("CREATE Work/Sub")
    r.cmd("CREATE Work/Other")
    r.cmd("SUBSCRIBE Work/Sub")
    r.cmd("SUBSCRIBE Gone")  # subscribed, does not exist
    t, u = r.cmd('LIST (SUBSCRIBED) "" "*"')
    names = {re.search(rb'"/" "?([^"]*)"?', x.split(b") ", 1)[1]).group(1): x for x in u}
    assert b"\\Subscribed" in names[b"Work/Sub"] and b"Work/Other" not in names
    assert b"\\NonExistent" in names[b"Gone"]
    t, u = r.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    work = [x for x in u if x.endswith(b'("CHILDINFO" ("SUBSCRIBED"))')]
    assert work and b'"Work"' in work[0], u
    t, u = r.cmd('LIST "" ("INBOX" "Work/*") RETURN (SUBSCRIBED CHILDREN)')
    got = [re.search(rb'"/" "?([^"]*)"?$', x).group(1) for x in u]
    assert got == [b"INBOX", b"Work/Other", b"Work/Sub"], u
    assert b"\\Subscribed" in u[2] and b"\\Subscribed" not in u[1]
    t, u = r.cmd('LIST "" "%" RETURN (STATUS (MESSAGES UNSEEN))')
    assert status_word(t) == b"OK"
    assert b'* STATUS "INBOX" (MESSAGES 4 UNSEEN 4)' in u
    # \Noselect parents get no STATUS
    assert not any(x.startswith(b'* STATUS "Work"') for x in u)
    t, u = r.cmd('LIST (BOGUS) "" "*"')
    assert status_word(t) == b"BAD"
    t, u = r.cmd('LIST (RECURSIVEMATCH) "" "*"')
    assert status_word(t) == b"BAD"
    r.close()


def test_unselect_and_move(inst):
    r = login(inst)
    r.cmd("SELECT INBOX")
    r.cmd("STORE 1 +FLAGS (\\Deleted)")
    t, u = r.cmd("UNSELECT")
    assert status_word(t) == b"OK" and not u
    t, u = r.cmd("SELECT INBOX")
    assert b"* 4 EXISTS" in u  # UNSELECT did not expunge
    t, u = r.cmd("UID MOVE 2:3 Archive")
    assert status_word(t) == b"OK"
    assert re.match(rb"\* OK \[COPYUID \d+ 2:3 1:2\]", u[0]), u
    assert u[1:] == [b"* 3 EXPUNGE", b"* 2 EXPUNGE"], u
    t, u = r.cmd("MOVE 1 NoSuchBox")
    assert status_word(t) == b"NO" and b"TRYCREATE" in t
    t, u = r.cmd('STATUS Archive (MESSAGES)')
    assert u == [b'* STATUS "Archive" (MESSAGES 2)']
    r.cmd("EXAMINE Archive")
    t, u = r.cmd("MOVE 1 INBOX")
    assert status_word(t) == b"NO" and b"READ-ONLY" in t
    r.close()


def test_condstore(inst):
    r = login(inst)
    t, u = r.cmd("SELECT INBOX (CONDSTORE)")
    hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(u)).group(1))
    t, u = r.cmd("FETCH 1:* (FLAGS MODSEQ)")
    assert all(b"MODSEQ (" in x for x in u) and len(u) == 4
    t, u = r.cmd("STORE 2 +FLAGS (\\Flagged)")
    m2 = int(re.search(rb"MODSEQ \((\d+)\)", u[0]).group(1))
    assert m2 > hms
    t, u = r.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % hms)
    assert len(u) == 1 and u[0].startswith(b"* 2 FETCH") and b"MODSEQ" in u[0], u
    t, u = r.cmd("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Seen)" % hms)
    assert status_word(t) == b"OK" and b"[MODIFIED 2]" in t, t
    assert [x.split()[1] for x in u] == [b"1"]
    t, u = r.cmd("SEARCH MODSEQ %d" % m2)
    assert re.match(rb"\* SEARCH 1 2 \(MODSEQ \d+\)", u[0]), u
    t, u = r.cmd("STATUS Archive (HIGHESTMODSEQ)")
    assert re.match(rb'\* STATUS "Archive" \(HIGHESTMODSEQ \d+\)', u[0])
    r.close()


def test_qresync(inst):
    a = login(inst)
    t, u = a.cmd("SELECT INBOX")
    uv = int(re.search(rb"UIDVALIDITY (\d+)", b" ".join(u)).group(1))
    hms = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(u)).group(1))
    a.cmd("STORE 3 +FLAGS (\\Deleted)")
    a.cmd("STORE 1 +FLAGS (\\Flagged)")
    a.cmd("EXPUNGE")
    a.cmd("LOGOUT")
    b = login(inst)
    t, u = b.cmd("SELECT INBOX (QRESYNC (%d %d))" % (uv, hms))
    assert status_word(t) == b"BAD"  # not enabled
    b.cmd("ENABLE QRESYNC")
    t, u = b.cmd("SELECT INBOX (QRESYNC (%d %d 1:4))" % (uv, hms))
    assert status_word(t) == b"OK"
    assert b"* VANISHED (EARLIER) 3" in u, u
    fetches = [x for x in u if b" FETCH " in x]
    assert len(fetches) == 1 and b"UID 1 " in fetches[0] and b"\\Flagged" in fetches[0], u
    # with QRESYNC on, expunges are reported as VANISHED
    b.cmd("STORE 1 +FLAGS (\\Deleted)")
    t, u = b.cmd("EXPUNGE")
    assert u == [b"* VANISHED 1"], u
    t, u = b.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % hms)
    assert b"* VANISHED (EARLIER) 1,3" in u, u
    b.close()


def test_esearch_sort_thread(inst):
    r = login(inst)
    r.cmd("SELECT INBOX")
    t, u = r.cmd("SEARCH RETURN (MIN MAX COUNT ALL) ALL")
    assert u == [b'* ESEARCH (TAG "r3") MIN 1 MAX 4 COUNT 4 ALL 1:4'], u
    t, u = r.cmd("UID SEARCH RETURN () SUBJECT banana")
    assert u == [b'* ESEARCH (TAG "r4") UID ALL 1:2,4'], u
    t, u = r.cmd("SEARCH RETURN (COUNT) SUBJECT nothing")
    assert u == [b'* ESEARCH (TAG "r5") COUNT 0'], u
    t, u = r.cmd("SORT (SUBJECT) UTF-8 ALL")
    assert u == [b"* SORT 3 1 2 4"], u  # apple, then banana by sequence
    t, u = r.cmd("SORT (REVERSE DATE) UTF-8 ALL")
    assert u == [b"* SORT 4 2 1 3"], u
    t, u = r.cmd("SORT (FROM) UTF-8 ALL")
    assert u == [b"* SORT 2 3 4 1"], u  # amy bob cat zed
    t, u = r.cmd("SORT (SIZE) UTF-8 SUBJECT banana")
    assert u == [b"* SORT 1 4 2"], u
    t, u = r.cmd("UID SORT (ARRIVAL) UTF-8 ALL")
    assert u == [b"* SORT 1 2 3 4"], u
    t, u = r.cmd("THREAD REFERENCES UTF-8 ALL")
    assert u == [b"* THREAD (3)(1 (2)(4))"], u
    t, u = r.cmd("THREAD ORDEREDSUBJECT UTF-8 ALL")
    assert u == [b"* THREAD (3)(1 (2)(4))"], u
    t, u = r.cmd("THREAD BOGUS UTF-8 ALL")
    assert status_word(t) == b"BAD"
    t, u = r.cmd("SORT (SUBJECT) X-NONE ALL")
    assert status_word(t) == b"NO" and b"BADCHARSET" in t
    r.close()


def test_imaplib_extension_calls(inst):
    m = connect(inst, login=("alice", "pw-alice"))
    ok(m.enable("CONDSTORE"))
    assert ok(m.namespace())[0] == b'(("" "/")) NIL NIL'
    m.select("INBOX")
    assert ok(m.sort("(SUBJECT)", "UTF-8", "ALL")) == [b"3 1 2 4"]
    assert ok(m.thread("REFERENCES", "UTF-8", "ALL")) == [b"(3)(1 (2)(4))"]
    ok(m.unselect())
    m.logout()
