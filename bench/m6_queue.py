"""m6_queue.py - metric 6: queue scale. Both servers relay to
[127.0.0.1]:PORT where nothing listens, so every message is deferred.
smtp-source queues N (100,000) messages of 1 KB over 20 sessions; once all
N sit in deferred/: `mailq` time (median of 3), the qmgr's RSS; then
smtp-sink (-M N) starts on PORT, `postqueue -f` asks for a retry, and the
clock runs until smtp-sink has the N-th message. The qmgr's RSS is sampled
every 0.5 s during the drain; the peak is reported."""
import subprocess
import threading
import time

from common import Report, fmt, free_port, log, median, memory_kb, stop_all, wait_until
from instances import Postfix, Tern
from m1_e2e import smtp_source
from m3_outbound import start_sink

SIZE = 1024
RCPT = "user@remote.test"


def fill(side, n, timeout):
    t0 = time.monotonic()
    cmd = ["smtp-source", "-s", "20", "-m", str(n), "-l", str(SIZE), "-f", "sender@x.test", "-t", RCPT,
           f"127.0.0.1:{side.port('smtp')}"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"smtp-source: {r.stderr[:300]}")
    t_in = time.monotonic() - t0
    wait_until(lambda: side.queue_count("deferred") >= n, timeout, 1.0, f"{n} deferred messages")
    return t_in, time.monotonic() - t0


def qmgr_rss(side):
    return memory_kb(side.daemon_pids("qmgr"))[0]


def measure(side, sink_port, n, timeout):
    t_in, t_def = fill(side, n, timeout)
    log(f"  {n} deferred after {t_def:.0f} s (smtp-source {t_in:.0f} s)")
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        r = side.mailq()
        times.append(time.monotonic() - t0)
    if f"in {n} Request" not in r.stdout:
        log(f"  mailq tail: {r.stdout[-200:]!r}")
    rss_deferred = qmgr_rss(side)
    peak = [rss_deferred]
    stop = threading.Event()

    def sampler():
        while not stop.wait(0.5):
            peak[0] = max(peak[0], qmgr_rss(side))

    sink = start_sink(sink_port, n)
    th = threading.Thread(target=sampler, daemon=True)
    th.start()
    t0 = time.monotonic()
    try:
        side.flush()
        sink.wait(timeout=timeout)
        drain = time.monotonic() - t0
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"drain: smtp-sink did not get {n} messages within {timeout}s")
    finally:
        stop.set()
        th.join()
        if sink.poll() is None:
            sink.kill()
            sink.wait()
    return dict(mailq_s=median(times), qmgr_rss_mb=rss_deferred / 1024, qmgr_peak_mb=peak[0] / 1024,
                drain_s=drain, drain_rate=n / drain, fill_s=t_def)


def run(ctx):
    n = 5000 if ctx.quick else 100000
    timeout = 900
    sink_port = free_port()
    relay = f"[127.0.0.1]:{sink_port}"
    tern = Tern(ctx, "queue", main_cf={"relayhost": relay})
    postfix = Postfix(ctx, "postfix-queue", main_cf={"relayhost": relay})
    if not tern.has("qmgr") or not tern.has("smtp-client"):
        raise RuntimeError("metric 6 needs tern's qmgr and smtp-client (not in this build)")
    limit = tern.main_cf_value("qmgr_message_active_limit") or "20000"
    rep = Report(ctx, "queue", f"Metric 6: queue scale, {n} deferred messages", "postfix",
                 method=(f"relayhost `{relay}` with nothing listening; `smtp-source -s 20 -m {n} -l {SIZE} -t {RCPT}`; "
                         f"wait until {n} files are in deferred/; time `mailq` (postqueue -p) 3 times (median); "
                         "qmgr RSS then; start `smtp-sink -M N` on the relay port, `postqueue -f`, time until "
                         "smtp-sink has every message (peak qmgr RSS sampled every 0.5 s meanwhile). "
                         f"qmgr_message_active_limit = {limit} on both sides (Postfix's default)."),
                 settings={"tern": tern.settings, "postfix": postfix.settings})
    res = {}
    try:
        for name, side in (("tern", tern), ("postfix", postfix)):
            side.start()
            res[name] = [measure(side, sink_port, n, timeout)]
            log(f"  {name}: " + " ".join(f"{k}={fmt(v)}" for k, v in res[name][0].items()))
            side.stop()
        rep.add_from("mailq time", "s", "lower", res, "mailq_s", ("tern<=", 2.0))
        rep.add_from("qmgr RSS, all deferred", "MiB", "lower", res, "qmgr_rss_mb")
        rep.add_from("qmgr peak RSS in drain", "MiB", "lower", res, "qmgr_peak_mb")
        rep.add_from("drain time", "s", "lower", res, "drain_s")
        rep.add_from("time to queue and defer all", "s", "lower", res, "fill_s")
    finally:
        stop_all(tern, postfix)
    rep.finish()
    return rep
