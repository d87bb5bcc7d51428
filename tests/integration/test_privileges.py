"""Privilege separation of a running instance (system mode, as root): the
uid, gid, groups and root directory of every process; queue files not
readable by others; `tern check` finding wrong owners and modes; the
chrooted smtpd doing everything it does outside the jail (TLS, AUTH through
private/auth, system accounts, tables, time zone). docs/security.md is the
reference."""
import os
import pwd
import re
import smtplib
import ssl
import stat
import subprocess
import time

import pytest

from conftest import program, run, wait_for
from smtptest import incoming_ids, message_of, no_qmgr

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="system mode needs root")

# daemons that must never run as root, and those that stay root
UNPRIVILEGED = {"smtpd", "qmgr", "smtp-client", "pop3d", "imapd", "spamd", "auth", "pickup"}
ROOT_DAEMONS = {"local-delivery"}  # becomes each recipient per delivery
MUST_CHROOT = {"smtpd", "qmgr", "smtp-client"}  # tern init writes chroot = y for these


def master_cf_services(inst):
    """{service name: (command, chroot flag)} from master.cf."""
    out = {}
    for line in open(os.path.join(inst.dir, "master.cf")):
        if not line.strip() or line[0].isspace() or line.startswith("#"):
            continue
        f = line.split()
        out[f[0]] = (f[7], f[4] == "y")  # "-" means n in tern
    return out


def proc_ids(pid):
    """(uids, gids, groups) from /proc/PID/status: real, effective, saved, fs."""
    uids = gids = groups = None
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("Uid:"):
            uids = [int(x) for x in line.split()[1:]]
        elif line.startswith("Gid:"):
            gids = [int(x) for x in line.split()[1:]]
        elif line.startswith("Groups:"):
            groups = [int(x) for x in line.split()[1:]]
    return uids, gids, groups


def running_services(inst):
    svcs = master_cf_services(inst)
    want = {name: 1 for name in svcs}
    wait_for(lambda: all(len(inst.services().get(n, [])) >= 1 for n in want), 15,
             what="every service running")
    return svcs, inst.services()


def test_every_process_uid_gid_and_root(make_instance):
    inst = make_instance()
    inst.start()
    owner = pwd.getpwnam("tern")
    qdir = os.path.join(inst.dir, "queue")
    svcs, running = running_services(inst)
    # tern init writes chroot = y for smtpd, qmgr and smtp-client
    for name, (cmd, chroot) in svcs.items():
        if cmd in MUST_CHROOT:
            assert chroot, f"{name} ({cmd}) is not chrooted in master.cf"
    # give the daemons time to finish their start (chroot, drop) before looking
    time.sleep(0.5)
    by_pid = {}
    for name, pids in running.items():
        for p in pids:
            by_pid[p] = name
    master = inst.master_pid()
    seen = set()
    for pid in inst.processes():
        try:
            uids, gids, groups = proc_ids(pid)
            root = os.readlink(f"/proc/{pid}/root")
        except FileNotFoundError:
            continue  # exited meanwhile (a delivery child)
        if pid == master:
            assert uids == [0, 0, 0, 0] and root == "/", (uids, root)
            seen.add("master")
            continue
        name = by_pid.get(pid)
        if name is None:
            # a child of a daemon (local-delivery per delivery): its parent is one
            ppid = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
            assert ppid in by_pid, f"process {pid} belongs to no service: {open(f'/proc/{pid}/cmdline').read()!r}"
            continue
        cmd, chroot = svcs[name]
        seen.add(cmd)
        if cmd in ROOT_DAEMONS:
            assert uids[1] == 0, (name, uids)
        else:
            assert cmd in UNPRIVILEGED, f"unexpected daemon {cmd}"
            assert uids == [owner.pw_uid] * 4, f"{name} ({cmd}) pid {pid} uids {uids}"
            assert gids == [owner.pw_gid] * 4, f"{name} ({cmd}) pid {pid} gids {gids}"
            assert groups in ([], [owner.pw_gid]), f"{name} ({cmd}) pid {pid} groups {groups}"
            # root can never be regained: no capabilities left
            caps = {l.split()[0]: int(l.split()[1], 16) for l in open(f"/proc/{pid}/status")
                    if l.startswith("Cap")}
            assert caps["CapEff:"] == 0 and caps["CapPrm:"] == 0, (name, caps)
        assert root == (qdir if chroot else "/"), f"{name} ({cmd}) pid {pid} root {root}, chroot={chroot}"
    assert "master" in seen and "smtpd" in seen and "auth" in seen, seen


def test_queue_files_not_readable_by_others(make_instance):
    inst = make_instance()
    no_qmgr(inst)
    inst.start()
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.sendmail("x@example.org", ["alice@example.test"], "Subject: t\r\n\r\nbody\r\n")
    owner = pwd.getpwnam("tern")
    ids = incoming_ids(inst)
    assert len(ids) == 1
    st = os.stat(os.path.join(inst.dir, "queue", "incoming", ids[0]))
    assert st.st_uid == owner.pw_uid
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    for d in ("incoming", "active", "deferred", "hold", "corrupt", "tmp", "private"):
        st = os.stat(os.path.join(inst.dir, "queue", d))
        assert st.st_uid == owner.pw_uid and stat.S_IMODE(st.st_mode) & 0o077 == 0, (d, oct(st.st_mode))
    for f in ("users", "tls/key.pem"):
        st = os.stat(os.path.join(inst.dir, f))
        assert st.st_uid == 0 and stat.S_IMODE(st.st_mode) & 0o077 == 0, (f, oct(st.st_mode))


def test_check_reports_wrong_owners_and_modes(make_instance):
    inst = make_instance()
    no_qmgr(inst)
    r = inst.tern("check", check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    inst.start()
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.sendmail("x@example.org", ["alice@example.test"], "Subject: t\r\n\r\nbody\r\n")
    inst.stop()
    qid = incoming_ids(inst)[0]
    q = os.path.join(inst.dir, "queue")
    os.chmod(os.path.join(q, "incoming", qid), 0o644)
    os.chown(os.path.join(q, "deferred"), 0, 0)
    os.chmod(os.path.join(q, "private"), 0o755)
    os.chmod(os.path.join(inst.dir, "users"), 0o644)
    os.chown(os.path.join(inst.dir, "main.cf"), pwd.getpwnam("tern").pw_uid, -1)
    os.chmod(os.path.join(inst.dir, "master.cf"), 0o666)
    r = inst.tern("check", check=False)
    out = r.stdout
    assert r.returncode == 1, out
    assert re.search(rf"incoming/{qid}: .*mode 0644", out), out
    assert re.search(r"/deferred: owned by uid 0, expected uid \d+", out), out
    assert re.search(r"/private: mode 0755 is too open", out), out
    assert re.search(r"/users: password file has mode 0644", out), out
    assert re.search(r"/main.cf: .*owned by uid \d+", out), out
    assert re.search(r"/master.cf: .*writable by others", out), out


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def test_chrooted_smtpd_works(make_instance):
    """TLS, AUTH (private/auth), system accounts and aliases, tables after
    their file changed, and the local time zone, all from inside the jail."""
    inst = make_instance()
    no_qmgr(inst)
    env = dict(os.environ, TZ="Asia/Tokyo")
    r = subprocess.run([program("tern"), "-c", inst.dir, "start"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    inst.started = True
    pid = wait_for(lambda: (inst.services().get("smtp") or [0])[0], 10, what="smtpd")
    wait_for(lambda: os.readlink(f"/proc/{pid}/root") == os.path.join(inst.dir, "queue"), 10, what="smtpd chroot")
    host, port = inst.addr("submission")
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.starttls(context=tls_ctx())
        s.login("alice@example.test", "secret-alice")
        # a system account (root) in mydestination, a virtual user, an alias
        refused = s.sendmail("alice@example.test", ["root@mail.example.test", "bob@example.test",
                                                    "postmaster@mail.example.test"],
                             "Subject: jail\r\n\r\nfrom the jail\r\n")
        assert refused == {}, refused
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("client.example.test")
        code, _ = s.rcpt("nosuchuser@mail.example.test") if s.mail("x@example.org")[0] == 250 else (0, b"")
        assert code == 550
    # the table file changes after the chroot: the loaded table still answers
    vm = os.path.join(inst.dir, "vmailbox")
    if os.path.exists(vm):
        os.utime(vm, (time.time() + 5, time.time() + 5))
    time.sleep(1.2)
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        assert s.mail("x@example.org")[0] == 250
        assert s.rcpt("bob@example.test")[0] == 250
    ids = incoming_ids(inst)
    assert len(ids) == 1
    msg = message_of(inst, ids[0]).decode()
    # Received carries the time zone loaded before the chroot (Tokyo: +0900)
    m = re.search(r"^Received: .*?; (.*)$", msg, re.S | re.M)
    assert m and "+0900" in msg.split("\n\n")[0], msg
    assert "ESMTPSA" in msg
    assert "timed out" not in inst.log() and "fatal" not in inst.log(), inst.log()
