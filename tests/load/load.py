#!/usr/bin/python3
"""load.py - the load figures of docs/reliability.md: N concurrent SMTP
sessions (each: greeting, EHLO, MAIL, RCPT, DATA, QUIT, all opened before
any sends its message; smtpd's content check asks spamd about each, and
every message must get a verdict, not "unchecked") and M idle IMAP sessions (logged in, INBOX selected)
against one instance on this machine, with the daemons' memory (RSS)
sampled while the sessions are open. Not part of `make check` (minutes).

Usage (from a build tree, as root or not):
  /usr/bin/python3 tests/load/load.py [--smtp 1000] [--imap 5000] [--hold 30]

Exit status 1 when any session failed or memory kept growing while idle."""
import argparse
import asyncio
import os
import resource
import ssl
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.abspath(os.path.join(HERE, "..", ".."))
os.environ.setdefault("TERN_SRC", SRC)
os.environ.setdefault("TERN_BUILD", os.getcwd() if os.path.exists("run/tern") else SRC)
sys.path.insert(0, os.path.join(SRC, "tests", "integration"))
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))
from conftest import Instance, have_program, wait_for  # noqa: E402


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def daemon_rss(inst, command):
    """Total RSS (KB) of every process of the instance running `command`."""
    total = 0
    for pid in inst.processes():
        try:
            exe = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode()
        except OSError:
            continue
        if os.path.basename(exe) == command:
            total += rss_kb(pid)
    return total


# ---------------------------------------------------------------- SMTP

async def smtp_session(host, port, source, i, opened, go, results):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=(source, 0)), 60)

        async def reply():
            while True:
                line = await asyncio.wait_for(r.readline(), 120)
                if not line:
                    raise EOFError("closed")
                if line[3:4] != b"-":
                    return int(line[:3])

        assert await reply() == 220
        w.write(b"EHLO load.example.test\r\n")
        assert await reply() == 250
        opened.append(i)
        await go.wait()
        w.write(b"MAIL FROM:<load@example.org>\r\n")
        assert await reply() == 250
        w.write(b"RCPT TO:<alice@example.test>\r\n")
        assert await reply() == 250
        w.write(b"DATA\r\n")
        assert await reply() == 354
        w.write(b"Subject: load %d\r\n\r\n" % i + b"x" * 2000 + b"\r\n.\r\n")
        code = await reply()
        assert code == 250, code
        w.write(b"QUIT\r\n")
        await reply()
        w.close()
        results["ok"] += 1
    except Exception as e:  # counted, reported
        results["errors"].append(f"session {i}: {e!r}")


async def smtp_load(inst, n):
    host, port = inst.addr("smtp")
    opened, results, go = [], {"ok": 0, "errors": []}, asyncio.Event()
    # 50 connections per client address is smtpd's default limit: spread the sessions
    tasks = [asyncio.create_task(smtp_session(host, port, f"127.0.{1 + i // 40}.{10 + i % 40}", i, opened, go,
                                              results)) for i in range(n)]
    t0 = time.time()
    while len(opened) + len(results["errors"]) < n and time.time() - t0 < 120:
        await asyncio.sleep(0.1)
    t_open = time.time() - t0
    samples = [daemon_rss(inst, "smtpd")]
    for _ in range(3):
        await asyncio.sleep(2)
        samples.append(daemon_rss(inst, "smtpd"))
    t1 = time.time()
    go.set()
    await asyncio.gather(*tasks)
    t_send = time.time() - t1
    samples.append(daemon_rss(inst, "smtpd"))
    return {"sessions": n, "opened": len(opened), "ok": results["ok"], "errors": results["errors"],
            "open_s": t_open, "send_s": t_send, "rss_kb": samples}


# ---------------------------------------------------------------- IMAP

async def imap_session(host, port, i, user, password, opened, results, stop):
    try:
        r, w = await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=(f"127.1.{i // 200}.{1 + i % 200}", 0)), 60)
        line = await asyncio.wait_for(r.readline(), 60)
        assert line.startswith(b"* OK"), line

        async def cmd(tag, text):
            w.write(b"%s %s\r\n" % (tag, text))
            while True:
                line = await asyncio.wait_for(r.readline(), 120)
                if not line:
                    raise EOFError("closed")
                if line.startswith(tag + b" "):
                    assert line.split()[1] == b"OK", line
                    return

        await cmd(b"a1", b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
        await cmd(b"a2", b"SELECT INBOX")
        opened.append(i)
        await stop.wait()
        await cmd(b"a3", b"LOGOUT")
        w.close()
        results["ok"] += 1
    except Exception as e:
        results["errors"].append(f"imap session {i}: {e!r}")


async def imap_load(inst, m, hold):
    host, port = inst.addr("imap")
    opened, results, stop = [], {"ok": 0, "errors": []}, asyncio.Event()
    tasks = []
    t0 = time.time()
    samples = []
    for i in range(m):
        user = "alice" if i % 2 == 0 else "bob"
        tasks.append(asyncio.create_task(imap_session(host, port, i, f"{user}@example.test", f"secret-{user}",
                                                      opened, results, stop)))
        if i % 100 == 99:
            await asyncio.sleep(0.05)  # a steady arrival, not one burst
    while len(opened) + len(results["errors"]) < m and time.time() - t0 < 300:
        await asyncio.sleep(0.2)
    t_open = time.time() - t0
    for _ in range(max(1, hold // 5)):
        samples.append(daemon_rss(inst, "imapd"))
        await asyncio.sleep(5)
    samples.append(daemon_rss(inst, "imapd"))
    stop.set()
    await asyncio.gather(*tasks)
    return {"sessions": m, "opened": len(opened), "ok": results["ok"], "errors": results["errors"],
            "open_s": t_open, "rss_kb": samples}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--smtp", type=int, default=1000)
    ap.add_argument("--imap", type=int, default=5000)
    ap.add_argument("--hold", type=int, default=30, help="seconds the idle IMAP sessions are held")
    ap.add_argument("--no-content-check", action="store_true", help="SMTP without smtpd's content check (spamd)")
    a = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    need = max(a.smtp, a.imap) * 2 + 200
    if hard < need:
        print(f"RLIMIT_NOFILE hard limit {hard} is below {need}", file=sys.stderr)
        return 1
    d = tempfile.mkdtemp(prefix="tern-load-", dir="/tmp")
    os.chmod(d, 0o755)
    inst = Instance(os.path.join(d, "inst"), users=(("alice", "secret-alice"), ("bob", "secret-bob")))
    settings = {"smtpd_client_connection_count_limit": "0"}
    content = not a.no_content_check and have_program("spamd")
    if content:
        settings["smtpd_content_check_service"] = "private/spamc"
    if have_program("imapd"):
        settings["imapd_allow_plaintext_auth"] = "yes"
        settings["imapd_user_session_limit"] = "0"
    inst.set_main_cf(settings)
    inst.start()
    failed = False
    try:
        print(f"machine: {os.cpu_count()} cores; instance {inst.dir}")
        if a.smtp:
            r = asyncio.run(smtp_load(inst, a.smtp))
            print(f"SMTP: {r['sessions']} concurrent sessions, {r['opened']} open after {r['open_s']:.1f} s, "
                  f"{r['ok']} messages answered 250 in {r['send_s']:.1f} s, {len(r['errors'])} errors; "
                  f"smtpd RSS (KB) all open, then every 2 s, then after the messages: {r['rss_kb']}")
            for e in r["errors"][:10]:
                print("  " + e)
            failed |= bool(r["errors"]) or r["ok"] != a.smtp or r["rss_kb"][3] - r["rss_kb"][0] > 2048
            if content:
                log = inst.log()
                unchecked = log.count("content check failed")
                print(f"content check: {log.count('content check: verdict=')} verdicts, {unchecked} unchecked")
                failed |= unchecked > 0
        if a.imap and have_program("imapd"):
            r = asyncio.run(imap_load(inst, a.imap, a.hold))
            growth = r["rss_kb"][-1] - r["rss_kb"][0]
            print(f"IMAP: {r['sessions']} idle sessions, {r['opened']} logged in + INBOX selected after "
                  f"{r['open_s']:.1f} s, {len(r['errors'])} errors; imapd RSS (KB) every 5 s while idle: "
                  f"{r['rss_kb']} (growth {growth} KB)")
            for e in r["errors"][:10]:
                print("  " + e)
            failed |= bool(r["errors"]) or growth > max(2048, r["rss_kb"][0] // 20)
        elif a.imap:
            print("IMAP: no imapd in this build; skipped")
        log = inst.log()
        if failed:
            errs = [l for l in log.splitlines() if ": error: " in l or "warning" in l or "fatal" in l]
            print("maillog, first error lines:\n  " + "\n  ".join(errs[:8]))
        for bad in ("fatal", "panic", "Sanitizer"):
            if bad in log:
                print(f"maillog has {bad!r} lines")
                failed = True
    finally:
        inst.stop()
        inst.kill_all()
        import shutil
        shutil.rmtree(d, ignore_errors=True)
    print("load: " + ("FAILED" if failed else "ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
