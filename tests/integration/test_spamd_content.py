"""test_spamd_content.py - smtpd's content check after DATA
(smtpd_content_check_service = private/spamc, docs/internal-protocols.md)
against spamd's content service, with smtplib: the headers spamd returns
are prepended to the queued message, a failure of any kind accepts the
message with "X-Spam-Status: unchecked (...)" (fail open), and a message
larger than spamd_classify_size_limit is queued without a check."""
import glob
import os
import smtplib

import pytest
from conftest import have_program, wait_for

pytestmark = pytest.mark.skipif(not (have_program("spamd") and have_program("smtpd")),
                                reason="spamd or smtpd not built")


def queued_with(inst, text):
    for root in ("incoming", "active", "deferred", "hold"):
        for p in glob.glob(os.path.join(inst.dir, "queue", root, "**"), recursive=True):
            if os.path.isfile(p):
                try:
                    data = open(p, "rb").read()
                except OSError:
                    continue
                if text.encode() in data:
                    return data
    for p in glob.glob(os.path.join(inst.dir, "mail", "**"), recursive=True):
        if os.path.isfile(p):
            data = open(p, "rb").read()
            if text.encode() in data:
                return data
    return None


def message(subject, body="hello\r\n"):
    return "From: a@remote.example\r\nTo: alice@example.test\r\nSubject: %s\r\n\r\n%s" % (subject, body)


def header_block(data, subject):
    """The header of the queued message that has this subject."""
    i = data.find(b"Subject: " + subject.encode())
    start = data.rfind(b"Received: ", 0, i)
    end = data.find(b"\n\n", i)
    return data[start:end]


def send(inst, subject, body="hello\r\n"):
    with smtplib.SMTP(*inst.addr("smtp"), timeout=60) as s:
        assert s.sendmail("a@remote.example", ["alice@example.test"], message(subject, body)) == {}
    return wait_for(lambda: queued_with(inst, "Subject: " + subject), 15, what="the queued message")


def test_content_service_headers_are_prepended(make_instance):
    inst = make_instance()
    inst.set_main_cf({"smtpd_content_check_service": "private/spamc"})
    inst.start()
    data = send(inst, "content check one")
    hdr = header_block(data, "content check one")
    assert b"\nX-Spam-" in hdr or hdr.startswith(b"X-Spam-"), hdr
    if b"X-Spam-Status: unchecked" in hdr:
        # this build's spamd has no classifier: it says so, and the mail flows
        assert b"X-Spam-Status: unchecked (no content classifier in this build)" in hdr
        inst.wait_log(r"content check failed: no content classifier in this build")
    else:
        assert b"X-Spam-Score: " in hdr
    # our headers come after smtpd's Received line and before the client's header
    assert hdr.index(b"Received: ") < hdr.index(b"X-Spam-Status") < hdr.index(b"From: a@remote.example")


def test_content_check_fails_open(make_instance):
    inst = make_instance()
    inst.set_main_cf({"smtpd_content_check_service": "private/no-such-service"})
    inst.start()
    data = send(inst, "content check down")
    hdr = header_block(data, "content check down")
    assert b"X-Spam-Status: unchecked (" in hdr, hdr
    inst.wait_log(r"content check failed: .*accepted unchecked")


def test_large_message_is_not_held(make_instance):
    inst = make_instance()
    inst.set_main_cf({"smtpd_content_check_service": "private/spamc", "spamd_classify_size_limit": "4k"})
    inst.start()
    body = ("x" * 70 + "\r\n") * 200  # about 14 KiB
    data = send(inst, "content check big", body)
    assert b"X-Spam-Status" not in header_block(data, "content check big")
    assert data.count(b"x" * 70) == 200
    inst.wait_log(r"content check skipped: message larger than 4096 bytes")
    # a small one on the same instance is checked
    hdr = header_block(send(inst, "content check small"), "content check small")
    assert b"X-Spam-Status" in hdr
