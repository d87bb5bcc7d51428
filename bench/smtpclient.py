"""smtpclient.py - the acceptance-latency client of metric 2 (and a helper
for the others). One thread per session, blocking sockets, one connection per
session reused for every message. Each message: MAIL, RCPT, DATA (one
command at a time), the message, then the end of data; the clock starts
right after the last byte of "<CRLF>.<CRLF>" has been handed to the kernel
(sendall returned) and stops when the complete 250 reply line has been read.
So a latency is: network + the server's end-of-data processing, its fsync(s)
and its reply; the client's own work is outside the interval."""
import socket
import threading
import time


class Conn:
    def __init__(self, port, host="127.0.0.1", timeout=120):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                raise ConnectionError("server closed the connection")
            self.buf += d
        ln, _, self.buf = self.buf.partition(b"\r\n")
        return ln

    def reply(self):
        lines = []
        while True:
            ln = self.line()
            lines.append(ln)
            if len(ln) < 4 or ln[3:4] != b"-":
                return int(ln[:3]), lines

    def cmd(self, text, want):
        self.s.sendall(text.encode() + b"\r\n")
        code, lines = self.reply()
        if code != want:
            raise RuntimeError(f"{text!r}: {b' / '.join(lines).decode(errors='replace')}")
        return lines

    def close(self):
        try:
            self.s.sendall(b"QUIT\r\n")
            self.reply()
        except OSError:
            pass
        self.s.close()


def make_message(size, n, sender, rcpt):
    head = (f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: bench message {n}\r\n"
            f"Message-ID: <bench.{n}.{time.time_ns()}@x.test>\r\n\r\n").encode()
    line = b"abcdefghijklmnopqrstuvwxyz0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n"
    body = (line * (size // len(line) + 1))[:max(0, size - len(head) - 2)]
    if not body.endswith(b"\r\n"):
        body = body[:-2] + b"\r\n" if len(body) >= 2 else b"\r\n"
    return head + body


def latencies(port, sessions, per_session, size=4096, sender="a@x.test", rcpt="user@bench.test"):
    """Returns (sorted latencies in seconds, wall seconds)."""
    out = []
    errors = []
    lock = threading.Lock()
    start = threading.Barrier(sessions + 1)

    def worker(i):
        mine = []
        try:
            c = Conn(port)
            c.reply()
            c.cmd("EHLO client.x.test", 250)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(str(e))
            start.wait()
            return
        start.wait()
        try:
            for k in range(per_session):
                c.cmd(f"MAIL FROM:<{sender}>", 250)
                c.cmd(f"RCPT TO:<{rcpt}>", 250)
                c.cmd("DATA", 354)
                msg = make_message(size, i * per_session + k, sender, rcpt)
                c.s.sendall(msg)
                c.s.sendall(b".\r\n")
                t0 = time.perf_counter()
                code, lines = c.reply()
                t1 = time.perf_counter()
                if code != 250:
                    raise RuntimeError(f"end of data: {lines}")
                mine.append(t1 - t0)
            c.close()
        except Exception as e:  # noqa: BLE001
            errors.append(str(e))
        with lock:
            out.extend(mine)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{len(errors)} session(s) failed, first: {errors[0]}")
    return sorted(out), wall
