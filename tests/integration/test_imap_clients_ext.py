"""imapd acceptance, part 3: the extensions, through imaplib where it can
send the command and as raw transcripts where the reply shape matters:
LITERAL+, ID, ENABLE, NAMESPACE, UNSELECT, UIDPLUS (APPENDUID, COPYUID,
UID EXPUNGE), MOVE, CHILDREN, LIST-EXTENDED, LIST-STATUS, SPECIAL-USE (the
five folders of a new user), CONDSTORE (MODSEQ, UNCHANGEDSINCE,
CHANGEDSINCE, SEARCH MODSEQ, persistence over a restart), QRESYNC
(VANISHED, SELECT ... QRESYNC), ESEARCH, SORT and THREAD (REFERENCES,
ORDEREDSUBJECT) against orders worked out by hand from RFC 5256."""
import datetime
import imaplib
import os
import re

import pytest

from conftest import have_program
from imap_helpers import (Lit, Raw, codes, fetches, find_untagged, folder_dir, imap, parse, seed,
                          select_info, status_of, untagged)

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))
ALICE = ("alice", "pw-alice")

for _name, _states in (("ID", ("NONAUTH", "AUTH", "SELECTED")), ("NAMESPACE", ("AUTH", "SELECTED")),
                       ("ENABLE", ("AUTH", "SELECTED")), ("UNSELECT", ("SELECTED",)), ("MOVE", ("SELECTED",))):
    imaplib.Commands.setdefault(_name, _states)


@pytest.fixture
def plain(make_instance):
    return make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})


def simple(subject, body=b"hello\n"):
    return b"From: x@example.org\nTo: alice@example.test\nSubject: " + subject.encode() + b"\n\n" + body


def list_lines(untag):
    out = {}
    for line in find_untagged(untag, "LIST"):
        p = parse(line)
        out[p[4].decode()] = [a.decode().lower() for a in p[2]]
    return out


def status_lines(untag):
    out = {}
    for line in find_untagged(untag, "STATUS"):
        p = parse(line)
        vals = p[3]
        out[p[2].decode()] = {vals[i].decode().upper(): int(vals[i + 1]) for i in range(0, len(vals), 2)}
    return out


def esearch(untag):
    lines = find_untagged(untag, "ESEARCH")
    assert len(lines) == 1, untag
    p = parse(lines[0])[2:]
    out = {}
    if p and isinstance(p[0], list):
        out["TAG"] = p[0][1]
        p = p[1:]
    if p and p[0].upper() == b"UID":
        out["UID"] = True
        p = p[1:]
    for i in range(0, len(p), 2):
        out[p[i].decode().upper()] = p[i + 1]
    return out


# ---------------------------------------------------------------- small ones


def test_id_enable_namespace_unselect(plain):
    seed(plain, "alice", [simple("a"), simple("b")])
    plain.start()
    r = Raw(plain)
    tagged, untag = r.ok('ID ("name" "tern-acceptance" "version" "1.0")')
    ids = find_untagged(untag, "ID")
    assert len(ids) == 1, untag
    p = parse(ids[0])
    assert p[2] is None or (isinstance(p[2], list) and len(p[2]) % 2 == 0), p
    r.ok("ID NIL")
    tagged, _ = r.command("ENABLE CONDSTORE")
    assert status_of(tagged) in ("NO", "BAD"), tagged  # ENABLE is for the authenticated state
    r.login(*ALICE)
    tagged, untag = r.ok("ENABLE CONDSTORE X-NO-SUCH-EXTENSION")
    en = find_untagged(untag, "ENABLED")
    assert len(en) == 1 and en[0].upper().split()[2:] == [b"CONDSTORE"], untag
    tagged, untag = r.ok("NAMESPACE")
    ns = find_untagged(untag, "NAMESPACE")
    assert len(ns) == 1, untag
    p = parse(ns[0])
    assert p[2] == [[b"", b"/"]] or (p[2][0][0] == b"" and p[2][0][1] == b"/"), p
    assert len(p) == 5
    # UNSELECT leaves the mailbox without expunging
    r.ok("SELECT INBOX")
    r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    tagged, untag = r.ok("UNSELECT")
    assert not find_untagged(untag, "EXPUNGE"), untag
    tagged, _ = r.command("FETCH 1 FLAGS")
    assert status_of(tagged) in ("NO", "BAD"), tagged
    tagged, _ = r.command("UNSELECT")
    assert status_of(tagged) in ("NO", "BAD"), tagged
    tagged, untag = r.ok("SELECT INBOX")
    assert select_info(untag)["EXISTS"] == 2
    r.close()
    # imaplib's own calls
    m = imap(plain, login=ALICE)
    typ, data = m.namespace()
    assert typ == "OK" and b'(("" "/"))' in data[0], data
    typ, data = m.enable("CONDSTORE")
    assert typ == "OK"
    m.select("INBOX")
    assert m.unselect()[0] == "OK"
    m.logout()


def test_literal_plus_everywhere(plain):
    plain.start()
    r = Raw(plain)
    # LOGIN with both arguments as non-synchronising literals
    tagged, untag = r.command("LOGIN ", Lit("alice", plus=True), " ", Lit("pw-alice", plus=True))
    assert status_of(tagged) == "OK", tagged
    tagged, untag = r.command("CREATE ", Lit("Lit Box", plus=True))
    assert status_of(tagged) == "OK", tagged
    tagged, untag = r.ok('LIST "" ', Lit("Lit*", plus=True))
    assert "Lit Box" in list_lines(untag), untag
    # several literals and commands in one write, no continuation expected
    r.send(b"p1 SELECT {7+}\r\nLit Box\r\np2 APPEND {7+}\r\nLit Box {14+}\r\nSubject: x\r\n\r\n\r\np3 NOOP\r\n")
    t1, u1 = r.wait_tagged("p1")
    t2, u2 = r.wait_tagged("p2")
    t3, u3 = r.wait_tagged("p3")
    assert [status_of(t) for t in (t1, t2, t3)] == ["OK", "OK", "OK"], (t1, t2, t3)
    assert any(re.match(rb"\* 1 EXISTS", u) for u in u2 + u3), (u2, u3)
    r.close()


# ---------------------------------------------------------------- UIDPLUS, MOVE


def test_uidplus_and_move(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 7)])
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    r.ok("CREATE Dest")
    tagged, untag = r.ok("STATUS Dest (UIDVALIDITY UIDNEXT)")
    st = status_lines(untag)["Dest"]
    tagged, _ = r.ok("APPEND Dest ", Lit(b"Subject: appended\r\n\r\nx\r\n"))
    c, rest = codes(tagged)
    assert c == "APPENDUID", tagged
    v, uid = rest.split()
    assert int(v) == st["UIDVALIDITY"] and int(uid) >= st["UIDNEXT"], (tagged, st)
    tagged, untag = r.ok("SELECT INBOX")
    tagged, untag = r.ok("UID SEARCH ALL")
    uids = [int(x) for x in find_untagged(untag, "SEARCH")[0].split()[2:]]
    # UID COPY: COPYUID with source and destination sets in order
    tagged, _ = r.ok("UID COPY %d,%d Dest" % (uids[0], uids[2]))
    c, rest = codes(tagged)
    assert c == "COPYUID", tagged
    v2, src, dst = rest.split()
    assert int(v2) == st["UIDVALIDITY"]
    assert expand(src) == [uids[0], uids[2]], rest
    assert len(expand(dst)) == 2 and min(expand(dst)) > int(uid), rest
    # MOVE: COPYUID in an untagged OK, then EXPUNGEs, then the tagged OK
    tagged, untag = r.ok("MOVE 2:3 Dest")
    cu = [u for u in untag if codes(u)[0] == "COPYUID"]
    assert len(cu) == 1, untag
    assert expand(codes(cu[0])[1].split()[1]) == uids[1:3], cu
    exp = [u for u in untag if re.match(rb"\* \d+ EXPUNGE", u)]
    assert apply_expunges(6, exp) == [1, 4, 5, 6], untag
    # UID MOVE of the last message
    tagged, untag = r.ok("UID MOVE %d Dest" % uids[-1])
    assert [u for u in untag if re.match(rb"\* \d+ EXPUNGE", u)] == [b"* 4 EXPUNGE"], untag
    tagged, untag = r.command("MOVE 1 NoSuchBox")
    assert status_of(tagged) == "NO" and b"TRYCREATE" in tagged.upper(), tagged
    tagged, untag = r.ok("STATUS Dest (MESSAGES)")
    assert status_lines(untag)["Dest"]["MESSAGES"] == 6
    tagged, untag = r.ok("UID SEARCH ALL")
    left = [int(x) for x in find_untagged(untag, "SEARCH")[0].split()[2:]]
    assert left == [uids[0], uids[3], uids[4]], left
    # UID EXPUNGE removes only the named deleted message
    r.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
    tagged, untag = r.ok("UID EXPUNGE %d" % uids[3])
    assert [u for u in untag if re.match(rb"\* \d+ EXPUNGE", u)] == [b"* 2 EXPUNGE"], untag
    r.close()
    # imaplib sends MOVE too
    m = imap(plain, login=ALICE)
    m.select("Dest")
    typ, data = m._simple_command("MOVE", "1", "INBOX")
    assert typ == "OK", data
    assert untagged(m, "EXPUNGE") == [b"1"]
    m.logout()


def apply_expunges(n, lines):
    """Sequence numbers left of 1..n after EXPUNGE responses, applied in order."""
    left = list(range(1, n + 1))
    for line in lines:
        del left[int(line.split()[1]) - 1]
    return left


def expand(s):
    out = []
    for part in s.decode().split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out += list(range(min(a, b), max(a, b) + 1))
        else:
            out.append(int(part))
    return out


# ---------------------------------------------------------------- LIST family


SPECIAL = {"Sent": "\\sent", "Drafts": "\\drafts", "Trash": "\\trash", "Junk": "\\junk", "Archive": "\\archive"}


def test_special_use_folders_for_a_new_user(plain):
    plain.start()
    r = Raw(plain)
    r.login("bob", "pw-bob")  # bob never logged in: his folders are made now
    tagged, untag = r.ok('LIST "" "*"')
    boxes = list_lines(untag)
    for name, attr in SPECIAL.items():
        assert name in boxes, boxes
        assert attr in boxes[name], (name, boxes[name])
        assert os.path.isdir(os.path.join(folder_dir(plain, "bob", name), "cur")), name
    assert "INBOX" in boxes
    tagged, untag = r.ok('LIST (SPECIAL-USE) "" "*"')
    su = list_lines(untag)
    assert set(su) == set(SPECIAL), su
    tagged, untag = r.ok('LIST "" "*" RETURN (SPECIAL-USE)')
    assert all(SPECIAL[n] in a for n, a in list_lines(untag).items() if n in SPECIAL), untag
    tagged, untag = r.ok('LSUB "" "*"')
    subs = {parse(x)[4].decode() for x in find_untagged(untag, "LSUB")}
    assert set(SPECIAL) <= subs, subs
    # they are ordinary folders: APPEND to Sent works
    r.ok("APPEND Sent (\\Seen) ", Lit(b"Subject: sent\r\n\r\nx\r\n"))
    tagged, untag = r.ok("STATUS Sent (MESSAGES)")
    assert status_lines(untag)["Sent"]["MESSAGES"] == 1
    r.close()
    # a second login does not make them again or fail
    r = Raw(plain)
    r.login("bob", "pw-bob")
    tagged, untag = r.ok('LIST "" "%"')
    assert len([n for n in list_lines(untag) if n in SPECIAL]) == 5
    r.close()


def test_special_use_folders_when_mail_arrived_first(plain):
    """The usual order: delivery makes the maildir (and local-delivery's spam
    filing the Junk folder), then the first login."""
    seed(plain, "alice", [simple("first mail")])
    seed(plain, "alice", [simple("spam")], folder="Junk")
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    tagged, untag = r.ok('LIST "" "*"')
    boxes = list_lines(untag)
    missing = [n for n in SPECIAL if n not in boxes or SPECIAL[n] not in boxes[n]]
    assert not missing, ("special-use folders missing for a user whose maildir existed", missing, boxes)
    r.close()


def test_list_extended_children_and_status(plain):
    seed(plain, "alice", [simple("a"), simple("b")], flags=["S", None])
    seed(plain, "alice", [simple("w")], folder="Work")
    seed(plain, "alice", [simple("p1"), simple("p2"), simple("p3")], folder="Work/Projects")
    seed(plain, "alice", [], folder="Empty")
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    r.ok("SUBSCRIBE Work/Projects")
    r.ok("CREATE Gone")
    r.ok("SUBSCRIBE Gone")
    r.ok("DELETE Gone")  # stays subscribed (RFC 3501 6.3.4)
    # CHILDREN
    tagged, untag = r.ok('LIST "" "*"')
    b = list_lines(untag)
    assert "\\haschildren" in b["Work"] and "\\hasnochildren" in b["Work/Projects"], b
    assert "\\hasnochildren" in b["Empty"], b
    tagged, untag = r.ok('LIST "" "*" RETURN (CHILDREN)')
    assert "\\haschildren" in list_lines(untag)["Work"]
    # selection option SUBSCRIBED: \Subscribed, and \NonExistent for a subscribed name that is gone
    tagged, untag = r.ok('LIST (SUBSCRIBED) "" "*"')
    b = list_lines(untag)
    assert "Work/Projects" in b and "\\subscribed" in b["Work/Projects"], b
    assert "Work" not in b and "Empty" not in b, b
    assert "Gone" in b and "\\nonexistent" in b["Gone"], b
    # RETURN (SUBSCRIBED) marks subscriptions in a plain listing
    tagged, untag = r.ok('LIST "" "*" RETURN (SUBSCRIBED)')
    b = list_lines(untag)
    assert "\\subscribed" in b["Work/Projects"] and "\\subscribed" not in b["Work"], b
    # several patterns at once
    tagged, untag = r.ok('LIST "" ("INBOX" "Work/%")')
    assert set(list_lines(untag)) == {"INBOX", "Work/Projects"}, untag
    # RECURSIVEMATCH: a parent of a subscribed child with CHILDINFO
    tagged, untag = r.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"')
    lines = find_untagged(untag, "LIST")
    work = [x for x in lines if parse(x)[4] == b"Work"]
    assert work and b"CHILDINFO" in work[0].upper(), lines
    # LIST-STATUS
    tagged, untag = r.ok('LIST "" "*" RETURN (STATUS (MESSAGES UNSEEN UIDNEXT))')
    st = status_lines(untag)
    assert st["INBOX"]["MESSAGES"] == 2 and st["INBOX"]["UNSEEN"] == 1, st
    assert st["Work/Projects"]["MESSAGES"] == 3 and st["Work"]["MESSAGES"] == 1, st
    assert st["Empty"]["MESSAGES"] == 0, st
    # each STATUS comes after its LIST line
    names = [parse(u)[4 if b" LIST " in u else 2] for u in untag if re.match(rb"\* (LIST|STATUS) ", u)]
    for i in range(0, len(names), 2):
        assert names[i] == names[i + 1], names
    # bad syntax
    tagged, _ = r.command('LIST (NOSUCHOPTION) "" "*"')
    assert status_of(tagged) == "BAD", tagged
    r.close()


# ---------------------------------------------------------------- CONDSTORE


def modseqs(untag):
    out = {}
    for seq, d in fetches(untag).items():
        if "MODSEQ" in d:
            out[int(d["UID"]) if "UID" in d else seq] = int(d["MODSEQ"][0])
    return out


def test_condstore(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 5)])
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    tagged, untag = r.ok("SELECT INBOX (CONDSTORE)")
    info = select_info(untag, tagged)
    h0 = info["HIGHESTMODSEQ"]
    tagged, untag = r.ok("FETCH 1:* (UID FLAGS MODSEQ)")
    ms = modseqs(untag)
    assert len(ms) == 4 and all(1 <= v <= h0 for v in ms.values()), (ms, h0)
    uids = sorted(ms)
    # a change bumps the modseq of that message above the old highest
    tagged, untag = r.ok("STORE 1 +FLAGS (\\Seen)")
    f = fetches(untag)[1]
    m1 = int(f["MODSEQ"][0])
    assert m1 > h0, (f, h0)
    # a STORE that changes nothing does not bump
    tagged, untag = r.ok("STORE 1 +FLAGS (\\Seen)")
    tagged, untag = r.ok("FETCH 1 (MODSEQ)")
    assert int(fetches(untag)[1]["MODSEQ"][0]) == m1
    # UNCHANGEDSINCE: message 1 changed after h0, so it fails; 2 succeeds
    tagged, untag = r.ok("STORE 1,2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % h0)
    c, rest = codes(tagged)
    assert c == "MODIFIED" and expand(rest) == [1], tagged
    tagged, untag = r.ok("FETCH 1:2 (FLAGS)")
    f = fetches(untag)
    assert b"\\Flagged" not in f[1]["FLAGS"] and b"\\Flagged" in f[2]["FLAGS"], f
    # UID STORE with UNCHANGEDSINCE reports UIDs
    tagged, untag = r.ok("UID STORE %d (UNCHANGEDSINCE %d) +FLAGS (\\Answered)" % (uids[0], h0))
    c, rest = codes(tagged)
    assert c == "MODIFIED" and expand(rest) == [uids[0]], tagged
    # CHANGEDSINCE: only messages 1 and 2 changed since h0
    tagged, untag = r.ok("FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h0)
    f = fetches(untag)
    assert sorted(f) == [1, 2] and all("MODSEQ" in d for d in f.values()), f
    tagged, untag = r.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % h0)
    assert sorted(int(d["UID"]) for d in fetches(untag).values()) == uids[:2]
    # SEARCH MODSEQ: the response carries the highest modseq of the matches
    tagged, untag = r.ok("SEARCH MODSEQ %d" % (h0 + 1))
    s = find_untagged(untag, "SEARCH")[0]
    mo = re.match(rb"\* SEARCH 1 2 \(MODSEQ (\d+)\)$", s)
    assert mo, s
    # STATUS HIGHESTMODSEQ from a second session agrees
    r2 = Raw(plain)
    r2.login(*ALICE)
    tagged, untag = r2.ok("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
    h1 = status_lines(untag)["INBOX"]["HIGHESTMODSEQ"]
    assert h1 == int(mo.group(1)) and h1 > h0, (h1, s)
    # the other session sees our flag change with its MODSEQ at NOOP
    r2.ok("ENABLE CONDSTORE")
    r2.ok("SELECT INBOX")
    r.ok("STORE 3 +FLAGS (\\Draft)")
    tagged, untag = r2.ok("NOOP")
    f = fetches(untag)
    assert 3 in f and b"\\Draft" in f[3]["FLAGS"] and "MODSEQ" in f[3], untag
    tagged, untag = r.ok("FETCH 1:* (UID MODSEQ)")
    before = modseqs(untag)
    r.close()
    r2.close()
    # modseqs and HIGHESTMODSEQ survive a restart
    plain.stop()
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    tagged, untag = r.ok("SELECT INBOX (CONDSTORE)")
    assert select_info(untag, tagged)["HIGHESTMODSEQ"] == max(before.values())
    tagged, untag = r.ok("FETCH 1:* (UID MODSEQ)")
    assert modseqs(untag) == before
    r.close()


# ---------------------------------------------------------------- QRESYNC


def test_qresync(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 6)])
    plain.start()
    a = Raw(plain)
    a.login(*ALICE)
    # QRESYNC parameters without ENABLE QRESYNC are an error
    tagged, _ = a.command("SELECT INBOX (QRESYNC (1 1))")
    assert status_of(tagged) == "BAD", tagged
    tagged, untag = a.ok("ENABLE QRESYNC")
    assert find_untagged(untag, "ENABLED"), untag
    tagged, untag = a.ok("SELECT INBOX")
    info = select_info(untag, tagged)
    v, h0 = info["UIDVALIDITY"], info["HIGHESTMODSEQ"]
    tagged, untag = a.ok("UID SEARCH ALL")
    uids = [int(x) for x in find_untagged(untag, "SEARCH")[0].split()[2:]]
    # another session changes a flag and expunges a message
    b = Raw(plain)
    b.login(*ALICE)
    b.ok("SELECT INBOX")
    b.ok("UID STORE %d +FLAGS (\\Flagged)" % uids[1])
    b.ok("UID STORE %d +FLAGS (\\Deleted)" % uids[2])
    b.ok("EXPUNGE")
    # with QRESYNC enabled, expunges are reported as VANISHED, never EXPUNGE
    tagged, untag = a.ok("NOOP")
    assert not [u for u in untag if re.match(rb"\* \d+ EXPUNGE", u)], untag
    van = find_untagged(untag, "VANISHED")
    assert van and expand(van[0].split()[-1]) == [uids[2]], untag
    f = fetches(untag)
    assert any(int(d.get("UID", 0)) == uids[1] for d in f.values()), untag
    a.close()
    # a fresh session resynchronises with SELECT ... (QRESYNC (uidvalidity modseq))
    c = Raw(plain)
    c.login(*ALICE)
    c.ok("ENABLE QRESYNC")
    tagged, untag = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (v, h0))
    van = find_untagged(untag, "VANISHED")
    assert len(van) == 1 and b"(EARLIER)" in van[0].upper(), untag
    assert expand(van[0].split()[-1]) == [uids[2]], van
    f = fetches(untag)
    assert [int(d["UID"]) for d in f.values()] == [uids[1]], untag
    assert all("MODSEQ" in d and "FLAGS" in d for d in f.values()), f
    # with the known UIDs the server may limit VANISHED to them
    tagged, untag = c.ok("SELECT INBOX (QRESYNC (%d %d %d:%d))" % (v, h0, uids[0], uids[-1]))
    assert expand(find_untagged(untag, "VANISHED")[0].split()[-1]) == [uids[2]]
    # UID FETCH ... (CHANGEDSINCE m VANISHED)
    tagged, untag = c.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)" % h0)
    van = find_untagged(untag, "VANISHED")
    assert van and b"(EARLIER)" in van[0].upper() and expand(van[0].split()[-1]) == [uids[2]], untag
    # a wrong UIDVALIDITY: no VANISHED and no FETCH, a plain SELECT
    tagged, untag = c.ok("SELECT INBOX (QRESYNC (%d %d))" % (v + 1, h0))
    assert not find_untagged(untag, "VANISHED"), untag
    # the closed mailbox is announced with [CLOSED] when SELECT replaces a selection
    assert any(codes(u)[0] == "CLOSED" for u in untag), untag
    c.close()


# ---------------------------------------------------------------- ESEARCH


def test_esearch(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 7)], flags=["S", None, None, "S", None, "S"])
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    r.ok("SELECT INBOX")
    t = r.tag()
    tagged, untag = r.command("SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN", tag=t)
    e = esearch(untag)
    assert e["TAG"] == t.encode(), e
    assert e["MIN"] == b"2" and e["MAX"] == b"5" and e["COUNT"] == b"3", e
    assert expand(e["ALL"]) == [2, 3, 5], e
    tagged, untag = r.ok("SEARCH RETURN () SEEN")  # RETURN () means ALL
    assert expand(esearch(untag)["ALL"]) == [1, 4, 6]
    tagged, untag = r.ok("UID SEARCH RETURN (COUNT) ALL")
    e = esearch(untag)
    assert e.get("UID") and e["COUNT"] == b"6", e
    tagged, untag = r.ok("SEARCH RETURN (MIN MAX COUNT) SUBJECT nothing-like-this")
    e = esearch(untag)
    assert "MIN" not in e and "MAX" not in e and e["COUNT"] == b"0", e
    r.close()


# ---------------------------------------------------------------- SORT and THREAD


def append_all(r, box, msgs):
    r.ok("CREATE %s" % box)
    for raw, when in msgs:
        date = imaplib.Time2Internaldate(when)
        r.ok("APPEND %s %s " % (box, date), Lit(raw))


def at(day, hour=12):
    return datetime.datetime(2026, 3, day, hour, tzinfo=datetime.timezone.utc)


def sort_msg(subject, frm, to, date, size, cc=None):
    h = "From: %s\r\n" % frm
    if to:
        h += "To: %s\r\n" % to
    if cc:
        h += "Cc: %s\r\n" % cc
    h += "Subject: %s\r\n" % subject
    if date:
        h += "Date: %s\r\n" % date
    return h.encode() + b"\r\n" + b"x" * size + b"\r\n"


SORT_MSGS = [
    (sort_msg("beta", "Zed <zed@example.org>", "yy@example.test", "Tue, 03 Mar 2026 12:00:00 +0000", 5000,
              cc="b@example.test"), at(10)),
    (sort_msg("Re: alpha", "amy@example.org", "aa@example.test", "Sun, 01 Mar 2026 12:00:00 +0000", 1000), at(9)),
    (sort_msg("ALPHA", "Bob <bob@example.org>", "aa@example.test", "Thu, 05 Mar 2026 12:00:00 +0000", 3000),
     at(11)),
    (sort_msg("Fwd: gamma", "carl@example.org", "zz@example.test", "Mon, 02 Mar 2026 12:00:00 +0000", 2000), at(8)),
    (sort_msg("delta", "dan@example.org", None, None, 4000), at(4)),
]

SORTS = [
    ("(SUBJECT)", "2 3 1 5 4"),
    ("(DATE)", "2 4 1 5 3"),
    ("(REVERSE DATE)", "3 5 1 4 2"),
    ("(ARRIVAL)", "5 4 2 1 3"),
    ("(FROM)", "2 3 4 5 1"),
    ("(REVERSE FROM)", "1 5 4 3 2"),
    ("(SIZE)", "2 4 3 5 1"),
    ("(TO)", "5 2 3 1 4"),
    ("(CC)", "2 3 4 5 1"),
    ("(SUBJECT REVERSE SIZE)", "3 2 1 5 4"),
]


def test_sort(plain):
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    append_all(r, "Sorting", SORT_MSGS)
    r.ok("SELECT Sorting")
    failures = []
    for keys, want in SORTS:
        tagged, untag = r.command("SORT %s UTF-8 ALL" % keys)
        got = b" ".join(find_untagged(untag, "SORT"))[7:].decode().split()
        if status_of(tagged) != "OK" or got != want.split():
            failures.append("SORT %s: want %s got %s %r" % (keys, want, got, tagged))
    assert not failures, "\n".join(failures)
    tagged, untag = r.ok("SORT (SIZE) UTF-8 FROM bob")
    assert find_untagged(untag, "SORT") == [b"* SORT 3"], untag
    tagged, untag = r.ok("UID SEARCH ALL")
    uids = find_untagged(untag, "SEARCH")[0].split()[2:]
    tagged, untag = r.ok("UID SORT (SIZE) US-ASCII ALL")
    got = find_untagged(untag, "SORT")[0].split()[2:]
    assert got == [uids[i - 1] for i in (2, 4, 3, 5, 1)], (got, uids)
    tagged, _ = r.command("SORT (NOSUCHKEY) UTF-8 ALL")
    assert status_of(tagged) == "BAD", tagged
    tagged, _ = r.command("SORT (DATE) X-NO-CHARSET ALL")
    assert status_of(tagged) == "NO" and b"BADCHARSET" in tagged.upper(), tagged
    r.close()


def thread_msg(mid, subject, hour, in_reply_to=None, references=None):
    h = "From: t@example.org\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n" % (subject, mid)
    h += "Date: Sun, 01 Mar 2026 %02d:00:00 +0000\r\n" % hour
    if in_reply_to:
        h += "In-Reply-To: <%s@example.org>\r\n" % in_reply_to
    if references:
        h += "References: %s\r\n" % " ".join("<%s@example.org>" % x for x in references)
    return (h + "\r\nbody\r\n").encode(), at(1, hour)


THREAD_MSGS = [
    thread_msg("a", "topic", 10),
    thread_msg("b", "Re: topic", 11, in_reply_to="a"),
    thread_msg("c", "other", 12),
    thread_msg("d", "Re: topic", 13, references=["a", "b"]),
    thread_msg("e", "Re: topic", 14, references=["a"]),
    thread_msg("f", "unrelated", 15),
    thread_msg("g", "Re: lost", 16, references=["missing"]),
    thread_msg("h", "Re: lost", 17, references=["missing"]),
]

# Worked out by hand from RFC 5256: a is parent of b (with child d) and e;
# g and h share a missing parent that stays as a dummy (two children).
THREAD_REFERENCES = b"(1 (2 4)(5))(3)(6)((7)(8))"
# ORDEREDSUBJECT: grouped by base subject, first message the parent.
# A single child is written as a chain ("(7 8)"): thread-nested needs two lists.
THREAD_ORDEREDSUBJECT = b"(1 (2)(4)(5))(3)(6)(7 8)"


def test_thread(plain):
    plain.start()
    r = Raw(plain)
    r.login(*ALICE)
    append_all(r, "Threads", THREAD_MSGS)
    r.ok("SELECT Threads")
    for algo, want in (("REFERENCES", THREAD_REFERENCES), ("ORDEREDSUBJECT", THREAD_ORDEREDSUBJECT)):
        tagged, untag = r.ok("THREAD %s UTF-8 ALL" % algo)
        th = find_untagged(untag, "THREAD")
        assert len(th) == 1, untag
        got = parse(th[0][len(b"* THREAD "):])
        assert got == parse(want), (algo, th[0], want)
    # with a search key, only matching messages take part
    tagged, untag = r.ok("THREAD ORDEREDSUBJECT UTF-8 SUBJECT lost")
    assert parse(find_untagged(untag, "THREAD")[0][9:]) == parse(b"(7 8)"), untag
    # UID THREAD answers UIDs
    tagged, untag = r.ok("UID SEARCH ALL")
    uids = find_untagged(untag, "SEARCH")[0].split()[2:]
    tagged, untag = r.ok("UID THREAD REFERENCES UTF-8 ALL")
    got = parse(find_untagged(untag, "THREAD")[0][9:])
    want = parse(THREAD_REFERENCES)

    def remap(x):
        return [remap(y) for y in x] if isinstance(x, list) else uids[int(x) - 1]
    assert got == remap(want), (got, uids)
    tagged, _ = r.command("THREAD NOSUCHALGO UTF-8 ALL")
    assert status_of(tagged) in ("BAD", "NO"), tagged
    r.close()
