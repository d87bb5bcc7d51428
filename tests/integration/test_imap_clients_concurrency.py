"""imapd acceptance, part 4: several sessions at once, IDLE, size and
fairness. Two imaplib sessions on one mailbox see each other's flag
changes, expunges and new mail as untagged responses at the moments RFC
3501 allows (never an EXPUNGE during FETCH, STORE or SEARCH); IDLE reports
a message written into the maildir by another program, a flag change and
an expunge within a second; a 10,000-message folder is selected and listed
with UID FETCH 1:* (UID FLAGS) quickly; a client sending one byte at a
time, or stalling inside a literal, does not slow down anyone else."""
import os
import re
import socket
import time

import pytest

from conftest import have_program
from imap_helpers import (Raw, RawError, check_ok, fetches, find_untagged, folder_dir, imap,
                          make_big_folder, owner_ids, seed, select_info, status_of, untagged)

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))
ALICE = ("alice", "pw-alice")


@pytest.fixture
def plain(make_instance):
    return make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})


def simple(subject, body=b"hello\n"):
    return b"From: x@example.org\nTo: alice@example.test\nSubject: " + subject.encode() + b"\n\n" + body


_count = [0]


def drop_into_maildir(inst, user, msg, folder="INBOX"):
    """Deliver like a foreign MDA: write tmp/, then rename into new/."""
    path = folder_dir(inst, user, folder)
    _count[0] += 1
    name = "%d.P%dQ%d.otherhost" % (int(time.time()), os.getpid(), _count[0])
    tmp = os.path.join(path, "tmp", name)
    with open(tmp, "wb") as f:
        f.write(msg)
        f.flush()
        os.fsync(f.fileno())
    uid, gid = owner_ids()
    os.chown(tmp, uid, gid)
    os.rename(tmp, os.path.join(path, "new", name))


def read_until(r, pred, timeout):
    """Read untagged responses until pred(line) or timeout; -> (line, seconds, lines)."""
    t0 = time.time()
    lines = []
    r.sock.settimeout(timeout)
    try:
        while True:
            left = timeout - (time.time() - t0)
            if left <= 0:
                return None, time.time() - t0, lines
            r.sock.settimeout(left)
            line = r.read_response()
            lines.append(line)
            if pred(line):
                return line, time.time() - t0, lines
    except (socket.timeout, TimeoutError):
        return None, time.time() - t0, lines
    finally:
        r.sock.settimeout(r.timeout)


def test_two_imaplib_sessions_see_each_other(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 5)])
    plain.start()
    a = imap(plain, login=ALICE)
    b = imap(plain, login=ALICE)
    assert a.select("INBOX")[1] == [b"4"]
    assert b.select("INBOX")[1] == [b"4"]
    # a flag change by A reaches B at NOOP as an untagged FETCH
    check_ok(a.store("1", "+FLAGS", r"(\Flagged)"))
    b.untagged_responses.clear()
    check_ok(b.noop())
    f = untagged(b, "FETCH")
    assert any(re.match(rb"1 \(.*FLAGS \([^)]*\\Flagged", x) for x in f), f
    # B's keyword shows up at A
    check_ok(b.store("3", "+FLAGS", "(Important)"))
    a.untagged_responses.clear()
    check_ok(a.noop())
    f = untagged(a, "FETCH")
    assert any(x.startswith(b"3 ") and b"Important" in x for x in f), f
    # A expunges message 2
    check_ok(a.store("2", "+FLAGS", r"(\Deleted)"))
    typ, data = a.expunge()
    assert data == [b"2"], data
    # B must not get EXPUNGE while answering FETCH, STORE or SEARCH
    b.untagged_responses.clear()
    typ, data = b._simple_command("FETCH", "1:*", "(FLAGS)")
    assert "EXPUNGE" not in b.untagged_responses, b.untagged_responses
    typ, data = b._simple_command("SEARCH", "ALL")
    assert "EXPUNGE" not in b.untagged_responses, b.untagged_responses
    typ, data = b.search(None, "ALL")
    # ... but at NOOP (or after a UID command) it does
    b.untagged_responses.clear()
    check_ok(b.noop())
    assert untagged(b, "EXPUNGE") == [b"2"], b.untagged_responses
    typ, data = b.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    subj = [d[1].strip() for d in data if isinstance(d, tuple)]
    assert subj == [b"Subject: m1", b"Subject: m3", b"Subject: m4"], subj
    # B appends; A learns of it at NOOP with EXISTS (and RECENT)
    check_ok(b.append("INBOX", None, None, b"Subject: from b\r\n\r\nx\r\n"))
    a.untagged_responses.clear()
    check_ok(a.noop())
    assert untagged(a, "EXISTS") == [b"4"], a.untagged_responses
    # a message dropped into the maildir by another program: both see it
    drop_into_maildir(plain, "alice", simple("foreign"))
    for s in (a, b):
        s.untagged_responses.clear()
        check_ok(s.noop())
        assert untagged(s, "EXISTS") == [b"5"], s.untagged_responses
    # and both agree on UIDs
    ua = a.uid("SEARCH", "ALL")[1]
    ub = b.uid("SEARCH", "ALL")[1]
    assert ua == ub and len(ua[0].split()) == 5, (ua, ub)
    a.logout()
    b.logout()


def test_expunge_deferred_until_allowed_raw(plain):
    """A session in a FETCH loop learns of an expunge only at a command that allows it."""
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 4)])
    plain.start()
    a = Raw(plain)
    a.login(*ALICE)
    a.ok("SELECT INBOX")
    b = Raw(plain)
    b.login(*ALICE)
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    tagged, untag = b.ok("EXPUNGE")
    assert b"* 1 EXPUNGE" in untag
    for cmd in ("FETCH 1:* (FLAGS)", "STORE 3 +FLAGS (\\Seen)", "SEARCH ALL"):
        tagged, untag = a.command(cmd)
        assert not [u for u in untag if u.endswith(b" EXPUNGE")], (cmd, untag)
        # sequence numbers still count the expunged message
        if cmd.startswith("STORE"):
            assert any(u.startswith(b"* 3 FETCH") for u in untag), untag
    tagged, untag = a.ok("NOOP")
    assert [u for u in untag if u.endswith(b" EXPUNGE")] == [b"* 1 EXPUNGE"], untag
    tagged, untag = a.ok("FETCH 1:* (FLAGS)")
    assert sorted(fetches(untag)) == [1, 2], untag
    a.close()
    b.close()


def test_idle_reports_new_mail_flags_and_expunge_within_a_second(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 4)])
    plain.start()
    a = Raw(plain)
    a.login(*ALICE)
    a.ok("SELECT INBOX")
    b = imap(plain, login=ALICE)
    b.select("INBOX")
    a.send(b"i1 IDLE\r\n")
    cont = a.read_response()
    assert cont.startswith(b"+"), cont
    time.sleep(0.3)
    # new mail written by another program
    t0 = time.time()
    drop_into_maildir(plain, "alice", simple("idle news"))
    line, secs, lines = read_until(a, lambda x: re.match(rb"\* 4 EXISTS", x), 5)
    secs = time.time() - t0
    print("IDLE: new mail reported after %.3f s" % secs)
    assert line, lines
    assert secs < 1.0, "IDLE took %.3f s to report new mail" % secs
    # a flag change by another session
    t0 = time.time()
    check_ok(b.store("2", "+FLAGS", r"(\Flagged)"))
    line, _, lines = read_until(a, lambda x: re.match(rb"\* 2 FETCH .*\\Flagged", x), 5)
    secs = time.time() - t0
    print("IDLE: flag change reported after %.3f s" % secs)
    assert line and secs < 1.0, (secs, lines)
    # an expunge by another session
    t0 = time.time()
    check_ok(b.store("1", "+FLAGS", r"(\Deleted)"))
    check_ok(b.expunge())
    line, _, lines = read_until(a, lambda x: x == b"* 1 EXPUNGE", 5)
    secs = time.time() - t0
    print("IDLE: expunge reported after %.3f s" % secs)
    assert line and secs < 1.0, (secs, lines)
    # DONE ends IDLE with the tagged OK
    a.send(b"DONE\r\n")
    tagged, _ = a.wait_tagged("i1")
    assert status_of(tagged) == "OK", tagged
    tagged, untag = a.ok("FETCH 1:* (FLAGS)")
    assert sorted(fetches(untag)) == [1, 2, 3], untag
    # anything but DONE during IDLE is an error (RFC 2177)
    a.send(b"i2 IDLE\r\n")
    assert a.read_response().startswith(b"+")
    a.send(b"i3 NOOP\r\n")
    line, _, lines = read_until(a, lambda x: x.startswith(b"i2 ") or x.startswith(b"i3 ") or x.startswith(b"* BYE"),
                                5)
    assert line and (line.startswith(b"i2 BAD") or line.startswith(b"* BYE") or line.startswith(b"i2 OK")), lines
    a.close()
    b.logout()


def test_idle_in_many_sessions(plain):
    """Ten sessions idle on one INBOX; all of them hear of one delivery."""
    seed(plain, "alice", [simple("m1")])
    plain.start()
    sessions = []
    for _ in range(10):
        r = Raw(plain)
        r.login(*ALICE)
        r.ok("SELECT INBOX")
        r.send(b"i IDLE\r\n")
        assert r.read_response().startswith(b"+")
        sessions.append(r)
    time.sleep(0.3)
    t0 = time.time()
    drop_into_maildir(plain, "alice", simple("for everyone"))
    for r in sessions:
        line, _, lines = read_until(r, lambda x: x == b"* 2 EXISTS", 5)
        assert line, lines
    secs = time.time() - t0
    print("IDLE: 10 sessions told within %.3f s" % secs)
    assert secs < 2.0
    for r in sessions:
        r.send(b"DONE\r\n")
        assert status_of(r.wait_tagged("i")[0]) == "OK"
        r.close()


def test_10000_message_folder(plain):
    n = 10000
    t0 = time.time()
    make_big_folder(plain, "alice", "Big", n)
    print("made %d files in %.2f s" % (n, time.time() - t0))
    plain.start()
    r = Raw(plain, timeout=60)
    r.login(*ALICE)
    times = {}
    t0 = time.time()
    tagged, untag = r.ok("SELECT Big")
    times["first SELECT"] = time.time() - t0
    info = select_info(untag, tagged)
    assert info["EXISTS"] == n, info
    t0 = time.time()
    tagged, untag = r.ok("UID FETCH 1:* (UID FLAGS)")
    times["UID FETCH 1:* (UID FLAGS)"] = time.time() - t0
    f = fetches(untag)
    assert len(f) == n and sorted(f) == list(range(1, n + 1))
    uids = [int(f[i]["UID"]) for i in range(1, n + 1)]
    assert uids == sorted(uids) and len(set(uids)) == n
    seen = sum(1 for d in f.values() if b"\\Seen" in d["FLAGS"])
    assert seen == (n + 2) // 3, seen
    r.ok("CLOSE")
    t0 = time.time()
    tagged, untag = r.ok("SELECT Big")
    times["second SELECT"] = time.time() - t0
    t0 = time.time()
    tagged, untag = r.ok("FETCH 1:* (FLAGS)")
    times["FETCH 1:* (FLAGS)"] = time.time() - t0
    t0 = time.time()
    tagged, untag = r.ok("SEARCH UNSEEN")
    times["SEARCH UNSEEN"] = time.time() - t0
    assert len(find_untagged(untag, "SEARCH")[0].split()) - 2 == n - (n + 2) // 3
    t0 = time.time()
    tagged, untag = r.ok("STATUS Big (MESSAGES UNSEEN UIDNEXT)")
    times["STATUS"] = time.time() - t0
    t0 = time.time()
    tagged, untag = r.ok("FETCH 9990:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    times["FETCH last 11 headers"] = time.time() - t0
    assert len(fetches(untag)) == 11
    for k, v in times.items():
        print("10k folder: %-28s %.3f s" % (k, v))
    assert times["first SELECT"] + times["UID FETCH 1:* (UID FLAGS)"] < 5.0, times
    assert times["second SELECT"] + times["FETCH 1:* (FLAGS)"] < 5.0, times
    r.close()


def test_slow_client_does_not_stall_others(plain):
    seed(plain, "alice", [simple("m%d" % i) for i in range(1, 4)])
    plain.start()
    slow = Raw(plain)
    fast = Raw(plain)
    fast.login(*ALICE)
    fast.ok("SELECT INBOX")
    # a third client stalls in the middle of a literal
    stall = Raw(plain)
    stall.login(*ALICE)
    stall.send(b"s1 APPEND INBOX {100000}\r\n")
    assert stall.read_response().startswith(b"+")
    stall.send(b"Subject: half")
    worst = 0.0
    cmd = b"a1 LOGIN alice pw-alice\r\n"
    for i, byte in enumerate(cmd):
        slow.send(bytes([byte]))
        t0 = time.time()
        fast.ok("FETCH %d (FLAGS BODY.PEEK[HEADER])" % (i % 3 + 1))
        worst = max(worst, time.time() - t0)
        time.sleep(0.02)
    tagged, _ = slow.wait_tagged("a1")
    assert status_of(tagged) == "OK", tagged
    print("slowest command of the other session: %.3f s" % worst)
    assert worst < 0.5, worst
    # the slow client works normally afterwards
    slow.ok("SELECT INBOX")
    # the stalled literal has not been taken as a message
    tagged, untag = fast.ok("NOOP")
    assert not [u for u in untag if u.endswith(b"EXISTS")], untag
    for r in (slow, fast, stall):
        r.close()


def test_idle_on_a_folder_and_restart_keeps_uids(plain):
    """IDLE on a maildir++ folder hears of a drop into that folder, not of
    mail to INBOX; after a restart UIDVALIDITY and UIDs are unchanged."""
    seed(plain, "alice", [simple("w1")], folder="Work")
    seed(plain, "alice", [simple("i1")])
    plain.start()
    a = Raw(plain)
    a.login(*ALICE)
    tagged, untag = a.ok("SELECT Work")
    v1 = select_info(untag, tagged)["UIDVALIDITY"]
    a.send(b"i1 IDLE\r\n")
    assert a.read_response().startswith(b"+")
    time.sleep(0.2)
    drop_into_maildir(plain, "alice", simple("to inbox"))
    line, _, lines = read_until(a, lambda x: x.endswith(b"EXISTS"), 1.0)
    assert line is None, lines  # not this folder
    t0 = time.time()
    drop_into_maildir(plain, "alice", simple("to work"), folder="Work")
    line, _, lines = read_until(a, lambda x: x == b"* 2 EXISTS", 5)
    assert line and time.time() - t0 < 1.0, (time.time() - t0, lines)
    a.send(b"DONE\r\n")
    a.wait_tagged("i1")
    tagged, untag = a.ok("UID FETCH 1:* (UID)")
    uids = sorted(int(d["UID"]) for d in fetches(untag).values())
    a.close()
    plain.stop()
    plain.start()
    b = Raw(plain)
    b.login(*ALICE)
    tagged, untag = b.ok("SELECT Work")
    assert select_info(untag, tagged)["UIDVALIDITY"] == v1
    tagged, untag = b.ok("UID FETCH 1:* (UID)")
    assert sorted(int(d["UID"]) for d in fetches(untag).values()) == uids
    b.close()


def test_hazards_between_sessions(plain):
    """One session deletes, renames or empties what another has selected; the
    other gets answers (NO, BYE or data), never a hang or a crash, and the
    daemon keeps serving."""
    seed(plain, "alice", [simple("w%d" % i) for i in range(1, 4)], folder="Work")
    seed(plain, "alice", [simple("o1")], folder="Old")
    seed(plain, "alice", [simple("i1"), simple("i2")])
    plain.start()
    a = Raw(plain)
    a.login(*ALICE)
    b = Raw(plain)
    b.login(*ALICE)
    # expunge under a FETCH of the other session
    a.ok("SELECT INBOX")
    b.ok("SELECT INBOX")
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    tagged, untag = a.command("FETCH 1:2 (BODY[])")
    assert status_of(tagged) in ("OK", "NO"), tagged
    f = fetches(untag)
    assert 2 in f and f[2]["BODY[]"].endswith(b"Subject: i2\r\n\r\nhello\r\n"), untag
    tagged, untag = a.ok("NOOP")
    assert b"* 1 EXPUNGE" in untag, untag
    # COPY a folder's messages into itself
    problems = []
    a.ok("SELECT Work")
    tagged, untag = a.command("COPY 1:* Work")  # RFC 3501 allows the selected mailbox as target
    if status_of(tagged) != "OK":
        problems.append("COPY 1:* into the selected mailbox: %r" % tagged)
    else:
        # the new count may come with COPY's own reply or with the next NOOP
        untag = list(untag) + list(a.ok("NOOP")[1])
        if not any(u == b"* 6 EXISTS" for u in untag):
            problems.append("no EXISTS after COPY into the selected mailbox: %r" % untag)
    # the other session deletes the selected folder
    tagged, _ = b.command("DELETE Work")
    assert status_of(tagged) in ("OK", "NO"), tagged
    deleted = status_of(tagged) == "OK"
    try:
        tagged, untag = a.command("FETCH 1:* (FLAGS)")
        if deleted:
            assert status_of(tagged) in ("OK", "NO", "BYE"), tagged
        tagged, untag = a.command("NOOP")
    except RawError:
        pass  # the server may end a session whose mailbox is gone
    # RENAME of a folder the other session has selected
    c = Raw(plain)
    c.login(*ALICE)
    c.ok("SELECT Old")
    tagged, _ = b.command("RENAME Old Older")
    assert status_of(tagged) in ("OK", "NO"), tagged
    try:
        c.command("NOOP")
        c.command("FETCH 1 (BODY.PEEK[])")
    except RawError:
        pass
    # names: \Noselect parents, mUTF-7 with "&-", STATUS of the selected mailbox
    b.ok("CREATE Parent/Child")
    tagged, untag = b.command("SELECT Parent")
    n = b.command('LIST "" "Parent"')[1]
    if any(b"\\noselect" in x.lower() for x in n):
        assert status_of(tagged) == "NO", tagged
    b.ok('CREATE "R&-D"')
    tagged, untag = b.ok('LIST "" "R*"')
    assert any(x.endswith(b'"R&-D"') or x.endswith(b" R&-D") for x in untag), untag
    tagged, _ = b.command('CREATE "bad&mutf7"')  # "&" must start modified UTF-7 (RFC 3501 5.1.3)
    if status_of(tagged) not in ("NO", "BAD"):
        problems.append('CREATE "bad&mutf7" (invalid modified UTF-7) accepted: %r' % tagged)
    b.ok("SELECT INBOX")
    tagged, untag = b.ok("STATUS INBOX (MESSAGES UIDNEXT)")
    assert b"MESSAGES 1" in b" ".join(untag), untag
    for r in (a, b, c):
        r.close()
    m = imap(plain, login=ALICE)
    assert m.select("INBOX")[0] == "OK"
    m.logout()
    assert not problems, problems
