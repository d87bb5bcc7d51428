"""m5_pop3.py - metric 5: POP3 retrieval of 10,000 messages, tern pop3d vs
Dovecot. Per round: connect, USER/PASS, STAT, then RETR 1..N pipelined in
windows of 50 commands (both servers announce PIPELINING, RFC 2449), QUIT
without DELE, so every round retrieves the same mailbox. Rate = messages /
time of the whole session. One untimed round per side first (index build,
new/ -> cur/)."""
import socket
import time

from common import Report, alternate, cpu_seconds, log, stop_all
from instances import PASSWORD
from m4_imap import SIZE, setup

WINDOW = 50


class Pop:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=300)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.expect_ok()

    def fill(self):
        d = self.s.recv(1 << 20)
        if not d:
            raise ConnectionError("server closed the connection")
        self.buf += d

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            self.fill()

    def expect_ok(self):
        ln = self.line()
        if not ln.startswith(b"+OK"):
            raise RuntimeError(ln.decode(errors="replace"))
        return ln

    def multiline(self):
        """Skip a multi-line response body up to CRLF.CRLF; returns its size."""
        self.expect_ok()
        n = 0
        while True:
            i = self.buf.find(b"\r\n.\r\n")
            if i >= 0:
                n += i
                del self.buf[:i + 5]
                return n
            if self.buf.startswith(b".\r\n"):
                del self.buf[:3]
                return n
            keep = 4
            if len(self.buf) > keep:
                n += len(self.buf) - keep
                del self.buf[:len(self.buf) - keep]
            self.fill()

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.expect_ok()


def retrieve(side, user, count):
    cpu0 = cpu_seconds(side.processes())
    t0 = time.monotonic()
    p = Pop(side.port("pop3"))
    p.cmd(f"USER {side.login(user)}")
    p.cmd(f"PASS {PASSWORD}")
    stat = p.cmd("STAT").split()
    if int(stat[1]) != count:
        raise RuntimeError(f"STAT: {stat}")
    total = 0
    for first in range(1, count + 1, WINDOW):
        last = min(count, first + WINDOW - 1)
        p.s.sendall(b"".join(f"RETR {i}\r\n".encode() for i in range(first, last + 1)))
        for _ in range(first, last + 1):
            total += p.multiline()
    p.cmd("QUIT")
    p.s.close()
    elapsed = time.monotonic() - t0
    if total < count * (SIZE - 100):
        raise RuntimeError(f"only {total} bytes retrieved")
    time.sleep(0.3)  # a per-session server process is reaped (its CPU counted) by now
    return dict(rate=count / elapsed, cpu_us=1e6 * (cpu_seconds(side.processes()) - cpu0) / count)


def run(ctx):
    count = 1000 if ctx.quick else 10000
    tern, dove = setup(ctx, "pop3", ["user"], count)
    rep = Report(ctx, "pop3", "Metric 5: POP3 retrieval of a large mailbox", "dovecot",
                 method=(f"{count} messages of {SIZE} bytes (identical maildir files). One round = connect, "
                         f"USER, PASS, STAT, RETR 1..{count} pipelined {WINDOW} at a time, QUIT (no DELE); "
                         "rate = messages / time of the session; server CPU = user+system CPU of the instance's processes "
                         "(including reaped per-session children) per message. One untimed round per side first."),
                 settings={"tern": tern.settings, "dovecot": dove.settings})
    try:
        tern.start()
        dove.start()
        first = {"tern": [retrieve(tern, "user", count)], "dovecot": [retrieve(dove, "user", count)]}
        res = alternate(ctx.rounds, {
            "tern": lambda r: retrieve(tern, "user", count),
            "dovecot": lambda r: retrieve(dove, "user", count),
        })
        rep.add_from("retrieve rate", "msg/s", "higher", res, "rate", ("ratio>=", 1.0))
        rep.add_from("server CPU", "us/msg", "lower", res, "cpu_us")
        rep.add_from("first session rate", "msg/s", "higher", first, "rate")
    finally:
        stop_all(tern, dove)
    rep.finish()
    return rep
