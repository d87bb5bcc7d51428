"""test_spamd_burst.py - a burst of simultaneous DATA ends against smtpd
with its content check (smtpd_content_check_service = private/spamc):
TERN_BURST_SESSIONS (default 400) SMTP sessions are opened and brought to
the end of their message text, then all send the final "." at once, so
that smtpd opens that many connections to spamd's content socket in the
same instant. Every message must be answered 250 and carry a real
X-Spam-Status verdict: none may fall back to "unchecked" (the load run of
docs/reliability.md lost ~820 checks this way, when the connects to the
full UNIX-socket backlog were taken for finished). Bounded: about 10 s
on the 2-core machine, every wait has a timeout."""
import asyncio
import glob
import os
import re
import resource

import pytest
from conftest import have_program, wait_for

pytestmark = pytest.mark.skipif(not (have_program("spamd") and have_program("smtpd")),
                                reason="spamd or smtpd not built")

SESSIONS = int(os.environ.get("TERN_BURST_SESSIONS", "400"))


async def session(host, port, i, opening, ready, go, results):
    try:
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


async def burst(host, port, n):
    ready, results, go = [], {"ok": 0, "errors": []}, asyncio.Event()
    opening = asyncio.Semaphore(8)
    tasks = [asyncio.create_task(session(host, port, i, opening, ready, go, results)) for i in range(n)]
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
