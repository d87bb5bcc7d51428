"""Crash safety of delivery: 1,000 messages submitted with smtplib while the
qmgr and then local-delivery are killed with SIGKILL (twice each). The
master restarts them; the new qmgr takes up what was left in active/. Every
message must arrive (read back with Python's mailbox.Maildir); duplicates
are counted and reported (at-least-once delivery allows a few: a delivery
whose result was not yet recorded when the qmgr died is made again)."""
import os
import threading
import time

from conftest import wait_for
from deliverytest import kill_service, message, submit, wait_queue_empty

N = 1000


def delivered_files(inst):
    new = os.path.join(inst.maildir("alice"), "new")
    try:
        return os.listdir(new)
    except FileNotFoundError:
        return []


def test_sigkill_qmgr_and_local_delivery_under_load(make_instance):
    inst = make_instance(main_cf={"queue_run_delay": "1s", "minimal_backoff_time": "1s",
                                  "maximal_backoff_time": "2s", "transport_retry_time": "2s"})
    inst.start()
    errors = []

    def producer():
        try:
            for i in range(N):
                submit(inst, "bob@example.test", ["alice@example.test"], message("crash-%04d" % i))
        except Exception as e:  # reported by the main thread
            errors.append(e)

    t = threading.Thread(target=producer)
    t.start()
    killed = []
    try:
        for threshold, service in ((100, "qmgr"), (300, "local"), (500, "qmgr"), (700, "local")):
            wait_for(lambda: len(delivered_files(inst)) >= threshold or not t.is_alive(), 300,
                     what=f"{threshold} deliveries")
            killed.append((service, kill_service(inst, service)))
    finally:
        t.join(600)
    assert not errors, errors
    assert len(killed) == 4

    def all_there():
        return len(delivered_files(inst)) >= N
    wait_for(all_there, 300, what=f"{N} deliveries")
    wait_queue_empty(inst, 120)
    # read every message back and count subjects
    import mailbox
    seen = {}
    for m in mailbox.Maildir(inst.maildir("alice"), factory=None, create=False):
        seen[m["Subject"]] = seen.get(m["Subject"], 0) + 1
    missing = [i for i in range(N) if "crash-%04d" % i not in seen]
    duplicates = sum(c - 1 for c in seen.values())
    print(f"{N} messages, {len(seen)} distinct delivered, {duplicates} duplicates, {len(missing)} missing; "
          f"killed {killed}")
    assert not missing, f"missing: {missing[:20]}"
    # nothing unexpected arrived either
    assert set(seen) == {"crash-%04d" % i for i in range(N)}
    # the restarted qmgr took up the active queue
    log = inst.log()
    assert log.count("queue manager started") >= 3
