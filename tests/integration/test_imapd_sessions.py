"""imapd sessions side by side: two sessions on one mailbox see each
other's new mail, flag changes and expunges at the moments RFC 3501
allows (never an EXPUNGE during FETCH, STORE or SEARCH); IDLE reports new
mail, flag changes and expunges within a second; the autologout timer;
the spam training hook (request=learn to private/spamc, received by a
listener the test runs in spamd's place); a 10,000-message folder (set
TERN_IMAP_BIG=100000 for the 100,000 of docs/imapd.md); many idle
sessions in one process."""
import mailbox
import os
import re
import socket
import threading
import time

import pytest

from conftest import have_program, wait_for
from imapd_support import Raw, chown_tree, connect, ok, owner_ids, seed, status_word

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))


def simple(subject):
    return b"From: x@example.org\nTo: alice@example.test\nSubject: %s\n\nbody of %s\n" % (subject.encode(), subject.encode())


@pytest.fixture
def inst(make_instance):
    return make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})


def login(inst):
    r = Raw(inst)
    t, _ = r.cmd("LOGIN alice pw-alice")
    assert status_word(t) == b"OK"
    return r


def test_two_sessions_see_each_other(inst):
    seed(inst, "alice", [simple("m%d" % i) for i in range(1, 5)])
    inst.start()
    a, b = login(inst), login(inst)
    a.cmd("SELECT INBOX")
    b.cmd("SELECT INBOX")
    # flag change by B: A hears it at its next command
    b.cmd("STORE 1 +FLAGS (\\Flagged)")
    t, u = a.cmd("NOOP")
    assert any(re.match(rb"\* 1 FETCH \(UID 1 FLAGS \(.*\\Flagged", x) for x in u), u
    # expunge by B: not reported to A during FETCH, STORE or SEARCH ...
    b.cmd("STORE 2 +FLAGS (\\Deleted)")
    t, u = b.cmd("EXPUNGE")
    assert u == [b"* 2 EXPUNGE"]
    t, u = a.cmd("FETCH 1:* (FLAGS)")
    assert status_word(t) == b"OK" and not any(b"EXPUNGE" in x for x in u), u
    t, u = a.cmd("FETCH 2 (FLAGS)")  # known to be gone now, still numbered
    assert u == [] and b"[EXPUNGEISSUED]" in t, (t, u)
    t, u = a.cmd("STORE 3 +FLAGS (\\Seen)")
    assert not any(b"EXPUNGE" in x for x in u)
    assert u == [b"* 3 FETCH (FLAGS (\\Seen \\Recent))"], u
    t, u = a.cmd("SEARCH ALL")
    assert u == [b"* SEARCH 1 3 4"], u  # the expunged one is not listed, the numbers stay
    # ... but at NOOP
    t, u = a.cmd("NOOP")
    assert b"* 2 EXPUNGE" in u, u
    t, u = a.cmd("FETCH 2 (UID)")
    assert u == [b"* 2 FETCH (UID 3)"], u  # the numbers moved up
    # new mail from B's APPEND
    b.cmd("APPEND INBOX {22+}\r\nSubject: new\r\n\r\nnew!\r\n")
    t, u = a.cmd("NOOP")
    assert b"* 4 EXISTS" in u, u  # \Recent went to B, whose APPEND saw it first
    assert b"* 3 RECENT" in u, u  # A's 4 recent minus the expunged one
    # UID commands may report expunges at once
    b.cmd("STORE 1 +FLAGS (\\Deleted)")
    b.cmd("EXPUNGE")
    t, u = a.cmd("UID FETCH 1:* (FLAGS)")
    assert b"* 1 EXPUNGE" in u, u
    a.close()
    b.close()


def test_idle_reports_within_a_second(inst):
    seed(inst, "alice", [simple("m1"), simple("m2")])
    inst.start()
    a, b = login(inst), login(inst)
    a.cmd("SELECT INBOX")
    b.cmd("SELECT INBOX")
    a.send("i1 IDLE\r\n")
    assert a.response().startswith(b"+ ")
    a.s.settimeout(1.0)

    def within_a_second(pattern):
        t0 = time.time()
        line = a.response()
        assert re.match(pattern, line), line
        assert time.time() - t0 < 1.0
        return line

    # a delivery into new/ (Python's mailbox module, as local delivery would)
    md = mailbox.Maildir(inst.maildir("alice"), create=False)
    md.add(simple("delivered"))
    within_a_second(rb"\* 3 EXISTS")
    assert re.match(rb"\* \d+ RECENT", a.response())
    chown_tree(inst.maildir("alice"))
    b.cmd("STORE 1 +FLAGS (\\Answered)")
    within_a_second(rb"\* 1 FETCH \(UID 1 FLAGS \(\\Answered")
    b.cmd("STORE 2 +FLAGS (\\Deleted)")
    within_a_second(rb"\* 2 FETCH")
    b.cmd("EXPUNGE")
    within_a_second(rb"\* 2 EXPUNGE")
    a.s.settimeout(10)
    a.send("DONE\r\n")
    t, _ = a.wait("i1")
    assert status_word(t) == b"OK"
    t, u = a.cmd("FETCH 2 (UID)")
    assert u == [b"* 2 FETCH (UID 3)"]
    # IDLE without a selected mailbox, and a bad end
    a.cmd("UNSELECT")
    a.send("i2 IDLE\r\n")
    assert a.response().startswith(b"+ ")
    a.send("NOTDONE\r\n")
    t, _ = a.wait("i2")
    assert status_word(t) == b"BAD"
    a.close()
    b.close()


def test_autologout(make_instance):
    inst = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes", "imapd_login_timeout": "2s"})
    inst.start()
    r = Raw(inst)
    time.sleep(2.5)
    assert r.response().startswith(b"* BYE Autologout")
    assert r.closed()


class SpamcListener:
    """Stands in for spamd's private/spamc: records attr requests, answers ok."""

    def __init__(self, path):
        self.path = path
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            c.settimeout(5)
            data = b""
            try:
                while b"\n\n" not in data:
                    d = c.recv(65536)
                    if not d:
                        break
                    data += d
                attrs = {}
                for line in data.split(b"\n\n")[0].split(b"\n"):
                    k, _, v = line.partition(b"=")
                    attrs[k.decode()] = v.replace(b"\\n", b"\n").replace(b"\\\\", b"\\")
                self.requests.append(attrs)
                c.sendall(b"status=ok\n\n")
            except OSError:
                pass
            finally:
                c.close()

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


def test_spam_training_hook(inst):
    seed(inst, "alice", [simple("spammy"), simple("fine")])
    # this test listens on spamd's content socket itself, to see the exact
    # requests (test_spamd_content.py has the same with the real spamd)
    mcf = os.path.join(inst.dir, "master.cf")
    lines = open(mcf).read().splitlines(True)
    with open(mcf, "w") as f:
        f.writelines(l for l in lines if not l.startswith("spamc "))
    path = os.path.join(inst.dir, "queue", "private", "spamc")
    listener = SpamcListener(path)
    try:
        inst.start()
        m = connect(inst, login=("alice", "pw-alice"))
        m.select("INBOX")
        ok(m.copy("1", "Junk"))
        wait_for(lambda: len(listener.requests) == 1, 5, what="learn request")
        req = listener.requests[0]
        assert req["request"] == b"learn" and req["class"] == b"spam"
        assert req["user"] == b"alice@example.test"
        assert req["message"] == simple("spammy")
        # out of Junk into another folder: ham; into Trash: nothing
        m.select("Junk")
        ok(m.uid("MOVE", "1", "INBOX"))
        wait_for(lambda: len(listener.requests) == 2, 5, what="ham request")
        assert listener.requests[1]["class"] == b"ham"
        m.select("INBOX")
        ok(m.copy("1:2", "Junk"))
        m.select("Junk")
        ok(m.uid("MOVE", "1:*", "Trash"))
        time.sleep(0.5)
        assert [r["class"] for r in listener.requests] == [b"spam", b"ham", b"spam", b"spam"]
        m.logout()
    finally:
        listener.close()
    # without a listener the copy still works (the hook only logs at debug level)
    os.unlink(path)
    m = connect(inst, login=("alice", "pw-alice"))
    m.select("INBOX")
    ok(m.copy("1", "Junk"))
    m.logout()


def make_big_folder(inst, user, count):
    """count small messages written straight into cur/ (fast)."""
    cur = os.path.join(inst.maildir(user), "cur")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(inst.maildir(user), d), exist_ok=True)
    t0 = int(time.time()) - count - 10
    for i in range(count):
        msg = b"From: bulk@example.org\nSubject: bulk %d\n\nx\n" % i
        name = "%d.M%dP1.bulk,S=%d,W=%d:2,%s" % (t0 + i, i, len(msg), len(msg) + msg.count(b"\n"), "S" if i % 2 else "")
        p = os.path.join(cur, name)
        with open(p, "wb") as f:
            f.write(msg)
        os.utime(p, (t0 + i, t0 + i))
    chown_tree(inst.maildir(user))


def test_big_folder_select_and_uid_fetch(inst):
    n = int(os.environ.get("TERN_IMAP_BIG", "10000"))
    make_big_folder(inst, "alice", n)
    inst.start()
    r = login(inst)
    t0 = time.time()
    t, u = r.cmd("SELECT INBOX")  # the first SELECT builds the index
    first = time.time() - t0
    assert b"* %d EXISTS" % n in u
    r.cmd("UNSELECT")
    t0 = time.time()
    t, u = r.cmd("SELECT INBOX")
    select = time.time() - t0
    t0 = time.time()
    t, u = r.cmd("UID FETCH 1:* (UID FLAGS)")
    fetch = time.time() - t0
    assert status_word(t) == b"OK" and len(u) == n
    assert u[0] == b"* 1 FETCH (UID 1 FLAGS ())" and u[1] == b"* 2 FETCH (UID 2 FLAGS (\\Seen))"
    t0 = time.time()
    t, u = r.cmd("SEARCH UNSEEN")
    search = time.time() - t0
    assert len(u[0].split()) - 2 == (n + 1) // 2
    print("\n%d messages: first SELECT %.2fs, SELECT %.3fs, UID FETCH 1:* (UID FLAGS) %.3fs, SEARCH UNSEEN %.3fs"
          % (n, first, select, fetch, search))
    limit = 10.0 * max(1, n // 10000)
    assert select < limit / 5 and fetch < limit and first < 4 * limit
    r.close()


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_many_idle_sessions(make_instance):
    inst = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes", "imapd_user_session_limit": "0"})
    seed(inst, "alice", [simple("m%d" % i) for i in range(5)])
    inst.start()
    n = int(os.environ.get("TERN_IMAP_IDLE_SESSIONS", "200"))
    warm = [login(inst) for _ in range(5)]
    for r in warm:
        r.cmd("SELECT INBOX")
    pids = inst.services().get("%d" % inst.port("imap"), [])
    assert pids, inst.services()
    before = rss_kib(pids[0])
    sessions = []
    for i in range(n):
        r = login(inst)
        r.cmd("SELECT INBOX")
        r.send("i IDLE\r\n")
        assert r.response().startswith(b"+ ")
        sessions.append(r)
    after = rss_kib(pids[0])
    per = (after - before) / n
    print("\n%d idle sessions: %.1f KiB RSS each" % (n, per))
    assert per < 200
    # every one of them hears about new mail
    b = login(inst)
    b.cmd("APPEND INBOX {20+}\r\nSubject: all\r\n\r\nhi\r\n")
    for r in sessions[:: max(1, n // 20)]:
        r.s.settimeout(5)
        assert r.response() == b"* 6 EXISTS"
    for r in sessions + warm + [b]:
        r.close()
