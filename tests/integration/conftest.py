"""conftest.py - fixtures for tern's integration tests.

Every test gets real instances made with `tern init` and started with
`tern start`; clients are Python's own libraries or programs nobody here
wrote. Instances live under /tmp (searchable by the unprivileged mail_owner)
on a random free port base, so parallel runs do not collide."""
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest

BUILD = os.environ.get("TERN_BUILD") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.environ.get("TERN_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "tools"))


def _sanitized_build():
    """True when BUILD was configured with --enable-sanitizers."""
    try:
        with open(os.path.join(BUILD, "Makefile")) as f:
            return any(l.startswith("SANITIZER_FLAGS = -fsanitize") for l in f)
    except OSError:
        return False


SANITIZED = _sanitized_build()
if SANITIZED:
    # Reports go to stderr: a daemon's stderr is the instance's maillog (the
    # master hands it over as fd 2), which works inside a chroot where a
    # log_path outside the jail could not be opened; a tool's stderr is
    # checked by run(). Leak checking is off for programs started here: the
    # daemons are not dumpable and may be chrooted without /proc, which
    # LeakSanitizer needs (the unit tests check leaks).
    os.environ.setdefault("ASAN_OPTIONS", "detect_leaks=0:halt_on_error=1:print_summary=1")
    os.environ.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=0:print_summary=1")

# What a sanitizer prints when it found something.
SANITIZER_REPORT = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|"
                              r"runtime error: |AddressSanitizer:DEADLYSIGNAL|SUMMARY: \w+Sanitizer")


def sanitizer_reports(text):
    """Lines of text that belong to a sanitizer report (empty: none)."""
    return [l for l in text.splitlines() if SANITIZER_REPORT.search(l)]


PORT_OFFSETS = {"smtp": 25, "submission": 587, "smtps": 465, "pop3": 110, "pop3s": 995, "imap": 143, "imaps": 993}


def program(name):
    """Path of a built program (run/ holds links to every one)."""
    p = os.path.join(BUILD, "run", name)
    if not os.path.exists(p):
        p = os.path.join(BUILD, "cli", name)
    return p


def have_program(name):
    return os.access(os.path.join(BUILD, "run", name), os.X_OK)


def port_free(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port_base(host="127.0.0.1"):
    for _ in range(200):
        base = random.randrange(21000, 64000, 100)
        if all(port_free(host, base + off) for off in PORT_OFFSETS.values()):
            return base
    raise RuntimeError("no free port base")


def run(cmd, check=True, timeout=60, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    found = sanitizer_reports(r.stderr or "")
    if found:
        raise AssertionError(f"{cmd}: sanitizer report:\n{r.stderr}")
    if check and r.returncode != 0:
        raise AssertionError(f"{cmd} failed ({r.returncode}):\nstdout: {r.stdout}\nstderr: {r.stderr}")
    return r


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Instance:
    """One tern instance under a temporary directory."""

    def __init__(self, dir, domain="example.test", users=(("alice", "secret-alice"), ("bob", "secret-bob")),
                 listen="127.0.0.1", port_base=None, main_cf=None):
        self.dir = dir
        self.domain = domain
        self.users = dict(users)
        self.listen = listen
        self.port_base = port_base if port_base is not None else free_port_base(listen)
        args = [program("tern"), "init", dir, "--domain", domain, "--port-base", str(self.port_base),
                "--listen", listen]
        for u, p in users:
            args += ["--user", f"{u}:{p}"]
        self.init_output = run(args).stdout
        if main_cf:
            self.set_main_cf(main_cf)
        self.started = False

    # ---- configuration
    def port(self, service):
        return self.port_base + PORT_OFFSETS[service]

    def addr(self, service):
        return (self.listen, self.port(service))

    def set_main_cf(self, settings):
        """Append or replace main.cf settings (dict)."""
        path = os.path.join(self.dir, "main.cf")
        text = open(path).read()
        for k, v in settings.items():
            pat = re.compile(rf"^{re.escape(k)}\s*=.*$", re.M)
            line = f"{k} = {v}"
            text, n = pat.subn(line, text)
            if n == 0:
                text += line + "\n"
        open(path, "w").write(text)

    def tern(self, *args, check=True, timeout=60):
        return run([program("tern"), "-c", self.dir] + list(args), check=check, timeout=timeout)

    def tool(self, name, *args, check=True, input=None, timeout=60):
        return run([program(name), "-c", self.dir] + list(args), check=check, input=input, timeout=timeout)

    # ---- life cycle
    def start(self):
        self.tern("start")
        self.started = True
        wait_for(lambda: self.master_pid(), 10, what="master pid")
        # every listener and socket is bound before `tern start` returns

    def stop(self):
        if self.master_pid():
            self.tern("stop", check=False, timeout=90)
        self.started = False

    def master_pid(self):
        try:
            txt = open(os.path.join(self.dir, "queue", "pid", "master.pid")).read().strip()
            pid = int(txt)
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return 0

    def services(self):
        """{service name: [pids]} from master.status."""
        out = {}
        try:
            for line in open(os.path.join(self.dir, "queue", "pid", "master.status")):
                f = line.split()
                if len(f) >= 4 and f[1] != "retiring":
                    out[f[0]] = [int(p) for p in f[3].split(",")] if f[3] != "-" else []
        except FileNotFoundError:
            pass
        return out

    def processes(self):
        """pids of every process whose command line names this instance."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if f"-c {self.dir} " in cmd + " " and int(d) != os.getpid():
                pids.append(int(d))
        return pids

    # ---- observation
    def log(self):
        try:
            return open(os.path.join(self.dir, "log", "maillog"), errors="replace").read()
        except FileNotFoundError:
            return ""

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.log()), timeout, what=f"log line /{pattern}/")

    def maildir(self, user):
        addr = user if "@" in user else f"{user}@{self.domain}"
        return os.path.join(self.dir, "mail", addr)

    def kill_all(self):
        for pid in self.processes():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture
def tmpdir_instance():
    d = tempfile.mkdtemp(prefix="tern-it-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def make_instance():
    """Factory: make_instance(**kw) -> Instance (not started)."""
    made = []

    def factory(**kw):
        d = tempfile.mkdtemp(prefix="tern-it-", dir="/tmp")
        os.chmod(d, 0o755)
        inst = Instance(os.path.join(d, "inst"), **kw)
        made.append((d, inst))
        return inst

    yield factory
    reports = []
    for d, inst in made:
        try:
            inst.stop()
        finally:
            inst.kill_all()
            found = sanitizer_reports(inst.log())
            if found:
                reports.append(f"{inst.dir}/log/maillog:\n" + "\n".join(found[:40]))
            shutil.rmtree(d, ignore_errors=True)
    # a daemon's sanitizer report fails the test that started it
    assert not reports, "sanitizer reports in the daemons' log:\n" + "\n".join(reports)


@pytest.fixture
def instance(make_instance):
    """A started instance with users alice and bob."""
    inst = make_instance()
    inst.start()
    return inst
