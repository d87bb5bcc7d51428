"""m4_imap.py - metric 4, IMAP, tern imapd vs Dovecot.

fetch: a folder of 10,000 messages of 4 KB (the same generated files in
both stores, bench/mailstore.py); per round: connect, LOGIN, SELECT INBOX,
`FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[])`, LOGOUT; messages/second of
the whole sequence. The first (untimed) round builds both servers' indexes;
its time is reported as "first open".

idle: 1,000 sessions (100 users x 10), each LOGIN, SELECT INBOX (20
messages), IDLE; then the RSS (and PSS) summed over every process of the
instance, minus the same sum before the sessions, divided by the sessions."""
import os
import time

from common import Report, alternate, cpu_seconds, log, memory_kb, sh, stop_all
from imapclient import Imap
from instances import PASSWORD, Dovecot, Tern
from mailstore import fill_maildir

SIZE = 4096


def setup(ctx, name, users, per_user_msgs):
    tern = Tern(ctx, name, users=users, main_cf={"imapd_allow_plaintext_auth": "yes",
                                                 "pop3d_allow_plaintext_auth": "yes",
                                                 "imapd_user_session_limit": "0"})
    if not tern.has("imapd") and name.startswith("imap"):
        raise RuntimeError("metric 4 needs tern's imapd (not in this build)")
    owner = tern.mail_owner()
    hashes = {u: tern.user_hash(u) for u in users}
    dove = Dovecot(ctx, users, hashes, owner, name=f"dovecot-{name}", max_sessions=1000)
    for u in users:
        for path in (tern.maildir(u), dove.maildir(u)):
            fill_maildir(path, per_user_msgs, SIZE, owner)
            os.chown(os.path.dirname(path), owner.pw_uid, owner.pw_gid)
    return tern, dove


def fetch_round(side, user, count):
    cpu0 = cpu_seconds(side.processes())
    t0 = time.monotonic()
    c = Imap(side.port("imap"))
    c.login(side.login(user), PASSWORD)
    lines, _ = c.cmd("SELECT INBOX")
    exists = [ln for ln in lines if ln.endswith(b" EXISTS")]
    if not exists or int(exists[0].split()[1]) != count:
        raise RuntimeError(f"SELECT: expected {count} messages, got {exists}")
    nbytes = c.bulk("FETCH 1:* (UID FLAGS RFC822.SIZE BODY.PEEK[])")
    if nbytes < count * SIZE:
        raise RuntimeError(f"FETCH returned only {nbytes} bytes")
    c.close()
    elapsed = time.monotonic() - t0
    time.sleep(0.3)  # a per-session server process is reaped (its CPU counted) by now
    return dict(rate=count / elapsed, cpu_us=1e6 * (cpu_seconds(side.processes()) - cpu0) / count)


def run_fetch(ctx):
    count = 1000 if ctx.quick else 10000
    tern, dove = setup(ctx, "imap", ["user"], count)
    rep = Report(ctx, "imap", "Metric 4a: IMAP login + select + fetch of a large folder", "dovecot",
                 method=(f"{count} messages of {SIZE} bytes in INBOX (identical maildir files on both sides). "
                         "One round = connect, LOGIN, SELECT INBOX, `FETCH 1:* (UID FLAGS RFC822.SIZE "
                         "BODY.PEEK[])`, LOGOUT, timed as a whole; rate = messages / time. The client "
                         "(bench/imapclient.py) only counts bytes. A first untimed round per side builds "
                         "the indexes (\"first open\": the same sequence on a folder never opened)."),
                 settings={"tern": tern.settings, "dovecot": dove.settings})
    try:
        tern.start()
        dove.start()
        first = {"tern": [fetch_round(tern, "user", count)], "dovecot": [fetch_round(dove, "user", count)]}
        res = alternate(ctx.rounds, {
            "tern": lambda r: fetch_round(tern, "user", count),
            "dovecot": lambda r: fetch_round(dove, "user", count),
        })
        rep.add_from("fetch rate", "msg/s", "higher", res, "rate", ("ratio>=", 1.0))
        rep.add_from("server CPU", "us/msg", "lower", res, "cpu_us")
        rep.add_from("first open rate", "msg/s", "higher", first, "rate")
    finally:
        stop_all(tern, dove)
    rep.finish()
    return rep


def idle_round(side, users, sessions):
    # warm-up: a few sessions opened and closed, so lazily built state (auth
    # connections, caches, pools) is in the baseline, not in the per-session cost
    for u in users[:10]:
        c = Imap(side.port("imap"))
        c.login(side.login(u), PASSWORD)
        c.cmd("SELECT INBOX")
        c.close()
    time.sleep(2)
    base_rss, base_pss = memory_kb(side.processes())
    conns = []
    try:
        for i in range(sessions):
            c = Imap(side.port("imap"))
            c.login(side.login(users[i % len(users)]), PASSWORD)
            c.cmd("SELECT INBOX")
            c.send("IDLE")
            ln = c.line()
            while not ln.startswith(b"+"):
                ln = c.line()
            conns.append(c)
        time.sleep(2)  # let login processes exit and allocations settle
        rss, pss = memory_kb(side.processes())
        n = len(side.processes())
    finally:
        for c in conns:
            try:
                c.s.sendall(b"DONE\r\n")
                c.s.close()
            except OSError:
                pass
    time.sleep(2)
    return dict(rss_kb=(rss - base_rss) / sessions, pss_kb=(pss - base_pss) / sessions, procs=n)


def run_idle(ctx):
    sessions = 100 if ctx.quick else 1000
    users = [f"idle{i:03d}" for i in range(10 if ctx.quick else 100)]
    tern, dove = setup(ctx, "imapidle", users, 20)
    rep = Report(ctx, "imapidle", "Metric 4b: memory per idle IMAP session (IDLE)", "dovecot",
                 method=(f"{sessions} sessions over {len(users)} users (INBOX of 20 messages each), each: "
                         "LOGIN, SELECT INBOX, IDLE (until the + continuation). Memory = RSS summed over every "
                         "process of the instance (Dovecot: master and all children; tern: master and its "
                         "daemons) with the sessions open, minus the same sum before, per session. PSS (shared "
                         "pages divided among their users) is shown too; RSS is the issue's measure."),
                 settings={"tern": tern.settings, "dovecot": dove.settings})
    sh(["prlimit", f"--pid={os.getpid()}", "--nofile=65536:65536"], check=False)
    try:
        import resource
        resource.setrlimit(resource.RLIMIT_NOFILE, (65536, 65536))
    except (ValueError, OSError):
        pass
    try:
        tern.start()
        dove.start()
        res = alternate(ctx.rounds, {
            "tern": lambda r: idle_round(tern, users, sessions),
            "dovecot": lambda r: idle_round(dove, users, sessions),
        })
        rep.add_from("RSS per idle session", "KiB", "lower", res, "rss_kb", ("ratio<=", 0.1))
        rep.add_from("PSS per idle session", "KiB", "lower", res, "pss_kb")
        rep.note(f"processes with the sessions open: tern {res['tern'][-1]['procs']}, "
                 f"dovecot {res['dovecot'][-1]['procs']}")
    finally:
        stop_all(tern, dove)
    rep.finish()
    return rep
