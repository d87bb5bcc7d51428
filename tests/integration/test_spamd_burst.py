"""test_spamd_burst.py - a burst of simultaneous DATA ends against smtpd
with its content check (smtpd_content_check_service = private/spamc):
TERN_BURST_SESSIONS (default 400) SMTP sessions are opened and brought to
the end of their message text, then all send the final "." at once, so
that smtpd opens that many connections to spamd's content socket in the
same instant. Every message must be answered 250 and carry a real
X-Spam-Status verdict: none may fall back to "unchecked" (the load run of
docs/reliability.md lost ~820 checks this way, when the connects to the
full UNIX-socket backlog were taken for finished). The same burst at RCPT
against smtpd's policy client and a slow policy server. Bounded: a few
seconds on the 2-core machine; every wait has a timeout."""
import asyncio
import glob
import os
import re
import resource
import selectors
import socket
import threading
import time

import pytest
from conftest import have_program, wait_for

pytestmark = pytest.mark.skipif(not (have_program("spamd") and have_program("smtpd")),
                                reason="spamd or smtpd not built")

SESSIONS = int(os.environ.get("TERN_BURST_SESSIONS", "400"))


async def smtp_open(host, port, i, opening):
    """Connect session i and read the greeting; returns the writer and a
    reply() that reads one (multi-line) reply as (code, last line)."""
    r = None

    async def reply():
        while True:
            line = await asyncio.wait_for(r.readline(), 60)
            if not line:
                raise EOFError("connection closed")
            if line[3:4] != b"-":
                return int(line[:3]), line

    async with opening:  # a few connects at a time: no TCP accept-queue overflow
        # smtpd's default limit is 50 connections per client: spread them
        r, w = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=(f"127.0.{2 + i // 40}.{10 + i % 40}", 0)), 30)
        assert (await reply())[0] == 220
    return w, reply


async def session(host, port, i, opening, ready, go, results):
    try:
        w, reply = await smtp_open(host, port, i, opening)
        for cmd, want in ((b"EHLO burst.example.test", 250), (b"MAIL FROM:<burst@remote.example>", 250),
                          (b"RCPT TO:<alice@example.test>", 250), (b"DATA", 354)):
            w.write(cmd + b"\r\n")
            code, line = await reply()
            assert code == want, (cmd, line)
        w.write(b"From: burst@remote.example\r\nTo: alice@example.test\r\nSubject: burst %d\r\n\r\n" % i +
                b"burst message body, words for the classifier\r\n")
        await w.drain()
        ready.append(i)
        await go.wait()
        w.write(b".\r\n")
        code, line = await reply()
        assert code == 250, line
        results["ok"] += 1
        w.write(b"QUIT\r\n")
        await reply()
        w.close()
    except Exception as e:  # counted and reported by the test
        results["errors"].append(f"session {i}: {e!r}")


async def burst(host, port, n, one=None):
    """n sessions of `one` (default: a message each), opened 8 at a time;
    each waits at its last step until all are there, then all go at once."""
    one = one or session
    ready, results, go = [], {"ok": 0, "errors": []}, asyncio.Event()
    opening = asyncio.Semaphore(8)
    tasks = [asyncio.create_task(one(host, port, i, opening, ready, go, results)) for i in range(n)]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while len(ready) + len(results["errors"]) < n and loop.time() < deadline:
        await asyncio.sleep(0.05)
    go.set()  # every session ends its DATA in the same instant
    await asyncio.wait_for(asyncio.gather(*tasks), 90)
    return len(ready), results


def delivered(inst):
    """{subject number: X-Spam-Status line} of the messages in alice's maildir."""
    out = {}
    for p in glob.glob(os.path.join(inst.maildir("alice"), "*", "*")):
        try:
            data = open(p, "rb").read()
        except OSError:
            continue
        head = data.split(b"\n\n", 1)[0] + b"\n"
        m = re.search(rb"\nSubject: burst (\d+)\n", head)
        if m:
            s = re.search(rb"\nX-Spam-Status: ([^\n]*)", head)
            out[int(m.group(1))] = s.group(1).decode() if s else ""
    return out


# The master's default backlog (4096) and its smallest (16): with 16, the
# burst overflows spamd's listen queue many times over, as a larger burst
# (or a host with net.core.somaxconn = 128) does with the default.
@pytest.mark.parametrize("backlog", [None, 16])
def test_burst_of_content_checks_gets_real_verdicts(make_instance, backlog):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SESSIONS * 2 + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, SESSIONS * 2 + 200), hard))
    inst = make_instance()
    settings = {"smtpd_content_check_service": "private/spamc", "smtpd_client_connection_count_limit": "0"}
    if backlog:
        settings["master_listen_backlog"] = str(backlog)
    inst.set_main_cf(settings)
    inst.start()
    host, port = inst.addr("smtp")
    ready, results = asyncio.run(burst(host, port, SESSIONS))
    assert not results["errors"], f"{len(results['errors'])} sessions failed: {results['errors'][:5]}"
    assert ready == SESSIONS and results["ok"] == SESSIONS
    got = wait_for(lambda: (lambda d: d if len(d) == SESSIONS else None)(delivered(inst)), 60,
                   what=f"{SESSIONS} delivered messages")
    unchecked = {i: s for i, s in got.items() if not re.match(r"(Yes|No), score=\d", s)}
    log = inst.log()
    failed = [l for l in log.splitlines() if "content check failed" in l]
    assert not unchecked and not failed, (f"{len(unchecked)} of {SESSIONS} messages without a verdict, e.g. "
                                          f"{list(unchecked.items())[:3]}; log: {failed[:3]}")
    assert len(re.findall(r"content check: verdict=", log)) == SESSIONS


async def rcpt_session(host, port, i, opening, ready, go, results):
    try:
        w, reply = await smtp_open(host, port, i, opening)
        for cmd in (b"EHLO burst.example.test", b"MAIL FROM:<burst@remote.example>"):
            w.write(cmd + b"\r\n")
            code, line = await reply()
            assert code == 250, (cmd, line)
        ready.append(i)
        await go.wait()
        w.write(b"RCPT TO:<alice@example.test>\r\n")  # every session asks the policy service now
        code, line = await reply()
        assert code == 250, line
        results["ok"] += 1
        w.write(b"QUIT\r\n")
        await reply()
        w.close()
    except Exception as e:
        results["errors"].append(f"session {i}: {e!r}")


class SlowPolicyServer:
    """A policy server (Postfix's protocol: attribute lines, an empty line;
    reply action=DUNNO) that listens with a queue of 4 and starts accepting
    only `delay` seconds after the first connection, as a busy server does:
    a burst overflows its listen queue."""

    def __init__(self, path, delay):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(4)
        self.sock.setblocking(False)
        self.delay = delay
        self.answered = 0
        self.stop = False
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ, None)
        first = None
        while not self.stop:
            for key, _ in sel.select(0.05):
                if key.data is None:
                    if first is None:
                        first = time.time()
                    if time.time() - first < self.delay:
                        continue  # not accepting yet: the queue fills up
                    try:
                        while True:
                            c, _ = self.sock.accept()
                            c.setblocking(False)
                            sel.register(c, selectors.EVENT_READ, [b""])
                    except BlockingIOError:
                        pass
                    continue
                c = key.fileobj
                try:
                    d = c.recv(65536)
                except OSError:
                    d = b""
                if not d:
                    sel.unregister(c)
                    c.close()
                    continue
                key.data[0] += d
                while b"\n\n" in key.data[0]:
                    _, key.data[0] = key.data[0].split(b"\n\n", 1)
                    c.setblocking(True)
                    c.sendall(b"action=DUNNO\n\n")
                    c.setblocking(False)
                    self.answered += 1
            if first is not None and time.time() - first < self.delay:
                time.sleep(0.01)
        sel.close()

    def close(self):
        self.stop = True
        self.t.join(2)
        self.sock.close()


def test_burst_of_policy_checks_is_answered(make_instance):
    """The same burst at RCPT against check_policy_service (smtpd's policy
    client connects on its own, not through ipc_async), served by a policy
    server that is busy for the first 0.3 s: a full listen queue is waited
    for, so no RCPT gets the policy service's default action."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < SESSIONS * 2 + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, SESSIONS * 2 + 200), hard))
    inst = make_instance()
    inst.set_main_cf({"smtpd_client_connection_count_limit": "0",
                      "smtpd_recipient_restrictions":
                          "reject_unauth_destination, check_policy_service unix:private/slowpolicy"})
    server = SlowPolicyServer(os.path.join(inst.dir, "queue", "private", "slowpolicy"), 0.3)
    try:
        inst.start()
        ready, results = asyncio.run(burst(*inst.addr("smtp"), SESSIONS, rcpt_session))
    finally:
        server.close()
    problems = [l for l in inst.log().splitlines() if "problem talking to policy service" in l]
    assert not results["errors"] and not problems, (f"{len(results['errors'])} sessions failed: "
                                                    f"{results['errors'][:3]}; log: {problems[:3]}")
    assert ready == SESSIONS and results["ok"] == SESSIONS
    assert server.answered == SESSIONS
