"""instances.py - the three kinds of server the benchmarks start, each a
private instance on loopback under the bench work directory:

  Tern     - `tern init` + `tern start`, as a user would (root: privilege
             separated, mail_owner `tern`).
  Postfix  - Debian's postfix run as `postfix -c DIR/etc` with its own queue,
             virtual(8) maildir delivery, default fsync behaviour.
  Dovecot  - Debian's dovecot run as `dovecot -c DIR/dovecot.conf`, passwd
             file with the same yescrypt hash tern uses, maildir, fsync on.

Each class knows its ports, its processes (for memory), where a user's
maildir is, and how to empty it."""
import os
import pwd
import grp
import re
import shutil
import signal
import subprocess
import time

from common import (sh, log, free_port, free_port_base, wait_until, wait_port, pids_where,
                    children_of, count_tree)

PORT_OFFSETS = {"smtp": 25, "submission": 587, "smtps": 465, "pop3": 110, "pop3s": 995, "imap": 143, "imaps": 993}
DOMAIN = "bench.test"
PASSWORD = "bench-pw-1"


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


# ---------------------------------------------------------------- tern

class Tern:
    def __init__(self, ctx, name, users=("user",), main_cf=None):
        self.ctx = ctx
        self.dir = os.path.join(ctx.workdir, f"tern-{name}")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.base = free_port_base()
        self.users = list(users)
        args = [self.prog("tern"), "init", self.dir, "--domain", DOMAIN, "--port-base", str(self.base)]
        for u in self.users:
            args += ["--user", f"{u}:{PASSWORD}"]
        sh(args, timeout=max(120, 2 * len(self.users)))
        self.settings = {}
        # Postfix exempts $mynetworks from its per-client connection limit
        # (smtpd_client_event_limit_exceptions); tern has no exception list,
        # so the same effective setting is "no limit" (100-session runs).
        self.set_main_cf({"smtpd_client_connection_count_limit": "0"})
        # Like for like: the rivals run no spam filter, so neither does tern
        # (tern init turns spamd's content check on; it costs about a quarter
        # of a single session's rate, docs/performance.md).
        # TERN_BENCH_CONTENT_CHECK=1 keeps it.
        if os.environ.get("TERN_BENCH_CONTENT_CHECK") != "1":
            self.set_main_cf({"smtpd_content_check_service": ""})
        if main_cf:
            self.set_main_cf(main_cf)

    def prog(self, name):
        p = os.path.join(self.ctx.build, "run", name)
        if not os.path.exists(p):
            raise RuntimeError(f"{p} missing: build tern first (make -j2)")
        return p

    def has(self, daemon):
        return os.path.exists(os.path.join(self.ctx.build, "run", daemon))

    def set_main_cf(self, settings):
        path = os.path.join(self.dir, "main.cf")
        text = open(path).read()
        for k, v in settings.items():
            pat = re.compile(rf"^{re.escape(k)}\s*=.*$", re.M)
            line = f"{k} = {v}"
            text, n = pat.subn(lambda _m: line, text)
            if n == 0:
                text += line + "\n"
            self.settings[k] = v
        write(path, text)

    def main_cf_value(self, key):
        r = sh([self.prog("tern"), "-c", self.dir, "config", key], check=False)
        return r.stdout.strip()

    def port(self, service):
        return self.base + PORT_OFFSETS[service]

    def tool(self, name, *args, check=True, timeout=600):
        return sh([self.prog(name), "-c", self.dir] + list(args), check=check, timeout=timeout)

    def start(self):
        self.tool("tern", "start")
        wait_port(self.port("smtp"))

    def stop(self):
        self.tool("tern", "stop", check=False, timeout=120)
        wait_until(lambda: not self.processes(), 30, 0.1, "tern processes to exit")

    def processes(self):
        key = f"-c {self.dir} "
        return pids_where(lambda pid, cmd: key in " ".join(cmd) + " " and pid != os.getpid()
                          and os.path.basename(cmd[0]) not in ("tern", "postqueue", "mailq"))

    def daemon_pids(self, daemon):
        key = f"-c {self.dir} "
        return pids_where(lambda pid, cmd: key in " ".join(cmd) + " " and os.path.basename(cmd[0]) == daemon)

    def address(self, user):
        return f"{user}@{DOMAIN}"

    def login(self, user):
        return f"{user}@{DOMAIN}"

    def maildir(self, user):
        return os.path.join(self.dir, "mail", f"{user}@{DOMAIN}")

    def queue_dir(self):
        return os.path.join(self.dir, "queue")

    def queue_count(self, which):
        return count_tree(os.path.join(self.queue_dir(), which))

    def mailq(self):
        return self.tool("postqueue", "-p", timeout=600)

    def flush(self):
        return self.tool("postqueue", "-f", check=False)

    def user_hash(self, user):
        for line in open(os.path.join(self.dir, "users")):
            name, _, h = line.rstrip("\n").partition(":")
            if name in (user, f"{user}@{DOMAIN}"):
                return h
        raise KeyError(user)

    def mail_owner(self):
        return pwd.getpwnam("tern") if os.geteuid() == 0 else pwd.getpwuid(os.getuid())


# ---------------------------------------------------------------- postfix

POSTFIX_DEFAULT_MAIN = "/etc/postfix/main.cf"


def postfix_allow_config(etc):
    """`postfix -c DIR` only works for directories listed in the default
    main.cf's alternate_config_directories."""
    text = open(POSTFIX_DEFAULT_MAIN).read() if os.path.exists(POSTFIX_DEFAULT_MAIN) else ""
    m = re.search(r"^alternate_config_directories\s*=(.*)$", text, re.M)
    have = m.group(1).replace(",", " ").split() if m else []
    if etc in have:
        return
    have.append(etc)
    line = "alternate_config_directories = " + ", ".join(have)
    if m:
        text = text[:m.start()] + line + text[m.end():]
    else:
        text += ("" if text.endswith("\n") or not text else "\n") + \
            "# added by tern's bench/ (private Postfix instances)\n" + line + "\n"
    os.makedirs(os.path.dirname(POSTFIX_DEFAULT_MAIN), exist_ok=True)
    write(POSTFIX_DEFAULT_MAIN, text)


class Postfix:
    def __init__(self, ctx, name="postfix", main_cf=None, users=("user",)):
        self.ctx = ctx
        # a fixed path (per metric name) keeps alternate_config_directories short
        self.dir = os.path.join(ctx.workdir, name)
        self.etc = os.path.join(self.dir, "etc")
        self.stop_if_running()
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in ("etc", "queue", "data", "mail"):
            os.makedirs(os.path.join(self.dir, d))
        pf = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pf.pw_uid, pf.pw_gid)
        os.chown(os.path.join(self.dir, "mail"), pf.pw_uid, pf.pw_gid)
        self.port_smtp = free_port()
        self.users = list(users)
        write(os.path.join(self.etc, "vmailbox"), "".join(f"{u}@{DOMAIN} {u}/\n" for u in self.users))
        self.settings = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "mail.bench.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_maps": f"texthash:{self.etc}/vmailbox",
            "virtual_mailbox_base": os.path.join(self.dir, "mail"),
            "virtual_uid_maps": f"static:{pf.pw_uid}",
            "virtual_gid_maps": f"static:{pf.pw_gid}",
            "maillog_file": os.path.join(self.dir, "maillog"),
            "maillog_file_prefixes": "/tmp",
            "smtpd_recipient_restrictions": "permit_mynetworks, reject",
            "alias_maps": "",
            "alias_database": "",
            "smtputf8_enable": "no",
        }
        if main_cf:
            self.settings.update(main_cf)
        self.write_main_cf()
        master = open("/etc/postfix/master.cf").read()
        master, n = re.subn(r"^smtp\s+inet\s.*$", f"127.0.0.1:{self.port_smtp} inet n - n - - smtpd",
                            master, count=1, flags=re.M)
        if n != 1:
            raise RuntimeError("/etc/postfix/master.cf has no smtp inet line")
        write(os.path.join(self.etc, "master.cf"), master)
        postfix_allow_config(self.etc)

    def write_main_cf(self):
        write(os.path.join(self.etc, "main.cf"), "".join(f"{k} = {v}\n" for k, v in self.settings.items()))

    def set_main_cf(self, settings):
        self.settings.update(settings)
        self.write_main_cf()

    def port(self, service):
        assert service == "smtp"
        return self.port_smtp

    def postfix(self, *args, check=True, timeout=120):
        return sh(["postfix", "-c", self.etc] + list(args), check=check, timeout=timeout)

    def start(self):
        r = self.postfix("start", check=False)
        if r.returncode != 0:
            raise RuntimeError(f"postfix start failed: {r.stdout} {r.stderr} (see {self.dir}/maillog; "
                               "postfix -c reports some errors only to syslog)")
        wait_port(self.port_smtp)

    def reload(self):
        self.postfix("reload")

    def master_pid(self):
        try:
            pid = int(open(os.path.join(self.dir, "queue", "pid", "master.pid")).read().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return 0

    def stop_if_running(self):
        if os.path.exists(os.path.join(self.etc, "main.cf")) and self.master_pid():
            self.stop()

    def stop(self):
        pid = self.master_pid()
        self.postfix("stop", check=False)
        if pid:
            try:
                wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 30, 0.1, "postfix master to exit")
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self.processes(), 30, 0.1, "postfix processes to exit")

    def processes(self):
        pid = self.master_pid()
        return children_of([pid]) if pid else []

    def daemon_pids(self, daemon):
        def program(pid):
            try:  # a short-lived Postfix process may be gone already
                return open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0].decode(errors="replace")
            except OSError:
                return ""
        return [p for p in self.processes() if program(p).split("/")[-1] == daemon]

    def address(self, user):
        return f"{user}@{DOMAIN}"

    def maildir(self, user):
        return os.path.join(self.dir, "mail", user)

    def queue_count(self, which):
        return count_tree(os.path.join(self.dir, "queue", which))

    def mailq(self):
        return sh(["postqueue", "-c", self.etc, "-p"], timeout=600)

    def flush(self):
        return sh(["postqueue", "-c", self.etc, "-f"], check=False)


# ---------------------------------------------------------------- dovecot

class Dovecot:
    """IMAP and POP3 on loopback; users' maildirs at DIR/mail/USER/Maildir,
    owned by the mail user given (tern's mail_owner, so both servers run
    their sessions as the same unprivileged account)."""

    def __init__(self, ctx, users, hashes, mail_user, name="dovecot", max_sessions=100):
        self.ctx = ctx
        self.dir = os.path.join(ctx.workdir, name)
        self.stop_if_running()
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in ("run", "state", "mail"):
            os.makedirs(os.path.join(self.dir, d))
        os.chmod(self.dir, 0o755)
        os.chown(os.path.join(self.dir, "mail"), mail_user.pw_uid, mail_user.pw_gid)
        self.users = list(users)
        self.mail_user = mail_user
        self.port_imap = free_port()
        self.port_pop3 = free_port()
        write(os.path.join(self.dir, "passwd"),
              "".join(f"{u}@{DOMAIN}:{{CRYPT}}{hashes[u]}\n" for u in self.users), 0o640)
        os.chown(os.path.join(self.dir, "passwd"), 0, grp.getgrnam("dovecot").gr_gid)
        limit = max(1000, max_sessions + 200)
        self.settings = {
            "mail_fsync": "always",
            "mail_location": f"maildir:{self.dir}/mail/%u/Maildir",
            "passdb": "passwd-file, scheme CRYPT (yescrypt hash copied from tern's users file)",
            "userdb": f"static uid={mail_user.pw_name}",
            "ssl": "no",
            "disable_plaintext_auth": "no",
            "mail_max_userip_connections": str(limit),
            "default_process_limit": str(limit),
            "default_client_limit": str(limit * 2),
        }
        conf = f"""# private Dovecot instance for tern's bench/
base_dir = {self.dir}/run
state_dir = {self.dir}/state
log_path = {self.dir}/dovecot.log
instance_name = tern-bench-{name}
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{self.dir}/mail/%u/Maildir
mail_fsync = always
first_valid_uid = {min(mail_user.pw_uid, 100)}
first_valid_gid = {min(mail_user.pw_gid, 100)}
mail_uid = {mail_user.pw_uid}
mail_gid = {mail_user.pw_gid}
default_internal_user = dovecot
default_login_user = dovenull
default_process_limit = {limit}
default_client_limit = {limit * 2}
default_vsz_limit = 1G
protocol imap {{
  mail_max_userip_connections = {limit}
}}
protocol pop3 {{
  mail_max_userip_connections = {limit}
  pop3_uidl_format = %08Xu%08Xv
}}
passdb {{
  driver = passwd-file
  args = scheme=CRYPT {self.dir}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={self.dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port_imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
  process_limit = {limit}
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {self.port_pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service imap {{
  process_limit = {limit}
}}
service anvil {{
  client_limit = {limit * 4}
}}
service auth {{
  client_limit = {limit * 4}
}}
service stats {{
  client_limit = {limit * 4}
}}
"""
        self.conf = os.path.join(self.dir, "dovecot.conf")
        write(self.conf, conf)

    def port(self, service):
        return {"imap": self.port_imap, "pop3": self.port_pop3}[service]

    def start(self):
        # dovecot's master keeps the stdio it was given: hand it a file, not
        # a pipe we would wait on forever
        out = os.path.join(self.dir, "start.out")
        with open(out, "w") as f:
            r = subprocess.run(["dovecot", "-c", self.conf], stdin=subprocess.DEVNULL, stdout=f, stderr=f,
                               timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot start failed: {open(out).read()}")
        wait_port(self.port_imap)
        wait_port(self.port_pop3)

    def master_pid(self):
        try:
            pid = int(open(os.path.join(self.dir, "run", "master.pid")).read().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return 0

    def stop_if_running(self):
        if os.path.exists(os.path.join(self.dir, "dovecot.conf")) and self.master_pid():
            self.stop()

    def stop(self):
        pid = self.master_pid()
        sh(["doveadm", "-c", os.path.join(self.dir, "dovecot.conf"), "stop"], check=False)
        if pid:
            try:
                wait_until(lambda: not os.path.exists(f"/proc/{pid}"), 30, 0.1, "dovecot to exit")
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)

    def processes(self):
        pid = self.master_pid()
        return children_of([pid]) if pid else []

    def login(self, user):
        return f"{user}@{DOMAIN}"

    def maildir(self, user):
        return os.path.join(self.dir, "mail", f"{user}@{DOMAIN}", "Maildir")
