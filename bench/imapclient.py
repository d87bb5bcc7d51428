"""imapclient.py - a minimal IMAP client for the benchmarks: fast enough
that the server, not the client, sets the pace. It never parses message
data: a FETCH response is read as raw bytes until the tagged reply, whose
tag cannot occur inside the generated messages (bench/mailstore.py)."""
import socket


class Imap:
    def __init__(self, port, host="127.0.0.1", timeout=300):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.n = 0
        self.line()  # greeting

    def line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return ln
            d = self.s.recv(1 << 20)
            if not d:
                raise ConnectionError("server closed the connection")
            self.buf += d

    def send(self, cmd):
        self.n += 1
        tag = f"b{self.n:05d}"
        self.s.sendall(f"{tag} {cmd}\r\n".encode())
        return tag.encode()

    def cmd(self, cmd):
        """Send, read lines up to the tagged reply; returns (untagged lines, tagged line)."""
        tag = self.send(cmd)
        lines = []
        while True:
            ln = self.line()
            if ln.startswith(tag + b" "):
                if not ln[len(tag) + 1:].startswith(b"OK"):
                    raise RuntimeError(f"{cmd!r}: {ln.decode(errors='replace')}")
                return lines, ln
            lines.append(ln)

    def bulk(self, cmd):
        """Send, read raw bytes until the tagged OK; returns the byte count."""
        tag = self.send(cmd)
        want = b"\r\n" + tag + b" "
        total = 0
        tail = bytearray()
        while True:
            d = self.s.recv(1 << 20)
            if not d:
                raise ConnectionError("server closed the connection")
            total += len(d)
            tail += d
            i = tail.find(want)
            if i >= 0:
                rest = tail[i + 2:]
                while b"\r\n" not in rest:
                    more = self.s.recv(65536)
                    if not more:
                        raise ConnectionError("closed in the tagged reply")
                    rest += more
                status = bytes(rest[len(tag) + 1:rest.find(b"\r\n")])
                if not status.startswith(b"OK"):
                    raise RuntimeError(f"{cmd!r}: {status.decode(errors='replace')}")
                return total
            del tail[:max(0, len(tail) - len(want))]

    def login(self, user, password):
        return self.cmd(f'LOGIN "{user}" "{password}"')

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, RuntimeError, ConnectionError):
            pass
        self.s.close()
