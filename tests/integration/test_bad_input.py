"""Bad input tried on purpose (what the other suites do not already try):
every classic relay trick from outside mynetworks; an overlong base64 line
in SMTP AUTH; a client that sends one byte at a time is timed out while
others are served; AUTH guessing over SMTP slowed per client address and
per user. Already covered elsewhere and not repeated here: plaintext
pipelined after STARTTLS (test_smtpd.py) and STLS (test_pop3d.py),
smuggling around the end-of-data dot and bare LF in commands
(test_smtpd_limits.py), overlong commands and headers
(test_smtpd_limits.py), POP3 bad commands (test_pop3d.py)."""
import base64
import smtplib
import socket
import ssl
import threading
import time

import pytest

from conftest import have_program
from smtptest import RawSMTP, incoming_ids, started

OUTSIDE = "127.0.0.5"


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


RELAY_TRICKS = [
    "<victim%elsewhere.test@mail.example.test>",          # percent hack through a local domain
    "<victim%elsewhere.test@example.test>",               # ... through a virtual domain
    "<victim%elsewhere.test@relay.test>",                 # ... through a relay domain
    "<elsewhere.test!victim@mail.example.test>",          # bang path
    "<elsewhere.test!victim@relay.test>",
    "<@mail.example.test:victim@elsewhere.test>",         # source route
    "<@mail.example.test,@example.test:victim@elsewhere.test>",
    '<"victim@elsewhere.test"@mail.example.test>',        # quoted local part holding an @
    '<"victim@elsewhere.test"@example.test>',
    "<victim@elsewhere.test@mail.example.test>",          # two @
    "<victim@[192.0.2.1]>",                               # domain literals
    "<victim@[IPv6:2001:db8::1]>",
    "<victim@[127.0.0.1]>",
    "<victim@elsewhere.test.>",                           # trailing dot
    "<victim@ELSEWHERE.test>",
]


@pytest.mark.parametrize("rcpt", RELAY_TRICKS)
def test_relay_tricks_refused_from_outside(make_instance, rcpt):
    inst = started(make_instance, main_cf={"mynetworks": "127.0.0.1/32", "relay_domains": "relay.test"})
    r = RawSMTP(*inst.addr("smtp"), source=OUTSIDE)
    assert r.reply()[0] == 220
    assert r.cmd("EHLO outside.example.test")[0] == 250
    assert r.cmd("MAIL FROM:<spammer@outside.test>")[0] == 250
    code, text = r.cmd("RCPT TO:" + rcpt)
    assert code >= 500, (rcpt, code, text)
    code, text = r.cmd("DATA")
    assert code >= 500, text
    assert r.cmd("QUIT")[0] == 221
    assert incoming_ids(inst) == []


def test_overlong_auth_lines(make_instance):
    inst = started(make_instance, main_cf={"line_length_limit": "2048"})
    host, port = inst.addr("submission")
    r = RawSMTP(host, port)
    assert r.reply()[0] == 220
    r.cmd("EHLO client.example.test")
    assert r.cmd("STARTTLS")[0] == 220
    r.starttls()
    r.cmd("EHLO client.example.test")
    huge = base64.b64encode(b"\0alice@example.test\0" + b"x" * 30000).decode()
    code, text = r.cmd("AUTH PLAIN " + huge)
    assert 500 <= code < 600, text
    # a continuation line that is too long, after AUTH LOGIN
    code, _ = r.cmd("AUTH LOGIN")
    assert code == 334
    code, text = r.cmd(huge)
    assert 500 <= code < 600, text
    # the session survives and a proper login works
    code, _ = r.cmd("AUTH PLAIN " + base64.b64encode(b"\0alice@example.test\0secret-alice").decode())
    assert code == 235
    r.cmd("QUIT")


def test_tail_of_an_overlong_auth_line_is_no_command(make_instance):
    inst = started(make_instance)
    r = RawSMTP(*inst.addr("smtp"))
    assert r.reply()[0] == 220
    r.cmd("EHLO client.example.test")
    assert r.cmd("STARTTLS")[0] == 220
    r.starttls()
    r.cmd("EHLO client.example.test")
    assert r.cmd("AUTH LOGIN")[0] == 334
    r.send("A" * 20000)  # no line end yet: smtpd answers and skips the rest of this line
    code, text = r.reply()
    assert (code, text[:9]) == (500, "500 5.5.6"), text
    r.send("MAIL FROM:<tail@example.org>\r\n")  # the end of the same line
    # had the tail been run, this MAIL would be a nested one (503)
    assert r.cmd("MAIL FROM:<real@example.org>")[0] == 250
    assert r.cmd("QUIT")[0] == 221


def test_one_byte_at_a_time_is_timed_out_and_does_not_starve_others(make_instance):
    inst = started(make_instance, main_cf={"smtpd_timeout": "3s"})
    host, port = inst.addr("smtp")
    stop = threading.Event()
    outcome = {}

    def dribble(k):
        s = socket.create_connection((host, port), timeout=20)
        s.recv(1000)  # greeting
        t0 = time.time()
        line = b"EHLO " + b"a" * 200 + b"\r\n"
        try:
            i = 0
            while not stop.is_set() and time.time() - t0 < 15:
                s.sendall(line[i % len(line):i % len(line) + 1])
                i += 1
                s.settimeout(0.3)
                try:
                    data = s.recv(1000)
                    if data.startswith(b"421") or not data:
                        outcome[k] = (time.time() - t0, data)
                        return
                except socket.timeout:
                    pass
        except OSError as e:
            outcome[k] = (time.time() - t0, repr(e))
            return
        finally:
            s.close()
        outcome[k] = (time.time() - t0, b"not timed out")

    slow = [threading.Thread(target=dribble, args=(k,)) for k in range(20)]
    for t in slow:
        t.start()
    try:
        time.sleep(0.5)
        # meanwhile a normal client gets through at once, several times
        for i in range(3):
            t0 = time.time()
            with smtplib.SMTP(host, port, timeout=10) as s:
                s.sendmail("bob@example.org", ["alice@example.test"], f"Subject: fast {i}\r\n\r\nx\r\n")
            assert time.time() - t0 < 2.5, "a fast client waited behind slow ones"
    finally:
        for t in slow:
            t.join(30)
        stop.set()
    assert len(outcome) == 20
    for k, (secs, what) in outcome.items():
        assert secs < 8, (k, secs, what)  # 3 s limit, each byte took at most 0.3 s
        assert what != b"not timed out"
    assert len(incoming_ids(inst)) == 3
    inst.wait_log(r"timeout after CONNECT from")


def smtp_auth(inst, user, password, source):
    """One AUTH PLAIN over submission from source: (code, seconds)."""
    with smtplib.SMTP(*inst.addr("submission"), timeout=30, source_address=(source, 0)) as s:
        s.starttls(context=tls_ctx())
        s.ehlo("client.example.test")
        t0 = time.time()
        cred = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        code, _ = s.docmd("AUTH", "PLAIN " + cred)
        return code, time.time() - t0


def test_auth_guessing_slowed_per_address_and_per_user(make_instance):
    inst = started(make_instance, main_cf={"auth_failure_delay": "1s", "auth_failure_max_delay": "2s",
                                           "auth_failure_limit": "3", "auth_failure_window": "1h"})
    # per address: the second wrong guess from 127.0.0.31 waits longer than the first
    c1, t1 = smtp_auth(inst, "alice@example.test", "guess1", "127.0.0.31")
    c2, t2 = smtp_auth(inst, "bob@example.test", "guess2", "127.0.0.31")
    assert (c1, c2) == (535, 535)
    assert t1 >= 0.9 and t2 >= 1.9, (t1, t2)
    # per user: guesses at bob from three more addresses, one each; then even a
    # fresh address cannot log in as him, while alice still can
    for src in ("127.0.0.41", "127.0.0.42", "127.0.0.43"):
        code, _ = smtp_auth(inst, "bob@example.test", "nope", src)
    code, _ = smtp_auth(inst, "bob@example.test", "secret-bob", "127.0.0.44")
    assert code == 454, code
    code, _ = smtp_auth(inst, "alice@example.test", "secret-alice", "127.0.0.45")
    assert code == 235, code


# ---------------------------------------------------------------- IMAP

needs_imapd = pytest.mark.skipif(not have_program("imapd"), reason="needs imapd")


class RawIMAP:
    def __init__(self, addr, timeout=10):
        self.sock = socket.create_connection(addr, timeout=timeout)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        while b"\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError(self.buf)
            self.buf += d
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def until(self, tag):
        """Lines up to and including the tagged response for tag."""
        out = []
        while True:
            line = self.line()
            out.append(line)
            if line.startswith(tag.encode() + b" "):
                return out

    def starttls(self):
        self.sock = tls_ctx().wrap_socket(self.sock)
        self.buf = b""


@needs_imapd
def test_imap_plaintext_pipelined_after_starttls_is_not_executed(make_instance):
    inst = make_instance()
    inst.start()
    r = RawIMAP(inst.addr("imap"))
    assert r.line().startswith(b"* OK")
    # the injected command rides in the same packet as STARTTLS
    r.send("a STARTTLS\r\nb LOGIN alice@example.test secret-alice\r\n")
    assert r.until("a")[-1].startswith(b"a OK")
    r.starttls()
    r.send("c NOOP\r\n")
    lines = r.until("c")
    assert not any(l.startswith(b"b ") for l in lines), lines
    # and we are not logged in: SELECT is refused
    r.send("d SELECT INBOX\r\n")
    assert r.until("d")[-1].startswith((b"d BAD", b"d NO")), "the injected LOGIN was executed"


@needs_imapd
def test_imap_overlong_line_and_authenticate(make_instance):
    inst = make_instance(main_cf={"imapd_line_length_limit": "4k"})
    inst.start()
    r = RawIMAP(inst.addr("imap"))
    r.line()
    r.send("a STARTTLS\r\n")
    r.until("a")
    r.starttls()
    # an AUTHENTICATE response line far beyond any credential
    r.send("b AUTHENTICATE PLAIN\r\n")
    assert r.line().startswith(b"+")
    r.send(base64.b64encode(b"\0alice@example.test\0" + b"x" * 20000) + b"\r\n")
    line = r.line()
    assert line.startswith((b"b BAD", b"b NO", b"* BYE")), line
    # an overlong command line ends the session with an error, never a crash
    r2 = RawIMAP(inst.addr("imap"))
    r2.line()
    r2.send("x NOOP " + "y" * 10000 + "\r\n")
    lines = []
    try:
        while True:
            lines.append(r2.line())
    except (EOFError, OSError):
        pass
    assert any(l.startswith((b"* BYE", b"x BAD")) for l in lines), lines
    # the daemon is still there for everyone else
    r3 = RawIMAP(inst.addr("imap"))
    assert r3.line().startswith(b"* OK")
