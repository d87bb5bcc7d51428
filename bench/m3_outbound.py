"""m3_outbound.py - metric 3: outbound relaying. smtp-source sends N
messages of 4 KB over 20 sessions to user@remote.test; tern and Postfix both
relay everything to relayhost [127.0.0.1]:SINK, where Postfix's smtp-sink
(one per trial, `-M N`: it exits after the N-th message) accepts them. The
clock runs from smtp-source's start until smtp-sink has exited, so a round
measures SMTP in -> queue -> SMTP out for the whole batch."""
import subprocess
import time

from common import Report, alternate, cpu_seconds, free_port, log, stop_all, wait_port
from instances import Postfix, Tern
from m1_e2e import SIZE, smtp_source

RCPT = "user@remote.test"


def start_sink(port, n):
    p = subprocess.Popen(["smtp-sink", "-u", "nobody", "-M", str(n), f"127.0.0.1:{port}", "1024"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port)
    return p


def trial(side, sink_port, n, sessions, timeout):
    sink = start_sink(sink_port, n)
    try:
        procs = side.processes()
        cpu0 = cpu_seconds(procs)
        t0 = time.monotonic()
        smtp_source(side.port("smtp"), n, sessions, RCPT, timeout)
        t_in = time.monotonic() - t0
        try:
            sink.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"smtp-sink did not get {n} messages within {timeout}s")
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(side.processes()) - cpu0
        return dict(rate=n / elapsed, in_rate=n / t_in, cpu_ms=1000 * cpu / n)
    finally:
        if sink.poll() is None:
            sink.kill()
            sink.wait()


def run(ctx):
    n = 1000 if ctx.quick else 10000
    sessions = 20
    timeout = 600
    sink_port = free_port()
    relay = f"[127.0.0.1]:{sink_port}"
    tern = Tern(ctx, "outbound", main_cf={"relayhost": relay})
    postfix = Postfix(ctx, "postfix-outbound", main_cf={"relayhost": relay})
    if not tern.has("qmgr") or not tern.has("smtp-client"):
        raise RuntimeError("metric 3 needs tern's qmgr and smtp-client (not in this build)")
    rep = Report(ctx, "outbound", "Metric 3: outbound relaying to smtp-sink", "postfix",
                 method=(f"`smtp-source -s {sessions} -m {n} -l {SIZE} -t {RCPT} 127.0.0.1:PORT` into the server, "
                         f"relayhost `{relay}` where `smtp-sink -M {n}` accepts everything and exits after the "
                         f"{n}th message; time from smtp-source's start to smtp-sink's exit. Default concurrency "
                         "and connection caching on both sides."),
                 settings={"tern": tern.settings, "postfix": postfix.settings})
    try:
        tern.start()
        postfix.start()
        for side in (tern, postfix):
            trial(side, sink_port, 100, sessions, timeout)
        res = alternate(ctx.rounds, {
            "tern": lambda r: trial(tern, sink_port, n, sessions, timeout),
            "postfix": lambda r: trial(postfix, sink_port, n, sessions, timeout),
        })
        rep.add_from("relay rate", "msg/s", "higher", res, "rate", ("ratio>=", 1.5))
        rep.add_from("accept rate", "msg/s", "higher", res, "in_rate")
        rep.add_from("server CPU", "ms/msg", "lower", res, "cpu_ms")
    finally:
        stop_all(tern, postfix)
    rep.finish()
    return rep
