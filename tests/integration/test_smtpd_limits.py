"""smtpd's limits and bad input: SIZE declared and overrun, the recipient
limit, the hard error limit (421 and disconnect), overlong command lines,
header_size_limit, idle timeouts, the per-client connection limit, bare
CR/LF and the SMTP smuggling variants around the end-of-data dot, the
hop count, and a pipelining client that never reads its replies."""
import os
import smtplib
import socket
import time

import pytest

from conftest import wait_for
from smtptest import RawSMTP, incoming_ids, message_of, started


def session(inst, source=None):
    r = RawSMTP(*inst.addr("smtp"), source=source)
    assert r.reply()[0] == 220
    assert r.cmd("EHLO limits.example.test")[0] == 250
    return r


def test_size_declared_and_overrun(make_instance):
    inst = started(make_instance, main_cf={"message_size_limit": "10000"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("c.example.test")
        assert s.esmtp_features["size"] == "10000"
        code, text = s.mail("alice@example.test", ["SIZE=20000"])
        assert (code, text) == (552, b"5.3.4 Message size exceeds fixed limit")
        assert s.mail("alice@example.test", ["SIZE=5000"])[0] == 250
        assert s.rcpt("bob@example.test")[0] == 250
        code, text = s.data("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 200)
        assert (code, text) == (552, b"5.3.4 Error: message file too big")
        # the session goes on, and a message within the limit is queued
        s.sendmail("alice@example.test", ["bob@example.test"], "Subject: small\r\n\r\nok\r\n")
    assert len(incoming_ids(inst)) == 1
    inst.wait_log(r"reject: END-OF-MESSAGE from \S+\[127.0.0.1\]: 552 5.3.4 Error: message file too big")


def test_recipient_limit(make_instance):
    inst = started(make_instance, main_cf={"smtpd_recipient_limit": "3"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("c.example.test")
        s.mail("alice@example.test")
        for i in range(3):
            assert s.rcpt(f"r{i}@remote.test")[0] == 250
        assert s.rcpt("r3@remote.test") == (452, b"4.5.3 Error: too many recipients")
        assert s.data("Subject: three\r\n\r\nx\r\n")[0] == 250
    assert len(incoming_ids(inst)) == 1


def test_hard_error_limit(make_instance):
    inst = started(make_instance, main_cf={"smtpd_hard_error_limit": "5", "smtpd_soft_error_limit": "100"})
    r = session(inst)
    for i in range(4):
        assert r.cmd("BOGUS%d" % i)[0] == 502
    r.send("BOGUS4\r\n")
    assert r.reply()[0] == 502
    code, text = r.reply()
    assert code == 421 and "4.7.0" in text and "too many errors" in text
    assert r.closed()
    inst.wait_log(r"too many errors after UNKNOWN from \S+\[127.0.0.1\]")


def test_soft_error_limit_delays_replies(make_instance):
    inst = started(make_instance, main_cf={"smtpd_soft_error_limit": "2", "smtpd_error_sleep_time": "1s"})
    r = session(inst)
    r.cmd("BOGUS")
    t0 = time.time()
    r.cmd("BOGUS")  # the second error reaches the soft limit: its reply waits
    assert time.time() - t0 >= 0.9
    assert r.cmd("NOOP")[0] == 250
    r.close()


def test_overlong_command_line(make_instance):
    inst = started(make_instance)
    r = session(inst)
    code, text = r.cmd("NOOP " + "x" * 5000)
    assert (code, text) == (500, "500 5.5.2 Error: line too long")
    # a line far beyond the limit, sent in pieces, costs no memory and one reply
    for _ in range(50):
        r.send("y" * 100000)
    r.send("\r\n")
    assert r.reply()[0] == 500
    assert r.cmd("NOOP")[0] == 250
    r.close()


def test_header_size_limit(make_instance):
    inst = started(make_instance, main_cf={"header_size_limit": "2048"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("c.example.test")
        s.mail("alice@example.test")
        s.rcpt("bob@example.test")
        hdr = "".join(f"X-Filler-{i}: {'h' * 60}\r\n" for i in range(60))
        code, text = s.data(hdr + "\r\nbody\r\n")
        assert (code, text) == (552, b"5.3.4 Error: message header size exceeds limit")
    assert incoming_ids(inst) == []


def test_hop_count(make_instance):
    inst = started(make_instance, main_cf={"hopcount_limit": "5"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("c.example.test")
        s.mail("alice@example.test")
        s.rcpt("bob@example.test")
        hdr = "".join(f"Received: from hop{i}.example.test by x; Mon, 1 Jan 2024 00:00:00 +0000\r\n" for i in range(5))
        code, text = s.data(hdr + "Subject: loop\r\n\r\nbody\r\n")
        assert (code, text) == (554, b"5.4.0 Error: too many hops")
    assert incoming_ids(inst) == []


def test_idle_timeout(make_instance):
    inst = started(make_instance, main_cf={"smtpd_timeout": "2s"})
    r = session(inst)
    time.sleep(3)
    code, text = r.reply()
    assert code == 421 and "4.4.2" in text and "timeout exceeded" in text
    assert r.closed()
    inst.wait_log(r"timeout after EHLO from \S+\[127.0.0.1\]")


def test_data_timeout(make_instance):
    inst = started(make_instance, main_cf={"smtpd_data_timeout": "2s"})
    r = session(inst)
    r.cmd("MAIL FROM:<alice@example.test>")
    r.cmd("RCPT TO:<bob@example.test>")
    assert r.cmd("DATA")[0] == 354
    r.send("Subject: slow\r\n\r\nstarted but never ")
    time.sleep(3)
    assert r.reply()[0] == 421
    assert incoming_ids(inst) == []
    # the temporary file is gone too
    tmp = os.path.join(inst.dir, "queue", "tmp")
    wait_for(lambda: not os.path.isdir(tmp) or os.listdir(tmp) == [], 5, what="tmp/ emptied")


def test_connection_limit_per_client(make_instance):
    inst = started(make_instance, main_cf={"smtpd_client_connection_count_limit": "2"})
    a, b = session(inst), session(inst)
    c = RawSMTP(*inst.addr("smtp"))
    code, text = c.reply()
    assert code == 421 and "too many connections from 127.0.0.1" in text
    # another client address is not affected
    d = RawSMTP(*inst.addr("smtp"), source="127.0.0.9")
    assert d.reply()[0] == 220
    a.cmd("QUIT")
    a.close()
    time.sleep(0.5)
    e = RawSMTP(*inst.addr("smtp"))
    assert e.reply()[0] == 220
    for x in (b, c, d, e):
        x.close()


SMUGGLE = [
    b"\n.\n",
    b"\n.\r\n",
    b"\r\n.\n",
    b"\r.\r\n",
    b"\r\n.\r",
]


@pytest.mark.parametrize("marker", SMUGGLE, ids=[repr(m) for m in SMUGGLE])
def test_smuggling_refused(make_instance, marker):
    inst = started(make_instance)
    r = session(inst)
    r.cmd("MAIL FROM:<alice@example.test>")
    r.cmd("RCPT TO:<bob@example.test>")
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: outer\r\n\r\nouter body" + marker +
           b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
    code, text = r.reply()
    assert code == 521 and "bare <" in text, text
    assert r.closed()
    assert incoming_ids(inst) == []


@pytest.mark.parametrize("marker", SMUGGLE, ids=[repr(m) for m in SMUGGLE])
def test_smuggling_is_one_message_when_bare_newlines_are_allowed(make_instance, marker):
    inst = started(make_instance, main_cf={"smtpd_forbid_bare_newline": "no"})
    r = session(inst)
    r.cmd("MAIL FROM:<alice@example.test>")
    r.cmd("RCPT TO:<bob@example.test>")
    assert r.cmd("DATA")[0] == 354
    r.send(b"Subject: outer\r\n\r\nouter body" + marker +
           b"MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
    code, text = r.reply()
    assert code == 250, text
    # exactly one message, and the would-be commands are inside it
    assert r.cmd("NOOP")[0] == 250
    ids = incoming_ids(inst)
    assert len(ids) == 1
    body = message_of(inst, ids[0])
    assert b"MAIL FROM:<admin@example.test>" in body and b"smuggled" in body


def test_bare_lf_in_a_command(make_instance):
    inst = started(make_instance)
    r = session(inst)
    r.send("NOOP\n")
    code, text = r.reply()
    assert code == 521 and "bare <LF>" in text
    assert r.closed()


def test_client_that_never_reads(make_instance):
    inst = started(make_instance, main_cf={"smtpd_output_buffer_limit": "8192"})
    s = socket.create_connection(inst.addr("smtp"))
    s.settimeout(1)
    chunk = b"NOOP\r\n" * 10000
    sent = 0
    try:
        while sent < 64 << 20:
            s.sendall(chunk)
            sent += len(chunk)
    except socket.timeout:
        pass
    # smtpd stopped reading (socket buffers filled up) instead of queueing
    # megabytes of replies: far less than 64 MB went in
    assert sent < 64 << 20
    s.close()
    # and it still serves others
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as c:
        assert c.noop()[0] == 250


def test_queue_minfree(make_instance):
    # more free space demanded than any test machine has
    inst = started(make_instance, main_cf={"queue_minfree": "1000000g"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("c.example.test")
        assert s.mail("alice@example.test") == (452, b"4.3.1 Insufficient system storage")
    inst.wait_log(r"not enough free space in .*/queue for a message from")
