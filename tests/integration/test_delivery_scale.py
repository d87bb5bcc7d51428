"""The qmgr's memory does not grow with the queue: 20,000 deferred messages
(written by the real queue writer, tests/tools/queue_fixture) are flushed
with `postqueue -f` into an instance whose qmgr_message_active_limit is
500. While they are delivered, active/ never holds more than 500 files and
the qmgr's resident memory stays small; every message arrives (counted in
the maildir with Python's mailbox)."""
import os
import subprocess
import time

import pytest

from conftest import SANITIZED, wait_for
from deliverytest import FIXTURE, owner_ids, wait_queue_empty

N = 20000
LIMIT = 500


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_deferred_queue_larger_than_the_active_set(make_instance):
    if not os.access(FIXTURE, os.X_OK):
        pytest.skip("tests/tools/queue_fixture not built")
    inst = make_instance(main_cf={"qmgr_message_active_limit": str(LIMIT), "queue_run_delay": "1h"})
    spec = ("arrival %d\nsender bob@example.test\nrcpt alice@example.test\nschedule %d 1\n"
            "defer 0 4.4.1 connect to mx.example.test: Connection refused\ndata\nSubject: queued\n\nbody\n"
            % (int(time.time()) - 60, int(time.time()) + 3600))
    ids = owner_ids()
    t_start = time.time()

    def demote():
        if ids:
            os.setgid(ids[1])
            os.setuid(ids[0])
    r = subprocess.run([FIXTURE, os.path.join(inst.dir, "queue"), "deferred", "-n", str(N)], input=spec,
                       capture_output=True, text=True, timeout=300, preexec_fn=demote)
    assert r.returncode == 0, r.stderr
    t_written = time.time()
    inst.start()
    qmgr = wait_for(lambda: (inst.services().get("qmgr") or [0])[0], 10, what="qmgr")
    time.sleep(1)
    # nothing is due yet: the qmgr looked at deferred/ and left it alone
    assert not os.listdir(os.path.join(inst.dir, "queue", "active"))
    base_rss = rss_kb(qmgr)
    inst.tool("postqueue", "-f")
    t_flush = time.time()
    active_dir = os.path.join(inst.dir, "queue", "active")
    new = os.path.join(inst.maildir("alice"), "new")
    max_active = max_rss = 0
    deadline = time.time() + 300
    while time.time() < deadline:
        max_active = max(max_active, len(os.listdir(active_dir)))
        max_rss = max(max_rss, rss_kb(qmgr))
        if os.path.isdir(new) and len(os.listdir(new)) >= N:
            break
        time.sleep(0.02)
    delivered = len(os.listdir(new))
    print(f"{delivered} delivered in {time.time() - t_flush:.1f}s (queue written in {t_written - t_start:.1f}s); "
          f"active/ at most {max_active}; qmgr RSS {base_rss} -> {max_rss} kB")
    assert delivered == N
    assert max_active <= LIMIT
    # far below what 20,000 messages in memory would take, and bounded by the
    # active set (not under ASan: its quarantine keeps up to 256 MB of freed
    # memory resident, so RSS says nothing about what the qmgr holds)
    if not SANITIZED:
        assert max_rss - base_rss < 60 * 1024
    wait_queue_empty(inst, 60)
