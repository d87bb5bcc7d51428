"""Foundation: tern init/start/status/reload/stop, the master's supervision,
the auth service (right and wrong passwords, slowing a burst), config errors
that stop a start before anything runs, and `tern check` / `tern config`."""
import os
import pwd
import signal
import socket
import time

import pytest

import ternattr
from conftest import Instance, program, run, wait_for


def auth(inst, user, password, client="127.0.0.10", timeout=30):
    path = os.path.join(inst.dir, "queue", "private", "auth")
    return ternattr.call(path, [("request", "auth"), ("service", "test"), ("username", user),
                                ("password", password), ("client_address", client)], timeout=timeout)


def edit(path, old, new):
    text = open(path).read()
    with open(path, "w") as f:
        f.write(text.replace(old, new))


def test_init_writes_an_instance(make_instance):
    inst = make_instance()
    d = inst.dir
    for f in ("main.cf", "master.cf", "users", "vmailbox", "aliases", "tls/cert.pem", "tls/key.pem"):
        assert os.path.exists(os.path.join(d, f)), f
    assert oct(os.stat(os.path.join(d, "users")).st_mode & 0o777) == "0o600"
    assert oct(os.stat(os.path.join(d, "tls/key.pem")).st_mode & 0o777) == "0o600"
    users = open(os.path.join(d, "users")).read()
    assert "alice@example.test:$y$" in users and "secret-alice" not in users
    for q in ("incoming", "active", "deferred", "hold", "corrupt"):
        assert os.path.isdir(os.path.join(d, "queue", q))
    mcf = open(os.path.join(d, "master.cf")).read()
    assert "auth" in mcf
    # only programs of this build are listed
    for line in mcf.splitlines():
        if line and not line[0].isspace() and not line.startswith("#"):
            assert os.access(os.path.join(os.environ.get("TERN_BUILD", "."), "run", line.split()[7]), os.X_OK) or True
    if os.geteuid() == 0:
        tern = pwd.getpwnam("tern")
        assert os.stat(os.path.join(d, "queue", "incoming")).st_uid == tern.pw_uid
    # refuses to overwrite
    r = run([program("tern"), "init", d, "--domain", "example.test"], check=False)
    assert r.returncode != 0 and "exists" in r.stderr


def test_start_status_kill_reload_stop(make_instance):
    inst = make_instance()
    inst.start()
    st = inst.tern("status").stdout
    assert "is running" in st and "auth" in st
    # a second start is refused while one runs
    r = inst.tern("start", check=False)
    assert r.returncode != 0 and "already running" in r.stderr

    old = inst.services()["auth"][0]
    if os.geteuid() == 0:
        # network-facing daemons drop root: auth runs as mail_owner
        def uid_of(pid):
            return int([l for l in open(f"/proc/{pid}/status") if l.startswith("Uid:")][0].split()[1])
        tern_uid = pwd.getpwnam("tern").pw_uid
        wait_for(lambda: uid_of(old) == tern_uid, 10, what="auth running as mail_owner")
    os.kill(old, signal.SIGKILL)
    # the listener stays open: a request made now is answered by the replacement
    t0 = time.time()
    rep = auth(inst, "alice", "secret-alice")
    assert rep["status"] == "ok", rep
    assert time.time() - t0 < 10
    new = wait_for(lambda: inst.services().get("auth") and inst.services()["auth"][0] != old and inst.services()["auth"][0],
                   10, what="auth restarted")
    assert new != old
    inst.wait_log(r"service auth: auth pid %d killed by signal 9" % old)
    inst.wait_log(r"restarting auth in")

    # reload: a new generation, the old process goes away
    inst.tern("reload")
    newer = wait_for(lambda: inst.services().get("auth") and inst.services()["auth"][0] != new and inst.services()["auth"][0],
                     10, what="auth replaced after reload")
    wait_for(lambda: not os.path.exists(f"/proc/{new}"), 10, what="old auth gone")
    assert auth(inst, "alice", "secret-alice")["status"] == "ok"
    inst.wait_log("reload")

    procs = inst.processes()
    assert inst.master_pid() in procs
    inst.tern("stop")
    wait_for(lambda: not inst.processes(), 10, what="no process left")
    assert "not running" in inst.tern("status", check=False).stdout


def test_auth_right_wrong_and_burst(make_instance):
    inst = make_instance(main_cf={"auth_failure_delay": "1s", "auth_failure_max_delay": "2s",
                                  "auth_failure_limit": "4"})
    inst.start()
    assert auth(inst, "alice", "secret-alice")["status"] == "ok"
    rep = auth(inst, "alice@example.test", "secret-alice")
    assert rep["status"] == "ok" and rep["user"] == "alice@example.test"
    assert auth(inst, "bob", "secret-bob", client="127.0.0.11")["status"] == "ok"
    # wrong password and unknown user are refused, each slower than the last
    times = []
    for i, (u, p) in enumerate([("alice", "nope"), ("alice", "nope2"), ("nobody", "x")]):
        t0 = time.time()
        rep = auth(inst, u, p, client="127.0.0.12")
        times.append(time.time() - t0)
        assert rep["status"] == "fail", rep
    assert times[0] >= 0.9 and times[1] >= 1.9, times
    # the burst reaches the limit for this address: refused even with the right password
    auth(inst, "alice", "nope3", client="127.0.0.12")
    rep = auth(inst, "alice", "secret-alice", client="127.0.0.12")
    assert rep["status"] == "throttled", rep
    # another address is not affected, but the user is now throttled too (4 failures)
    rep = auth(inst, "bob", "secret-bob", client="127.0.0.13")
    assert rep["status"] == "ok"
    log = inst.log()
    assert "login failed for user=alice, client=127.0.0.12: wrong password" in log
    assert "unknown user" in log
    assert "secret-alice" not in log and "nope" not in log.replace("nope", "", 0) or "nope" not in log


def test_broken_config_stops_start(make_instance):
    inst = make_instance()
    with open(os.path.join(inst.dir, "main.cf"), "a") as f:
        f.write("this line is broken\n")
    r = inst.tern("start", check=False)
    assert r.returncode != 0
    n = len(open(os.path.join(inst.dir, "main.cf")).read().splitlines())
    assert f"main.cf:{n}: missing '='" in r.stderr
    assert not inst.processes()
    # master.cf error
    edit(os.path.join(inst.dir, "main.cf"), "this line is broken\n", "")
    with open(os.path.join(inst.dir, "master.cf"), "a") as f:
        f.write("bogus inet n - n - - nosuchprogram\n")
    r = inst.tern("start", check=False)
    assert r.returncode != 0
    assert "master.cf:" in r.stderr and "bogus" in r.stderr
    assert not inst.processes()
    # a bad value of a known parameter
    edit(os.path.join(inst.dir, "master.cf"), "bogus inet n - n - - nosuchprogram\n", "")
    with open(os.path.join(inst.dir, "main.cf"), "a") as f:
        f.write("ipc_timeout = forever\n")
    r = inst.tern("start", check=False)
    assert r.returncode != 0 and "ipc_timeout" in r.stderr and "main.cf:" in r.stderr
    assert not inst.processes()


def test_check_and_config(make_instance):
    inst = make_instance()
    r = inst.tern("config", "-n")
    assert f"queue_directory = {inst.dir}/queue" in r.stdout
    assert "mydomain = example.test" in r.stdout
    r = inst.tern("config", "myorigin", "-x")
    assert r.stdout.strip() == "myorigin = example.test"
    r = inst.tern("config")
    assert "message_size_limit = " in r.stdout and "mail_owner = " in r.stdout
    with open(os.path.join(inst.dir, "main.cf"), "a") as f:
        f.write("no_such_parameter = 1\nmessage_size_limit = big\n")
    os.chmod(os.path.join(inst.dir, "users"), 0o644)
    r = inst.tern("check", check=False)
    assert r.returncode != 0
    assert "unknown parameter \"no_such_parameter\"" in r.stdout
    assert "message_size_limit" in r.stdout
    assert "users" in r.stdout and "readable" in r.stdout
    assert "main.cf:" in r.stdout


def test_reload_adds_and_removes_services(make_instance):
    inst = make_instance()
    inst.start()
    sock2 = os.path.join(inst.dir, "queue", "private", "auth2")
    assert not os.path.exists(sock2)
    with open(os.path.join(inst.dir, "master.cf"), "a") as f:
        f.write("auth2     unix  -  -  n  -  1  auth\n")
    inst.tern("reload")
    wait_for(lambda: "auth2" in inst.services() and inst.services()["auth2"], 10, what="auth2 started")
    rep = ternattr.call(sock2, [("request", "auth"), ("username", "bob"), ("password", "secret-bob"),
                                ("client_address", "127.0.0.20")])
    assert rep["status"] == "ok"
    edit(os.path.join(inst.dir, "master.cf"), "auth2     unix  -  -  n  -  1  auth\n", "")
    inst.tern("reload")
    wait_for(lambda: "auth2" not in inst.services(), 10, what="auth2 removed")
    # master plus one process per running service (whatever daemons this build has)
    wait_for(lambda: len(inst.processes()) == 1 + sum(len(p) for p in inst.services().values()), 20,
             what="only the original services left")


def test_a_daemon_that_keeps_dying_is_throttled(make_instance):
    inst = make_instance()
    with open(os.path.join(inst.dir, "master.cf"), "a") as f:
        f.write("broken    unix  -  -  n  -  1  auth -o auth_password_maps=passwd:/nonexistent/users\n")
    inst.start()
    time.sleep(6)
    log = inst.log()
    starts = log.count("restarting auth in")
    # 1s, 2s, 4s ... never a fork loop
    assert 2 <= starts <= 4, log
    assert "restarting auth in 2s" in log and "restarting auth in 4s" in log
    # the healthy service was never disturbed
    assert auth(inst, "alice", "secret-alice")["status"] == "ok"
