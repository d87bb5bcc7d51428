"""Queue tools: postqueue -p / mailq in Postfix's layout, postqueue -j JSON
lines with the DSN parameters, the flush requests on public/qmgr, and
postsuper -d/-h/-H/-r/-p on queue files written by the real queue writer
(tests/tools/queue_fixture) in a `tern init` instance that is not running."""
import fcntl
import json
import os
import re
import socket
import threading
import time

import pytest

import ternattr
from conftest import BUILD, program, run

FIXTURE = os.path.join(BUILD, "tests", "tools", "queue_fixture")
ARRIVAL = 1606212672  # Tue Nov 24 10:11:12 2020 UTC
ENV = dict(os.environ, TZ="UTC")


class Queue:
    def __init__(self, inst):
        self.inst = inst
        self.root = os.path.join(inst.dir, "queue")

    def add(self, spec, queue="incoming", count=1):
        out = run([FIXTURE, self.root, queue, "-n", str(count)], input=spec).stdout.split()
        assert len(out) == count
        return out if count > 1 else out[0]

    def tool(self, name, *args, check=True, input=None):
        return run([program(name), "-c", self.inst.dir] + list(args), check=check, input=input, env=ENV)

    def where(self, qid):
        hits = []
        for dirpath, _, files in os.walk(self.root):
            if qid in files:
                hits.append(os.path.relpath(dirpath, self.root).split(os.sep)[0])
        return hits

    def json(self):
        return [json.loads(line) for line in self.tool("postqueue", "-j").stdout.splitlines()]


@pytest.fixture
def q(make_instance):
    if not os.access(FIXTURE, os.X_OK):
        pytest.skip("tests/tools/queue_fixture not built (make check builds it)")
    return Queue(make_instance())


DEFERRED = f"""arrival {ARRIVAL + 48}
sender other@example.test
rcpt rcpt2@example.net
rcpt rcpt3@example.net
rcpt gone@example.net status=done
rcpt rcpt4@example.net
defer 0 4.3.0 host mx.example.net[192.0.2.1] said: 451 4.3.0 try later
defer 1 4.4.1 connect to mx2.example.net[192.0.2.2]:25: Connection timed out while talking to the other host
defer 3 4.3.0 host mx.example.net[192.0.2.1] said: 451 4.3.0 try later
data
Subject: deferred

body
"""


def test_empty_queue(q):
    assert q.tool("mailq").stdout == "Mail queue is empty\n"
    assert q.tool("postqueue", "-p").stdout == "Mail queue is empty\n"
    assert q.tool("postqueue", "-j").stdout == ""


def test_mailq_layout(q):
    a = q.add(f"arrival {ARRIVAL}\nsender sender@example.test\nrcpt rcpt@example.test\nsize 1200\n", "active")
    d = q.add(DEFERRED, "deferred")
    h = q.add(f"arrival {ARRIVAL + 3600}\nsender <>\nrcpt postmaster@example.test\nexpire\n", "hold")
    out = q.tool("mailq").stdout
    a_size = 1200 + 1200 // 72 + 2  # fixture: "Subject: sized\n\n" + 72-byte lines, CRLF counted
    lines = out.split("\n")
    assert lines[0] == "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------"
    # active first (showq order), then deferred, then hold
    assert re.fullmatch(rf"{a}\*\s+(\d+) Tue Nov 24 10:11:12  sender@example\.test", lines[1])
    size = int(lines[1].split()[1])
    assert abs(size - a_size) < 80
    assert lines[1] == f"{a}* {size:7d} Tue Nov 24 10:11:12  sender@example.test"
    assert lines[2] == " " * 41 + "rcpt@example.test"
    assert lines[3] == ""
    d_size = len("Subject: deferred\n\nbody\n") + 3
    reason1 = "(host mx.example.net[192.0.2.1] said: 451 4.3.0 try later)"
    reason2 = ("(connect to mx2.example.net[192.0.2.2]:25: Connection timed out while talking to the "
               "other host)")
    assert lines[4:10] == [
        f"{d:<11} {d_size:7d} Tue Nov 24 10:12:00  other@example.test",
        " " * (78 - len(reason1)) + reason1,  # right-aligned like Postfix
        " " * 41 + "rcpt2@example.net",
        " " * 41 + "rcpt4@example.net",  # grouped under the same reason
        reason2,  # too long to pad
        " " * 41 + "rcpt3@example.net",
    ]
    assert "gone@example.net" not in out  # delivered recipients are not listed
    assert lines[10] == ""
    assert re.fullmatch(rf"{h}!#\s+\d+ Tue Nov 24 11:11:12  MAILER-DAEMON", lines[11])
    assert lines[12] == " " * 41 + "postmaster@example.test"
    total = size + d_size + int(lines[11].split()[1])
    assert lines[13:] == ["", f"-- {total // 1024} Kbytes in 3 Requests.", ""]
    # postqueue -p is the same listing
    assert q.tool("postqueue", "-p").stdout == out


def test_one_request_singular(q):
    q.add(f"arrival {ARRIVAL}\nsender a@example.test\nrcpt b@example.test\n")
    out = q.tool("mailq").stdout
    assert out.endswith("\n-- 0 Kbytes in 1 Request.\n")


def test_json_lines_with_dsn_parameters(q):
    spec = f"""arrival {ARRIVAL}
sender alice@example.test
rcpt bob@example.net orcpt=rfc822;Bob@Example.NET notify=SUCCESS,DELAY
rcpt carol@example.net notify=NEVER
rcpt dave@example.net
envid ENV-ID-42
ret HDRS
body 8BITMIME
smtputf8
by 3600 R T
client 192.0.2.9 client.example.net
helo client.example.net
auth alice@example.test
defer 1 4.4.1 connect to mx.example.net[192.0.2.1]:25: Connection refused
schedule 1606220000 2
"""
    qid = q.add(spec, "deferred")
    held = q.add("sender <>\nrcpt x@example.test\nexpire\n", "hold")
    objs = q.json()
    assert len(objs) == 2
    m = objs[0]
    assert m["queue_name"] == "deferred"
    assert m["queue_id"] == qid
    assert m["arrival_time"] == ARRIVAL
    assert isinstance(m["message_size"], int) and m["message_size"] > 0
    assert m["forced_expire"] is False
    assert m["sender"] == "alice@example.test"
    assert m["envid"] == "ENV-ID-42"
    assert m["ret"] == "HDRS"
    assert m["body_type"] == "8BITMIME"
    assert m["smtputf8"] is True
    assert m["deliver_by"] == {"deadline": 0, "seconds": 3600, "mode": "R", "trace": True}
    assert m["client_address"] == "192.0.2.9"
    assert m["helo"] == "client.example.net"
    assert m["auth_user"] == "alice@example.test"
    assert m["attempts"] == 2
    assert m["next_attempt"] == 1606220000
    r = m["recipients"]
    assert r[0] == {"address": "bob@example.net", "orcpt": "rfc822;Bob@Example.NET", "notify": "SUCCESS,DELAY"}
    assert r[1] == {"address": "carol@example.net", "notify": "NEVER",
                    "delay_reason": "connect to mx.example.net[192.0.2.1]:25: Connection refused"}
    assert r[2] == {"address": "dave@example.net"}
    h = objs[1]
    assert (h["queue_name"], h["queue_id"], h["sender"], h["forced_expire"]) == ("hold", held, "MAILER-DAEMON", True)
    assert "envid" not in h and "ret" not in h


def test_json_escapes_and_utf8(q):
    qid = q.add('sender "quoted\\\\local"@example.test\nrcpt dr\u00fc@example.test\nsmtputf8\n')
    m = q.json()[0]
    assert m["queue_id"] == qid
    assert m["sender"] == '"quoted\\\\local"@example.test'
    assert m["recipients"][0]["address"] == "dr\u00fc@example.test"


def test_postsuper_delete(q):
    ids = q.add("sender a@example.test\nrcpt b@example.test\n", "deferred", count=3)
    keep = q.add("sender a@example.test\nrcpt b@example.test\n", "hold")
    r = q.tool("postsuper", "-d", ids[0])
    assert f"postsuper: {ids[0]}: removed" in r.stderr
    assert "postsuper: Deleted: 1 message\n" in r.stderr
    assert q.where(ids[0]) == []
    # from stdin, and ALL restricted to one queue
    r = q.tool("postsuper", "-d", "-", input=ids[1] + "\n")
    assert "Deleted: 1 message" in r.stderr
    r = q.tool("postsuper", "-d", "ALL", "deferred")
    assert "postsuper: Deleted: 1 message\n" in r.stderr
    assert q.where(keep) == ["hold"]
    r = q.tool("postsuper", "-d", "ALL")
    assert "Deleted: 1 message" in r.stderr
    assert q.tool("mailq").stdout == "Mail queue is empty\n"


def test_postsuper_counts_plural(q):
    q.add("sender a@example.test\nrcpt b@example.test\n", "deferred", count=3)
    r = q.tool("postsuper", "-d", "ALL")
    assert r.stderr.endswith("postsuper: Deleted: 3 messages\n")


def test_postsuper_hold_release(q):
    qid = q.add(DEFERRED, "deferred")
    r = q.tool("postsuper", "-h", qid)
    assert f"postsuper: {qid}: placed on hold" in r.stderr
    assert "postsuper: Placed on hold: 1 message" in r.stderr
    assert q.where(qid) == ["hold"]
    assert re.search(rf"^{qid}!", q.tool("mailq").stdout, re.M)
    # the reasons stay with the message
    assert "try later" in q.tool("mailq").stdout
    r = q.tool("postsuper", "-H", "ALL")
    assert f"postsuper: {qid}: released from hold" in r.stderr
    assert "Released from hold: 1 message" in r.stderr
    assert q.where(qid) == ["deferred"]
    m = q.json()[0]
    assert m["queue_name"] == "deferred" and "next_attempt" not in m  # due now


def test_postsuper_requeue_keeps_delivered_recipients(q):
    qid = q.add(DEFERRED, "deferred")
    # give it a retry state first
    run([FIXTURE, q.root, "hold"], input="sender x@example.test\nrcpt y@example.test\nschedule 1999999999 7\n")
    r = q.tool("postsuper", "-r", "ALL")
    assert "postsuper: Requeued: 2 messages" in r.stderr
    assert q.where(qid) == ["incoming"]
    objs = {m["queue_id"]: m for m in q.json()}
    assert all(m["queue_name"] == "incoming" for m in objs.values())
    rcpts = [x["address"] for x in objs[qid]["recipients"]]
    assert rcpts == ["rcpt2@example.net", "rcpt3@example.net", "rcpt4@example.net"]  # not gone@
    for m in objs.values():
        assert "attempts" not in m and "next_attempt" not in m


def test_postsuper_skips_locked_files_but_deletes_them(q):
    qid = q.add("sender a@example.test\nrcpt b@example.test\n", "active")
    path = os.path.join(q.root, "active", qid)
    fd = os.open(path, os.O_RDWR)
    try:
        # the qmgr's lock: a write lock on the whole file (POSIX and OFD locks conflict)
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = q.tool("postsuper", "-h", qid)
        assert "locked by another process" in r.stderr
        assert "Placed on hold" not in r.stderr
        assert q.where(qid) == ["active"]
        r = q.tool("postsuper", "-r", qid)
        assert q.where(qid) == ["active"]
        r = q.tool("postsuper", "-d", qid)
        assert "Deleted: 1 message" in r.stderr
        assert q.where(qid) == []
    finally:
        os.close(fd)


def test_postsuper_bad_input(q):
    r = q.tool("postsuper", "-d", "../../etc/passwd", check=False)
    assert r.returncode == 65
    assert "invalid queue ID" in r.stderr
    r = q.tool("postsuper", "-d", "ALL", "nosuchqueue", check=False)
    assert r.returncode == 64
    r = q.tool("postsuper", "-H", "ALL", "deferred", check=False)
    assert r.returncode == 64
    r = q.tool("postsuper", "-d", "0123456789")
    assert "no such message" in r.stderr
    r = q.tool("postsuper", check=False)
    assert r.returncode == 64 and "usage" in r.stderr


def test_postsuper_purges_abandoned_temporary_files(q):
    stale = os.path.join(q.root, "tmp", "0000000001")
    fresh = os.path.join(q.root, "tmp", "0000000002")
    for p in (stale, fresh):
        with open(p, "w") as f:
            f.write("half a message")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    r = q.tool("postsuper", "-p")
    assert "Removed: 1 temporary file" in r.stderr
    assert not os.path.exists(stale) and os.path.exists(fresh)


def test_corrupt_and_incomplete_files_are_not_listed(q):
    good = q.add("sender a@example.test\nrcpt b@example.test\n", "deferred")
    bad = os.path.join(q.root, "incoming", "0000000003")
    with open(bad, "w") as f:
        f.write("TERNQF\r\n this is no queue file")
    r = q.tool("mailq")
    assert "0000000003" in r.stderr  # warned about
    assert good in r.stdout and "0000000003" not in r.stdout
    assert r.stdout.endswith("in 1 Request.\n")


def test_flush_without_a_running_qmgr(q):
    r = q.tool("postqueue", "-f", check=False)
    assert r.returncode == 69
    assert "not running" in r.stderr
    r = q.tool("postqueue", "-i", "not-an-id", check=False)
    assert r.returncode == 64
    r = q.tool("postqueue", "-s", "bad site", check=False)
    assert r.returncode == 64


class FakeQmgr:
    """Plays the qmgr's side of public/qmgr as docs/queue.md specifies it,
    recording each request and answering with a scripted reply."""

    def __init__(self, path, reply):
        self.path = path
        self.reply = reply
        self.requests = []
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            while True:
                c, _ = self.sock.accept()
                c.settimeout(10)
                data = b""
                while b"\n\n" not in data:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append(ternattr.decode(data))
                c.sendall(ternattr.encode(self.reply))
                c.close()
        except OSError:
            pass

    def close(self):
        self.sock.close()
        self.thread.join(5)


def test_flush_requests(q):
    path = os.path.join(q.root, "public", "qmgr")
    fake = FakeQmgr(path, [("status", "ok")])
    try:
        assert q.tool("postqueue", "-f").returncode == 0
        assert q.tool("postqueue", "-i", "0123456789").returncode == 0
        assert q.tool("postqueue", "-s", "example.net").returncode == 0
    finally:
        fake.close()
    assert fake.requests == [
        [("request", "flush")],
        [("request", "flush"), ("queue_id", "0123456789")],
        [("request", "flush"), ("site", "example.net")],
    ]
    fake = FakeQmgr(path, [("status", "error"), ("reason", "no such message")])
    try:
        r = q.tool("postqueue", "-i", "0123456789", check=False)
    finally:
        fake.close()
    assert r.returncode != 0
    assert "no such message" in r.stderr


def test_release_wakes_the_qmgr(q):
    qid = q.add("sender a@example.test\nrcpt b@example.test\n", "hold")
    fake = FakeQmgr(os.path.join(q.root, "public", "qmgr"), [("status", "ok")])
    try:
        q.tool("postsuper", "-H", qid)
        deadline = time.time() + 5
        while not fake.requests and time.time() < deadline:
            time.sleep(0.05)
    finally:
        fake.close()
    assert fake.requests == [[("request", "wakeup")]]


def test_listing_many_messages_is_fast(q):
    q.add("sender a@example.test\nrcpt b@example.test\nrcpt c@example.test\n"
          "defer 0 4.4.1 host mx.example.net[192.0.2.1] said: 451 4.3.0 try later\n", "deferred", count=5000)
    t = time.monotonic()
    out = q.tool("mailq").stdout
    took = time.monotonic() - t
    assert out.endswith("in 5000 Requests.\n")
    assert took < 2.0, f"mailq took {took:.2f}s for 5000 messages"
