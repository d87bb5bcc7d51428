"""test_bench_smoke.py - the benchmark harness (bench/) works: instances are
made with `tern init` through bench/instances.py, the SMTP latency client,
the IMAP and POP3 clients and the maildir filler talk to a real tern, and the
report writer produces the table, the JSON and the `metric=...` lines.
Against tern only, with tiny loads: this checks the scripts, never speed
(no timing assertions)."""
import json
import os
import shutil
import time
import sys
import tempfile

import pytest

from conftest import BUILD, SRC, have_program

sys.path.insert(0, os.path.join(SRC, "bench"))

import common  # noqa: E402
import instances  # noqa: E402

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the bench harness runs as root")


class Ctx:
    pass


@pytest.fixture
def ctx():
    d = tempfile.mkdtemp(prefix="tern-bench-smoke-", dir="/tmp")
    os.chmod(d, 0o755)
    c = Ctx()
    c.workdir = d
    c.build = BUILD
    c.results = os.path.join(d, "results")
    c.quick = True
    c.rounds = 1
    c.argv = ["--quick", "smoke"]
    c.machine = {"cores": os.cpu_count()}
    c.versions = {"tern": "test"}
    yield c
    shutil.rmtree(d, ignore_errors=True)


def test_smtp_latency_client_and_report(ctx, capsys):
    from smtpclient import latencies
    t = instances.Tern(ctx, "smoke")
    t.start()
    try:
        lat, wall = latencies(t.port("smtp"), 2, 3)
        assert len(lat) == 6 and all(x > 0 for x in lat) and wall > 0
        # six messages were accepted: all six end in the maildir (counting
        # the queue directories while the qmgr moves files could see one twice)
        new = os.path.join(t.maildir("user"), "new")
        deadline = time.monotonic() + 30
        while common.count_files(new) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert common.count_files(new) == 6
    finally:
        t.stop()
    assert not t.processes()
    rep = common.Report(ctx, "smoke", "Smoke", "rival", "method text", {"tern": t.settings})
    rep.add("latency p50", "ms", "lower", [1000 * common.percentile(lat, 50)], [2.0], ("ratio<=", 1.0))
    rep.finish()
    md = open(os.path.join(ctx.results, "smoke.md")).read()
    assert "| latency p50 | ms | lower |" in md and "method text" in md
    data = json.load(open(os.path.join(ctx.results, "smoke.json")))
    assert data["rows"][0]["tern"] == pytest.approx(1000 * common.percentile(lat, 50))
    out = capsys.readouterr().out
    assert "metric=smoke.latency_p50 tern=" in out and " ratio=" in out


def test_pop3_and_imap_clients(ctx):
    from imapclient import Imap
    from m4_imap import SIZE
    from m5_pop3 import retrieve
    from mailstore import fill_maildir
    t = instances.Tern(ctx, "smoke-access", main_cf={"pop3d_allow_plaintext_auth": "yes",
                                                     "imapd_allow_plaintext_auth": "yes"})
    owner = t.mail_owner()
    fill_maildir(t.maildir("user"), 20, SIZE, owner)
    os.chown(os.path.dirname(t.maildir("user")), owner.pw_uid, owner.pw_gid)
    t.start()
    try:
        r = retrieve(t, "user", 20)
        assert r["rate"] > 0
        if have_program("imapd"):
            c = Imap(t.port("imap"))
            c.login(t.login("user"), instances.PASSWORD)
            lines, _ = c.cmd("SELECT INBOX")
            assert b"* 20 EXISTS" in lines
            assert c.bulk("FETCH 1:* (BODY.PEEK[])") > 20 * SIZE
            c.close()
    finally:
        t.stop()


def test_percentile_and_median():
    xs = [5, 1, 4, 2, 3]
    assert common.median(xs) == 3
    assert common.median([1, 2, 3, 4]) == 2.5
    assert common.percentile(list(range(1, 101)), 99) == 99
    assert common.percentile(list(range(1, 101)), 50) == 50
    assert common.percentile([7], 99) == 7
