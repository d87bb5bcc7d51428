"""Crashes under load: 2,000 messages (half to a local maildir, half to a
remote MX played by tests/tools/fakesmtp.py, found through a real DNS
server) are submitted with smtplib while smtpd, qmgr, local-delivery,
smtp-client and the master itself are killed with SIGKILL. Every message
answered 250 must end up delivered; a loss fails the test. Duplicates are
counted and reported: they are allowed only for a crash between a delivery
and its record (at-least-once), and for a message whose 250 the crash ate
before the client read it (the client sends it again).

TERN_FAULT_MESSAGES overrides the count (the sanitizer run uses fewer)."""
import email
import mailbox
import os
import signal
import smtplib
import threading
import time

import pytest

from conftest import have_program, wait_for
from dnstest import DnsServer
from fakesmtp import FakeSMTP

NEEDED = ("smtpd", "qmgr", "local-delivery", "smtp-client")
needs_all = pytest.mark.skipif(not all(have_program(p) for p in NEEDED),
                               reason="needs " + ", ".join(p for p in NEEDED if not have_program(p)))

N = int(os.environ.get("TERN_FAULT_MESSAGES", "2000"))
MX_ADDR = "127.0.0.14"
FAST_RETRY = {"queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
              "transport_retry_time": "1s", "smtp_connect_timeout": "5s", "smtp_helo_timeout": "10s"}


def subject_of(raw):
    return email.message_from_bytes(raw)["Subject"]


def local_subjects(inst):
    path = inst.maildir("alice")
    if not os.path.isdir(os.path.join(path, "new")):
        return []
    out = []
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in box.keys():
        try:
            out.append(box.get_message(key)["Subject"])
        except (FileNotFoundError, KeyError):
            pass
    return out


def remote_subjects(mx):
    with mx.lock:
        return [subject_of(t["data"]) for t in mx.messages]


class Producer:
    """Threads that submit messages i = 0..N-1 over smtplib; a message counts
    as accepted only when DATA was answered 250. Anything else (a dropped
    connection, 4xx) is retried after a short pause, until a deadline."""

    def __init__(self, inst, n, threads=4, deadline=600):
        self.inst = inst
        self.n = n
        self.accepted = set()
        self.retries = 0
        self.errors = []
        self.lock = threading.Lock()
        self.deadline = time.time() + deadline
        self.threads = [threading.Thread(target=self.run, args=(k, threads)) for k in range(threads)]

    def rcpt(self, i):
        return "alice@example.test" if i % 2 == 0 else "user%d@remote.test" % i

    def run(self, k, step):
        i = k
        s = None
        while i < self.n and time.time() < self.deadline:
            subj = "fault-%05d" % i
            msg = f"From: <bob@example.org>\r\nTo: <{self.rcpt(i)}>\r\nSubject: {subj}\r\n\r\nbody {i}\r\n"
            try:
                if s is None:
                    s = smtplib.SMTP(*self.inst.addr("smtp"), timeout=30)
                    s.ehlo("client.example.test")
                refused = s.sendmail("bob@example.org", [self.rcpt(i)], msg)
                if refused:
                    raise smtplib.SMTPException(str(refused))
                with self.lock:
                    self.accepted.add(subj)
                i += step
            except (OSError, smtplib.SMTPException):
                with self.lock:
                    self.retries += 1
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                time.sleep(0.2)
        if i < self.n:
            self.errors.append(f"thread {k} gave up at message {i}")
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def start(self):
        for t in self.threads:
            t.start()

    def alive(self):
        return any(t.is_alive() for t in self.threads)

    def join(self):
        for t in self.threads:
            t.join(max(1, self.deadline - time.time() + 30))

    def count(self):
        with self.lock:
            return len(self.accepted)


def kill_service(inst, name):
    pids = inst.services().get(name) or []
    assert pids, f"service {name} not running: {inst.services()}"
    os.kill(pids[0], signal.SIGKILL)
    wait_for(lambda: pids[0] not in (inst.services().get(name) or [pids[0]]), 30, what=f"{name} restarted")
    return pids[0]


def kill_master(inst):
    """SIGKILL the master: its daemons must follow it (parent-death signal),
    and `tern start` must work again on the stale pid file."""
    pid = inst.master_pid()
    old = [p for p in inst.processes() if p != pid]
    os.kill(pid, signal.SIGKILL)

    def gone():
        for p in old:
            try:
                os.kill(p, 0)
                # a zombie is gone for our purpose
                if open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
                    return False
            except OSError:
                pass
        return True
    try:
        wait_for(gone, 30, what="the master's daemons to exit after it died")
    except AssertionError:
        left = []
        for p in old:
            try:
                left.append(f"{p}: {open(f'/proc/{p}/cmdline').read()!r} {open(f'/proc/{p}/stat').read()[:80]!r}")
            except OSError:
                pass
        raise AssertionError(f"daemons still running after the master died: {left}")
    inst.tern("start", timeout=60)
    wait_for(lambda: inst.master_pid() and inst.master_pid() != pid, 10, what="new master")
    return pid


def test_master_killed_takes_its_daemons_and_starts_again(make_instance):
    inst = make_instance()
    inst.start()
    wait_for(lambda: len(inst.processes()) >= 1 + len(inst.services()), 15, what="every daemon")
    old_master = kill_master(inst)
    # a fresh master with fresh daemons, and mail flows
    assert inst.master_pid() != old_master
    wait_for(lambda: all(inst.services().get(n) for n in inst.services()), 15, what="daemons restarted")
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        assert s.noop()[0] == 250


@needs_all
def test_sigkill_every_daemon_and_the_master_under_load(make_instance):
    with DnsServer("remote.test. IN MX 10 mx.remote.test.\nmx.remote.test. IN A " + MX_ADDR) as dns, \
            FakeSMTP(MX_ADDR, 0, hostname="mx.remote.test") as mx:
        inst = make_instance(main_cf=dict(FAST_RETRY, dns_resolver=dns.forwarder, smtp_remote_port=str(mx.port)))
        inst.start()
        prod = Producer(inst, N)
        prod.start()
        killed = []
        plan = [(0.10, "smtp"), (0.20, "qmgr"), (0.30, "local"), (0.40, "smtp-client"), (0.50, "qmgr"),
                (0.60, "master"), (0.70, "local"), (0.80, "smtp")]
        try:
            for frac, what in plan:
                # kills left when every message is in happen during the deliveries
                wait_for(lambda: prod.count() >= frac * N or not prod.alive(), 600, what=f"{frac * N:.0f} accepted")
                if what == "master":
                    killed.append(("master", kill_master(inst)))
                else:
                    killed.append((what, kill_service(inst, service_name(inst, what))))
        finally:
            prod.join()
        assert not prod.errors, prod.errors
        assert len(killed) == len(plan), killed
        accepted = set(prod.accepted)
        assert len(accepted) == N, f"only {len(accepted)} of {N} accepted: {prod.errors}"

        def delivered():
            return set(local_subjects(inst)) | set(remote_subjects(mx))
        try:
            wait_for(lambda: accepted <= delivered(), 600, interval=1, what="every accepted message delivered")
        finally:
            loc, rem = local_subjects(inst), remote_subjects(mx)
            counts = {}
            for s in loc + rem:
                counts[s] = counts.get(s, 0) + 1
            missing = sorted(accepted - set(counts))
            dups = {s: c for s, c in counts.items() if c > 1}
            print(f"\nfaults: {N} messages, {len(accepted)} accepted, {prod.retries} client retries, "
                  f"{len(loc)} local + {len(rem)} remote deliveries, {len(missing)} missing, "
                  f"{sum(c - 1 for c in dups.values())} duplicates ({len(dups)} messages); killed {killed}")
        assert not missing, f"lost: {missing[:20]}"
        assert set(counts) <= {"fault-%05d" % i for i in range(N)}
        # a retry the client made after a crash ate the 250 or a delivery
        # made again after a crash before its record; never a flood
        assert sum(c - 1 for c in dups.values()) <= max(20, N // 20), dups


def service_name(inst, daemon):
    """The master.cf service that runs a daemon (first one for smtpd)."""
    for line in open(os.path.join(inst.dir, "master.cf")):
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            f = line.split()
            if f[7] == {"smtp": "smtpd", "smtp-client": "smtp-client", "qmgr": "qmgr",
                        "local": "local-delivery"}[daemon]:
                return f[0]
    raise AssertionError(f"no service runs {daemon}")
