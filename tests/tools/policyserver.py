"""policyserver.py - a small Postfix policy delegation server for tests.

Speaks the policy protocol in raw attribute mode (name=value lines, an empty
line ends a request; the reply is "action=..." and an empty line), over a
UNIX socket or TCP on loopback, with several requests per connection as
Postfix's smtpd (and tern's) send them. `decide(attrs)` returns the action
text; every request is recorded in `requests` (a list of dicts).

    with PolicyServer(lambda a: "DUNNO", unix_path="/tmp/x/policy") as p:
        ...  # smtpd_recipient_restrictions = check_policy_service unix:/tmp/x/policy

SECURITY: test tool only; binds loopback and trusts its input.
"""
import os
import socket
import threading


class PolicyServer:
    def __init__(self, decide, unix_path=None, host="127.0.0.1", port=0, delay=0.0):
        self.decide = decide
        self.unix_path = unix_path
        self.host = host
        self.port = port
        self.delay = delay
        self.requests = []
        self.connections = 0
        self._lock = threading.Lock()
        self._sock = None
        self._stop = threading.Event()
        self._threads = []

    @property
    def spec(self):
        """The check_policy_service argument for this server."""
        if self.unix_path:
            return "unix:" + self.unix_path
        return f"inet:{self.host}:{self.port}"

    def start(self):
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except FileNotFoundError:
                pass
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(self.unix_path)
            os.chmod(self.unix_path, 0o666)  # smtpd runs as mail_owner
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
            self.port = s.getsockname()[1]
        s.listen(64)
        s.settimeout(0.2)
        self._sock = s
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)
        if self._sock:
            self._sock.close()
        if self.unix_path:
            try:
                os.unlink(self.unix_path)
            except FileNotFoundError:
                pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, c):
        c.settimeout(0.2)
        buf = b""
        try:
            while not self._stop.is_set():
                while b"\n\n" not in buf:
                    try:
                        data = c.recv(65536)
                    except socket.timeout:
                        if self._stop.is_set():
                            return
                        continue
                    if not data:
                        return
                    buf += data
                    if buf.startswith(b"\n"):
                        buf = buf[1:]
                raw, buf = buf.split(b"\n\n", 1)
                attrs = {}
                for line in raw.decode(errors="replace").split("\n"):
                    k, _, v = line.partition("=")
                    attrs[k] = v
                with self._lock:
                    self.requests.append(attrs)
                if self.delay:
                    self._stop.wait(self.delay)
                action = self.decide(attrs)
                c.sendall(f"action={action}\n\n".encode())
        except OSError:
            pass
        finally:
            c.close()
