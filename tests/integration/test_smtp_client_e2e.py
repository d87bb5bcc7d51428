"""Mail between two real tern instances through smtp-client: instances on
127.0.0.2 (a.test) and 127.0.0.3 (b.test) with one port base, each the MX of
its own domain in the test DNS server (tests/tools/dnstest.py), each
sending to the other's smtpd port through smtp_remote_port. Mail from a user
of one to a user of the other arrives with both instances' Received
headers; with the first of two MX hosts down it goes to the second; an
unknown remote user comes back to the sender as an RFC 3464 report; a
remote answering 451 leaves the mail deferred with the reason in mailq until
it recovers and `postqueue -f` sends it.

These need the whole delivery path (smtpd, qmgr, local-delivery) and are
skipped while a program is missing from the build."""
import email.policy
import mailbox
import os
import re
import smtplib
import time

import pytest

from conftest import PORT_OFFSETS, free_port_base, have_program, port_free, wait_for
from dnstest import DnsServer
from fakesmtp import FakeSMTP

NEEDED = ("smtpd", "qmgr", "local-delivery", "smtp-client", "postqueue")
pytestmark = pytest.mark.skipif(not all(have_program(p) for p in NEEDED),
                                reason="needs " + ", ".join(p for p in NEEDED if not have_program(p)))


def common_port_base(*hosts):
    """A port base whose ports are free on every one of these addresses."""
    for _ in range(100):
        base = free_port_base(hosts[0])
        if all(port_free(h, base + off) for h in hosts[1:] for off in PORT_OFFSETS.values()):
            return base
    raise RuntimeError("no common free port base")


def instance_for(make_instance, dns, listen, domain, base):
    inst = make_instance(listen=listen, domain=domain, port_base=base)
    inst.set_main_cf({
        "dns_resolver": dns.forwarder,
        "smtp_remote_port": str(base + PORT_OFFSETS["smtp"]),
        "smtp_bind_address": listen,
        "smtp_connect_timeout": "5s",
        "smtp_helo_timeout": "20s",
    })
    return inst


def messages(inst, user, n, timeout=60):
    """Wait for n messages in the user's maildir and return them."""
    path = inst.maildir(user)

    def have():
        if not os.path.isdir(os.path.join(path, "new")):
            return None
        box = mailbox.Maildir(path, factory=None, create=False)
        msgs = [box.get_message(k) for k in box.keys()]
        return msgs if len(msgs) >= n else None

    return wait_for(have, timeout, interval=0.2, what=f"{n} message(s) for {user} in {path}")


def send(inst, sender, rcpts, subject, body="Hello from the other side.\n"):
    msg = f"From: {sender}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n\r\n{body}"
    with smtplib.SMTP(inst.listen, inst.port("smtp"), timeout=30) as s:
        s.ehlo("client.test")
        s.sendmail(sender, rcpts, msg)


@pytest.fixture
def dns():
    with DnsServer() as d:
        yield d


@pytest.fixture
def pair(make_instance, dns):
    base = common_port_base("127.0.0.2", "127.0.0.3")
    dns.add("""
a.test. IN MX 10 mail.a.test.
mail.a.test. IN A 127.0.0.2
b.test. IN MX 10 mail.b.test.
mail.b.test. IN A 127.0.0.3
""")
    a = instance_for(make_instance, dns, "127.0.0.2", "a.test", base)
    b = instance_for(make_instance, dns, "127.0.0.3", "b.test", base)
    a.start()
    b.start()
    return a, b


def received_by(msg):
    return [re.sub(r"\s+", " ", str(h)) for h in msg.get_all("Received", [])]


def test_mail_between_two_instances(pair):
    a, b = pair
    send(a, "alice@a.test", ["bob@b.test"], "a to b")
    got = messages(b, "bob", 1)[0]
    assert got["Subject"] == "a to b"
    rcv = received_by(got)
    assert len(rcv) >= 2, rcv
    assert any("by mail.b.test" in r for r in rcv), rcv
    assert any("by mail.a.test" in r for r in rcv), rcv
    # the newest header is B's, naming A as the client
    assert "mail.a.test" in rcv[0] and "127.0.0.2" in rcv[0]
    assert re.search(r"to=<bob@b\.test>, relay=mail\.b\.test\[127\.0\.0\.3\]:\d+.*status=sent", a.log())
    # and back the other way
    send(b, "bob@b.test", ["alice@a.test"], "b to a")
    assert messages(a, "alice", 1)[0]["Subject"] == "b to a"


def test_first_mx_down_second_gets_the_mail(make_instance, dns):
    base = common_port_base("127.0.0.2", "127.0.0.3", "127.0.0.4")
    dns.add("""
b.test. IN MX 10 mx1.b.test.
b.test. IN MX 20 mail.b.test.
mx1.b.test. IN A 127.0.0.4
mail.b.test. IN A 127.0.0.3
""")
    a = instance_for(make_instance, dns, "127.0.0.2", "a.test", base)
    b = instance_for(make_instance, dns, "127.0.0.3", "b.test", base)
    a.start()
    b.start()
    send(a, "alice@a.test", ["bob@b.test"], "via the backup")
    got = messages(b, "bob", 1)[0]
    assert got["Subject"] == "via the backup"
    log = a.log()
    assert re.search(r"connect to mx1\.b\.test\[127\.0\.0\.4\]:\d+: Connection refused", log), log[-3000:]
    assert re.search(r"to=<bob@b\.test>, relay=mail\.b\.test\[127\.0\.0\.3\]", log)


def test_unknown_remote_user_bounces_to_the_sender(pair):
    a, b = pair
    send(a, "alice@a.test", ["nobody@b.test"], "to nobody")
    report = messages(a, "alice", 1)[0]
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = [p.get_content_type() for p in report.walk()]
    assert "message/delivery-status" in parts
    status = next(p for p in report.walk() if p.get_content_type() == "message/delivery-status")
    text = status.as_string()
    assert "nobody@b.test" in text
    assert re.search(r"Status: 5\.\d\.\d", text)
    assert "mail.b.test" in text  # Remote-MTA / Diagnostic-Code quote the remote
    assert not os.path.isdir(os.path.join(b.maildir("nobody"), "new"))


def test_deferred_on_451_then_delivered_after_flush(make_instance, dns):
    base = common_port_base("127.0.0.2", "127.0.0.5")
    dns.add("""
c.test. IN MX 10 mx.c.test.
mx.c.test. IN A 127.0.0.5
""")
    a = instance_for(make_instance, dns, "127.0.0.2", "a.test", base)
    a.start()
    with FakeSMTP("127.0.0.5", base + PORT_OFFSETS["smtp"], hostname="mx.c.test") as mx:
        mx.default_rcpt = "451 4.3.0 <carol@c.test>: try again later"
        send(a, "alice@a.test", ["carol@c.test"], "greylisted")

        def deferred():
            out = a.tool("postqueue", "-p").stdout
            return out if "451 4.3.0" in out else None

        q = wait_for(deferred, 60, interval=0.5, what="the message deferred in mailq")
        assert "carol@c.test" in q
        assert "host mx.c.test[127.0.0.5] said: 451 4.3.0 <carol@c.test>: try again later" in q.replace("\n", " ") \
            or "said: 451 4.3.0" in q
        assert mx.messages == []
        mx.default_rcpt = "250 2.1.5 Ok"
        a.tool("postqueue", "-f")
        got = mx.wait_messages(1, timeout=60)[0]
        assert got["rcpts"][0][0] == "carol@c.test"
        assert b"Subject: greylisted" in got["data"]
        wait_for(lambda: "carol@c.test" not in a.tool("postqueue", "-p").stdout, 30, interval=0.5,
                 what="an empty queue")
