"""m2_latency.py - metric 2: SMTP acceptance latency, from the end of DATA
(the last byte of <CRLF>.<CRLF> sent) to the 250 reply (read), p50 and p99.
Client: bench/smtpclient.py (ours; one thread per session, one connection
per session, one command at a time). Two loads: 1 session (the unloaded
latency: one message's fsyncs) and 20 sessions (under load, where group
commit matters). Delivery runs as usual behind it on both sides."""
from common import Report, alternate, log, percentile, stop_all
from instances import Postfix, Tern
from smtpclient import latencies


def run(ctx):
    loads = [(1, 300), (20, 100)]
    if ctx.quick:
        loads = [(1, 50), (20, 20)]
    tern = Tern(ctx, "latency")
    postfix = Postfix(ctx, "postfix-latency")
    rep = Report(ctx, "latency", "Metric 2: SMTP acceptance latency (end of DATA -> 250)", "postfix",
                 method=("bench/smtpclient.py: per session one connection, EHLO once, then per message MAIL, "
                         "RCPT, DATA (each waiting for its reply), a 4 KB message, and `.`; the clock starts when "
                         "the last byte of the end-of-data has been written to the socket and stops when the "
                         "250 line is read (time.perf_counter). Loads: "
                         + ", ".join(f"{s} session(s) x {m} messages" for s, m in loads)
                         + ". Percentiles are nearest-rank over all messages of a round; the table shows the "
                         "median over rounds. Delivery to the maildir runs behind it on both sides "
                         "(tern only when this build has the qmgr)."),
                 settings={"tern": tern.settings, "postfix": postfix.settings})
    if not tern.has("qmgr"):
        rep.note("this build has no qmgr: tern's messages stay in incoming/ (no delivery work competes)")
    try:
        tern.start()
        postfix.start()
        for side in (tern, postfix):
            latencies(side.port("smtp"), 5, 10)
        for sessions, per in loads:
            res = alternate(ctx.rounds, {
                "tern": lambda r: latencies(tern.port("smtp"), sessions, per)[0],
                "postfix": lambda r: latencies(postfix.port("smtp"), sessions, per)[0],
            })
            for p in (50, 99):
                rep.add(f"p{p} {sessions}s", "ms", "lower",
                        [1000 * percentile(x, p) for x in res["tern"]],
                        [1000 * percentile(x, p) for x in res["postfix"]], ("ratio<=", 1.0))
    finally:
        stop_all(tern, postfix)
    rep.finish()
    return rep
