"""smtptest.py - helpers for smtpd's integration tests: instances without a
queue manager (so queue files stay where smtpd put them), queue inspection
through `postqueue -j` and the files in incoming/, a raw SMTP client for
what smtplib cannot send (BDAT, bare LF, pipelined bytes), and log waits.
"""
import json
import os
import re
import socket
import ssl
import struct
import time


def drop_service(inst, name):
    """Remove a service (and its -o lines) from the instance's master.cf."""
    path = os.path.join(inst.dir, "master.cf")
    out, skip = [], False
    for line in open(path).read().splitlines(keepends=True):
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            skip = line.split()[0] == name
        elif not line.strip() or line.startswith("#"):
            skip = False
        if not skip:
            out.append(line)
    open(path, "w").write("".join(out))


def no_qmgr(inst):
    """Nothing is delivered under the test: no qmgr (when this build has one)."""
    drop_service(inst, "qmgr")


def started(make_instance, main_cf=None, keep_qmgr=False, **kw):
    inst = make_instance(**kw)
    if main_cf:
        inst.set_main_cf(main_cf)
    if not keep_qmgr:
        no_qmgr(inst)
    inst.start()
    return inst


def incoming_ids(inst):
    d = os.path.join(inst.dir, "queue", "incoming")
    return sorted(f for f in os.listdir(d) if re.fullmatch(r"[0-9A-Z]{10}", f))


def queue_file(inst, qid, queue="incoming"):
    return open(os.path.join(inst.dir, "queue", queue, qid), "rb").read()


def message_of(inst, qid, queue="incoming"):
    """The message inside a queue file (header and body, LF line ends), found
    through the file header's lengths (docs/queue.md, format version 1)."""
    data = queue_file(inst, qid, queue)
    assert data[:8] == b"TERNQF\r\n", "not a queue file: %s" % qid
    rcpt_count, env_len, msg_len = struct.unpack_from("<IQQ", data, 12)
    start = 64 + rcpt_count + env_len
    return data[start:start + msg_len]


def postqueue_json(inst):
    r = inst.tool("postqueue", "-j")
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def wait_incoming(inst, n, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        ids = incoming_ids(inst)
        if len(ids) >= n:
            return ids
        time.sleep(0.05)
    raise AssertionError(f"expected {n} queue files, have {len(incoming_ids(inst))}")


class RawSMTP:
    """Bytes in, replies out: for BDAT, bare LF, pipelining and smuggling."""

    def __init__(self, host, port, source=None, timeout=10, tls=False):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """One (possibly multi-line) reply: (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("connection closed; partial: %r" % self.buf)
                self.buf += data
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode(errors="replace"))
            if len(line) < 4 or line[3:4] != b"-":
                return int(lines[-1][:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def starttls(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        self.buf = b""

    def closed(self, timeout=5):
        """True when the server closes the connection (after any replies)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
