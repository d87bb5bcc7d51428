"""fakesmtp.py - a scriptable SMTP server for tern's smtp-client tests: a
stand-in for a remote MTA on loopback that can answer 250, 451 or 550 per
command and per recipient, leave out PIPELINING, 8BITMIME, DSN or SMTPUTF8,
offer STARTTLS, refuse EHLO, greet with an error or not at all, and records
every session and message it receives (envelope, ESMTP parameters, the data
after dot-unstuffing, whether TLS was on).

    with FakeSMTP("127.0.0.5", port) as mx:
        mx.rcpt_replies["nobody@b.test"] = "550 5.1.1 no such user"
        ...
        assert mx.messages[0]["rcpts"] == [...]

SECURITY: test tool only; binds loopback and trusts its input. Every read
has a timeout so a stuck client cannot hang a test."""
import socket
import socketserver
import ssl
import threading
import time


class _Handler(socketserver.StreamRequestHandler):
    timeout = 30

    def setup(self):
        super().setup()
        self.fake = self.server.fake
        self.tls = False

    def send(self, reply):
        self.wfile.write((reply.rstrip("\r\n").replace("\n", "\r\n") + "\r\n").encode())
        self.wfile.flush()

    def readline(self):
        line = self.rfile.readline(65536)
        if not line:
            raise EOFError
        return line

    def handle(self):
        fake = self.fake
        session = {"commands": [], "tls": False, "peer": self.client_address, "transactions": 0}
        with fake.lock:
            fake.sessions.append(session)
            fake._open.append(self.connection)
            fake.connections += 1
        try:
            if fake.greeting_delay:
                time.sleep(fake.greeting_delay)
            if fake.greeting is None:
                time.sleep(fake.silent_for)
                return
            self.send(fake.greeting)
            if not fake.greeting.startswith("2"):
                self.readline()  # QUIT or close
                return
            txn = None
            while True:
                raw = self.readline()
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                cmd = line.split(" ", 1)[0].upper()
                session["commands"].append(line)
                if cmd == "EHLO":
                    session["helo"] = line[5:]
                    if fake.ehlo_refused:
                        self.send("502 5.5.2 Error: command not recognized")
                        continue
                    exts = list(fake.extensions)
                    if fake.starttls and self.server.tls_ctx and not self.tls:
                        exts.append("STARTTLS")
                    lines = [fake.hostname] + exts
                    self.send("\n".join(f"250-{l}" for l in lines[:-1]) + f"\n250 {lines[-1]}" if len(lines) > 1
                              else f"250 {lines[0]}")
                elif cmd == "HELO":
                    session["helo"] = line[5:]
                    self.send(f"250 {fake.hostname}")
                elif cmd == "STARTTLS":
                    if not (fake.starttls and self.server.tls_ctx) or self.tls:
                        self.send("502 5.5.1 not offered")
                        continue
                    if fake.starttls_reply:
                        self.send(fake.starttls_reply)
                        continue
                    self.send("220 2.0.0 Ready to start TLS")
                    conn = self.server.tls_ctx.wrap_socket(self.connection, server_side=True)
                    self.connection = conn
                    self.rfile = conn.makefile("rb")
                    self.wfile = conn.makefile("wb")
                    self.tls = True
                    session["tls"] = True
                    session["tls_version"] = conn.version()
                elif cmd == "MAIL":
                    reply = fake.mail_reply
                    if reply.startswith("2"):
                        addr, params = _path(line[10:])
                        txn = {"mail_from": addr, "mail_params": params, "rcpts": [], "tls": self.tls,
                               "helo": session.get("helo")}
                    self.send(reply)
                elif cmd == "RCPT":
                    addr, params = _path(line[8:])
                    reply = fake.rcpt_replies.get(addr.lower(), fake.default_rcpt)
                    if txn is None:
                        reply = "503 5.5.1 Error: need MAIL command"
                    elif reply.startswith("2"):
                        txn["rcpts"].append((addr, params))
                    self.send(reply)
                elif cmd == "DATA":
                    if txn is None or not txn["rcpts"]:
                        self.send("554 5.5.1 Error: no valid recipients")
                        continue
                    self.send(fake.data_reply)
                    if not fake.data_reply.startswith("3"):
                        txn = None
                        continue
                    data = bytearray()
                    while True:
                        l = self.readline()
                        if l == b".\r\n":
                            break
                        if l.startswith(b"."):
                            l = l[1:]
                        data += l
                    txn["data"] = bytes(data)
                    reply = fake.end_reply
                    if reply.startswith("2"):
                        with fake.lock:
                            fake.messages.append(txn)
                    session["transactions"] += 1
                    txn = None
                    self.send(reply)
                elif cmd == "RSET":
                    txn = None
                    self.send("250 2.0.0 Ok")
                elif cmd == "NOOP":
                    self.send("250 2.0.0 Ok")
                elif cmd == "QUIT":
                    self.send("221 2.0.0 Bye")
                    return
                else:
                    self.send("502 5.5.2 Error: command not recognized")
        except (EOFError, ConnectionError, ssl.SSLError, socket.timeout, OSError):
            return


def _path(rest):
    """'<a@b> SIZE=10 BODY=8BITMIME' -> ('a@b', {'SIZE': '10', 'BODY': '8BITMIME'})"""
    rest = rest.strip()
    if rest.startswith("<"):
        end = rest.find(">")
        addr, tail = rest[1:end], rest[end + 1:]
    else:
        addr, _, tail = rest.partition(" ")
    params = {}
    for p in tail.split():
        k, _, v = p.partition("=")
        params[k.upper()] = v
    return addr, params


class _Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class FakeSMTP:
    def __init__(self, host="127.0.0.1", port=0, hostname="mx.fake.test",
                 extensions=("PIPELINING", "SIZE 10240000", "8BITMIME", "DSN", "ENHANCEDSTATUSCODES"),
                 cert=None, key=None):
        self.host = host
        self.port = port
        self.hostname = hostname
        self.extensions = list(extensions)
        self.greeting = f"220 {hostname} ESMTP fake"
        self.greeting_delay = 0
        self.silent_for = 5  # greeting None: say nothing this long, then hang up
        self.ehlo_refused = False
        self.starttls = cert is not None
        self.starttls_reply = None
        self.mail_reply = "250 2.1.0 Ok"
        self.default_rcpt = "250 2.1.5 Ok"
        self.rcpt_replies = {}
        self.data_reply = "354 End data with <CR><LF>.<CR><LF>"
        self.end_reply = "250 2.0.0 Ok: queued as FAKE1"
        self.messages = []
        self.sessions = []
        self.connections = 0
        self.lock = threading.Lock()
        self._open = []
        self._server = None
        self._thread = None
        self._tls_ctx = None
        if cert:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert, key)
            self._tls_ctx = ctx

    def start(self):
        cls = _Server6 if ":" in self.host else _Server
        self._server = cls((self.host, self.port), _Handler)
        self._server.fake = self
        self._server.tls_ctx = self._tls_ctx
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop listening and hang up on every client still connected."""
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.lock:
            for s in self._open:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._open = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def wait_messages(self, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError(f"fake MTA got {len(self.messages)} messages, wanted {n}")
