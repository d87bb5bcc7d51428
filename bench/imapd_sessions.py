#!/usr/bin/python3
"""imapd_sessions.py - what an idle IMAP session costs: starts a `tern init`
instance from a build tree, opens N sessions (plain on port N+143, or TLS on
N+993 with --tls) that log in, SELECT INBOX and IDLE, and prints the RSS
growth of the imapd process per session; then times SELECT and
`UID FETCH 1:* (UID FLAGS)` on a folder of M messages.
Usage: bench/imapd_sessions.py [--sessions N] [--tls] [--messages M] [BUILD_DIR]
Needs root (tern init as root makes the instance run as mail_owner)."""
import argparse
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Conn:
    def __init__(self, port, tls):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s = ctx.wrap_socket(s)
        self.s = s
        self.buf = b""
        self.line()

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def cmd(self, tag, text):
        self.s.sendall(b"%s %s\r\n" % (tag, text))
        n = 0
        while True:
            ln = self.line()
            if ln.startswith(tag + b" "):
                return ln, n
            n += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("build", nargs="?", default=os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
    a = ap.parse_args()
    tern = os.path.join(a.build, "run", "tern")
    top = tempfile.mkdtemp(prefix="tern-bench-", dir="/tmp")
    os.chmod(top, 0o755)
    inst = os.path.join(top, "inst")
    base = 40000 + (os.getpid() % 200) * 100
    subprocess.run([tern, "init", inst, "--domain", "example.test", "--port-base", str(base), "--user", "alice:pw", "--user", "bob:pw"],
                   check=True, capture_output=True)
    with open(os.path.join(inst, "main.cf"), "a") as f:
        f.write("imapd_allow_plaintext_auth = yes\nimapd_user_session_limit = 0\n")
    # the big folder (INBOX), straight into cur/ (sizes in the names, as local delivery writes them)
    md = os.path.join(inst, "mail", "alice@example.test")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, d), exist_ok=True)
    t0 = int(time.time()) - a.messages
    for i in range(a.messages):
        msg = b"From: bulk@example.org\nSubject: bulk %d\n\nx\n" % i
        p = os.path.join(md, "cur", "%d.M%dP1.bench,S=%d,W=%d:2,S" % (t0 + i, i, len(msg), len(msg) + 4))
        with open(p, "wb") as f:
            f.write(msg)
    subprocess.run(["chown", "-R", "tern:", os.path.join(inst, "mail")], check=True)
    subprocess.run([tern, "-c", inst, "start"], check=True, capture_output=True)
    try:
        port = base + (993 if a.tls else 143)
        pid = 0
        for line in open(os.path.join(inst, "queue", "pid", "master.status")):
            f = line.split()
            if f[0] == str(port):
                pid = int(f[3].split(",")[0])
        # idle sessions of another user first (memory freed after the big folder would hide their cost)
        c = Conn(port, a.tls)
        c.cmd(b"a", b"LOGIN bob pw")
        warm = [Conn(port, a.tls) for _ in range(10)]
        for w in warm:
            w.cmd(b"a", b"LOGIN bob pw")
            w.cmd(b"b", b"SELECT INBOX")
        before = rss_kib(pid)
        conns = []
        for i in range(a.sessions):
            x = Conn(port, a.tls)
            x.cmd(b"a", b"LOGIN bob pw")
            x.cmd(b"b", b"SELECT INBOX")
            x.s.sendall(b"c IDLE\r\n")
            x.line()
            conns.append(x)
        after = rss_kib(pid)
        print("%d idle sessions (%s): imapd RSS %d -> %d KiB, %.1f KiB per session"
              % (a.sessions, "TLS" if a.tls else "plain", before, after, (after - before) / a.sessions))
        c = Conn(port, a.tls)
        t = time.time()
        c.cmd(b"a", b"LOGIN alice pw")
        login = time.time() - t
        t = time.time()
        _, n = c.cmd(b"b", b"SELECT INBOX")
        sel = time.time() - t
        t = time.time()
        _, n = c.cmd(b"c", b"UID FETCH 1:* (UID FLAGS)")
        fetch = time.time() - t
        print("%d messages: login %.2fs, SELECT %.3fs, UID FETCH 1:* (UID FLAGS) %.3fs (%d lines)"
              % (a.messages, login, sel, fetch, n))
        c.cmd(b"d", b"LOGOUT")
    finally:
        subprocess.run([tern, "-c", inst, "stop"], capture_output=True)
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
