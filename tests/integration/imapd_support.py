"""imapd_support.py - shared pieces of imapd's own integration tests
(test_imapd*.py): seeding maildirs with Python's mailbox module (owned by
the instance's mail_owner, as local delivery would leave them), imaplib
connections of the three kinds (plain, STARTTLS, port 993) and a raw
socket client for what imaplib hides (IDLE, literals, exact wire bytes).
Every socket has a timeout. The mail-store and TLS basics are the black-box
suite's (imap_helpers.py), shared rather than written twice."""
import imaplib
import mailbox
import os
import re
import socket
import ssl
import time

from imap_helpers import chown_tree, crlf, owner_ids  # noqa: F401 (re-exported for the tests)
from imap_helpers import tls_context as tls_ctx

TIMEOUT = 20


def folder_path(inst, user, folder="INBOX"):
    base = inst.maildir(user)
    if folder == "INBOX":
        return base
    return os.path.join(base, "." + ".".join(x.replace(".", "%2E") for x in folder.split("/")))


def seed(inst, user, msgs, folder="INBOX", flags=None):
    """Add messages (bytes, LF line ends) with Python's mailbox module."""
    path = folder_path(inst, user, folder)
    md = mailbox.Maildir(inst.maildir(user), create=True)
    if folder != "INBOX":
        md = mailbox.Maildir(path, create=True)
        open(os.path.join(path, "maildirfolder"), "a").close()
    for i, m in enumerate(msgs):
        mm = mailbox.MaildirMessage(m)
        if flags and flags[i] is not None:
            mm.set_subdir("cur")
            mm.set_flags(flags[i])
        md.add(mm)
        time.sleep(0.002)  # distinct mtimes keep delivery order
    chown_tree(inst.maildir(user))


def connect(inst, kind="plain", login=None):
    if kind == "ssl":
        m = imaplib.IMAP4_SSL(inst.listen, inst.port("imaps"), ssl_context=tls_ctx(), timeout=TIMEOUT)
    else:
        m = imaplib.IMAP4(inst.listen, inst.port("imap"), timeout=TIMEOUT)
        if kind == "starttls":
            m.starttls(ssl_context=tls_ctx())
    if login:
        typ, _ = m.login(*login)
        assert typ == "OK"
    return m


def ok(res):
    typ, data = res
    assert typ == "OK", (typ, data)
    return data


class Raw:
    """A line-level IMAP client: send exact bytes, read responses with
    literals inlined."""

    def __init__(self, inst, tls=False):
        s = socket.create_connection(inst.addr("imaps" if tls else "imap"), timeout=TIMEOUT)
        if tls:
            s = tls_ctx().wrap_socket(s)
        self.s = s
        self.buf = b""
        self.n = 0
        self.greeting = self.response()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def fill(self):
        d = self.s.recv(1 << 16)
        if not d:
            raise EOFError("server closed the connection; buffered %r" % self.buf[:200])
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.fill()
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def response(self):
        out = b""
        while True:
            ln = self.line()
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if m and not ln.startswith(b"+"):
                n = int(m.group(1))
                while len(self.buf) < n:
                    self.fill()
                out += ln + self.buf[:n]
                self.buf = self.buf[n:]
                continue
            return out + ln[:-2]

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def tag(self):
        self.n += 1
        return "r%d" % self.n

    def cmd(self, text):
        """Send one command line (may hold LITERAL+ literals); return
        (tagged line, untagged lines)."""
        t = self.tag()
        self.send(t.encode() + b" " + (text if isinstance(text, bytes) else text.encode()) + b"\r\n")
        return self.wait(t)

    def wait(self, t):
        untagged = []
        while True:
            r = self.response()
            if r.startswith(t.encode() + b" "):
                return r, untagged
            untagged.append(r)

    def closed(self, wait=3.0):
        end = time.time() + wait
        try:
            while time.time() < end:
                self.s.settimeout(max(0.05, end - time.time()))
                d = self.s.recv(1 << 16)
                if not d:
                    return True
                self.buf += d
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        return False


def status_word(tagged):
    return tagged.split(b" ", 2)[1]
