"""m1_e2e.py - metric 1: SMTP in -> queue -> local maildir, end to end.
smtp-source sends N messages of 4 KB over S parallel sessions (a new
connection per message, smtp-source's default) to user@bench.test; the
clock runs from smtp-source's start until the N-th file is in the user's
maildir new/ (polled every 50 ms). tern: smtpd -> qmgr -> local-delivery;
Postfix: smtpd -> cleanup -> qmgr -> virtual(8)."""
import os
import shutil
import subprocess
import time

from common import Report, alternate, count_files, cpu_seconds, log, stop_all, wait_until
from instances import Postfix, Tern

SIZE = 4096


def smtp_source(port, n, sessions, rcpt, timeout):
    cmd = ["smtp-source", "-s", str(sessions), "-m", str(n), "-l", str(SIZE), "-f", "sender@x.test",
           "-t", rcpt, f"127.0.0.1:{port}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"smtp-source failed: {r.stderr.strip()[:500]}")


def set_aside(maildir):
    """Move a full maildir out of the way (the server makes a new one at the
    next delivery): unlinking 20,000 files between rounds took a minute on a
    loaded disk. The old ones are removed at the end (remove_set_aside)."""
    if os.path.isdir(maildir):
        n = 0
        while os.path.exists(f"{maildir}.done{n}"):
            n += 1
        os.rename(maildir, f"{maildir}.done{n}")


def remove_set_aside(maildir):
    parent, base = os.path.split(maildir)
    for name in os.listdir(parent):
        if name.startswith(base + ".done"):
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)


def trial(side, n, sessions, timeout):
    new = os.path.join(side.maildir("user"), "new")
    set_aside(side.maildir("user"))
    procs = side.processes()
    cpu0 = cpu_seconds(procs)
    t0 = time.monotonic()
    smtp_source(side.port("smtp"), n, sessions, side.address("user"), timeout)
    t_in = time.monotonic() - t0
    wait_until(lambda: count_files(new) >= n, timeout, 0.05, f"{n} messages in {new}")
    elapsed = time.monotonic() - t0
    cpu = cpu_seconds(side.processes()) - cpu0
    return dict(rate=n / elapsed, in_rate=n / t_in, cpu_ms=1000 * cpu / n)


def run(ctx, sessions):
    n = {1: 5000, 20: 20000, 100: 20000}.get(sessions, 20000)
    if ctx.quick:
        n = min(n, 500 if sessions == 1 else 2000)
    timeout = 600
    tern = Tern(ctx, f"e2e{sessions}")
    postfix = Postfix(ctx, f"postfix-e2e{sessions}")
    if not tern.has("qmgr") or not tern.has("local-delivery"):
        raise RuntimeError("metric 1 needs tern's qmgr and local-delivery (not in this build)")
    rep = Report(ctx, f"e2e{sessions}", f"Metric 1: SMTP -> queue -> maildir, {sessions} session(s)", "postfix",
                 method=(f"`smtp-source -s {sessions} -m {n} -l {SIZE} -f sender@x.test -t user@bench.test "
                         "127.0.0.1:PORT` (a new connection per message); time from its start until the "
                         f"{n}th file is in the maildir's new/ (polled every 50 ms). Rounds alternate which "
                         "server goes first; both instances run during the whole metric. 'accept rate' is "
                         "messages / smtp-source's own run time. 'server CPU' is user+system CPU of all the "
                         "instance's processes (and waited-for children) per message."),
                 settings={"tern": tern.settings, "postfix": postfix.settings})
    try:
        tern.start()
        postfix.start()
        for side in (tern, postfix):  # warm-up: caches, process pools, maildir creation
            trial(side, min(200, n), min(sessions, 20), timeout)
        res = alternate(ctx.rounds, {
            "tern": lambda r: trial(tern, n, sessions, timeout),
            "postfix": lambda r: trial(postfix, n, sessions, timeout),
        })
        target = ("ratio>=", 2.0) if sessions == 20 else ("ratio>=", 1.0)
        rep.add_from(f"end-to-end rate {sessions}s", "msg/s", "higher", res, "rate", target)
        rep.add_from(f"accept rate {sessions}s", "msg/s", "higher", res, "in_rate")
        rep.add_from(f"server CPU {sessions}s", "ms/msg", "lower", res, "cpu_ms")
    finally:
        stop_all(tern, postfix)
    rep.finish()
    for side in (tern, postfix):
        remove_set_aside(side.maildir("user"))
    return rep
