"""smtpd's DNS restrictions against a real DNS server on loopback
(tests/tools/dnstest.py): reject_unknown_sender_domain and
reject_unknown_recipient_domain (MX, A/AAAA fallback, null MX, NXDOMAIN,
SERVFAIL), reject_unknown_client_hostname and
reject_unknown_reverse_client_hostname (PTR, then A back to the address),
reject_unknown_helo_hostname, and the verified client name in Received."""
import smtplib

import pytest

from dnstest import DnsServer
from smtptest import incoming_ids, message_of, started

ZONE = """
mx.test.            IN MX 10 mail.mx.test.
mail.mx.test.       IN A 127.0.0.1
aonly.test.         IN A 127.0.0.1
v6only.test.        IN AAAA ::1
nullmx.test.        IN MX 0 .
nomail.test.        IN TXT "exists but has no address"
5.0.0.127.in-addr.arpa. IN PTR good.example.test.
good.example.test.  IN A 127.0.0.5
6.0.0.127.in-addr.arpa. IN PTR liar.example.test.
liar.example.test.  IN A 127.0.0.99
helo.mx.test.       IN A 127.0.0.1
"""


@pytest.fixture
def dns():
    d = DnsServer(ZONE)
    d.start()
    d.set_servfail("broken.test")
    d.set_servfail("8.0.0.127.in-addr.arpa")
    yield d
    d.stop()


def instance(make_instance, dns, **cf):
    cf.setdefault("dns_resolver", f"127.0.0.1@{dns.port}")
    cf.setdefault("dns_timeout", "3s")
    return started(make_instance, main_cf=cf)


def rcpt(inst, sender="alice@example.test", to="bob@example.test", source=None, helo="c.example.test"):
    with smtplib.SMTP(*inst.addr("smtp"), timeout=20, source_address=(source, 0) if source else None) as s:
        s.ehlo(helo)
        code, text = s.mail(sender)
        if code != 250:
            return code, text.decode()
        code, text = s.rcpt(to)
        return code, text.decode()


def test_unknown_sender_domain(make_instance, dns):
    inst = instance(make_instance, dns, smtpd_sender_restrictions="reject_unknown_sender_domain")
    assert rcpt(inst, sender="a@mx.test")[0] == 250
    assert rcpt(inst, sender="a@aonly.test")[0] == 250
    assert rcpt(inst, sender="a@v6only.test")[0] == 250
    assert rcpt(inst, sender="")[0] == 250
    assert rcpt(inst, sender="a@gone.test") == (550, "5.1.8 <a@gone.test>: Sender address rejected: Domain not found")
    assert rcpt(inst, sender="a@nomail.test") == (550, "5.1.8 <a@nomail.test>: Sender address rejected: Domain not found")
    assert rcpt(inst, sender="a@nullmx.test") == (
        550, "5.7.27 <a@nullmx.test>: Sender address rejected: Domain nullmx.test does not accept mail (nullMX)")
    code, text = rcpt(inst, sender="a@broken.test")
    assert code == 450 and text.startswith("4.1.8 <a@broken.test>: Sender address rejected: Domain not found")


def test_unknown_recipient_domain(make_instance, dns):
    inst = instance(make_instance, dns, smtpd_recipient_restrictions="reject_unknown_recipient_domain")
    assert rcpt(inst, to="x@mx.test")[0] == 250
    assert rcpt(inst, to="x@aonly.test")[0] == 250
    # our own domains need no DNS
    assert rcpt(inst, to="bob@example.test")[0] == 250
    assert rcpt(inst, to="x@gone.test") == (550, "5.1.2 <x@gone.test>: Recipient address rejected: Domain not found")
    assert rcpt(inst, to="x@nullmx.test")[0] == 550
    assert rcpt(inst, to="x@broken.test")[0] == 450


def test_unknown_client_hostname(make_instance, dns):
    inst = instance(make_instance, dns, smtpd_client_restrictions="reject_unknown_client_hostname")
    # PTR good.example.test -> A 127.0.0.5: verified
    assert rcpt(inst, source="127.0.0.5")[0] == 250
    # PTR liar.example.test -> A 127.0.0.99: not verified
    assert rcpt(inst, source="127.0.0.6") == (450, "4.7.25 Client host rejected: cannot find your hostname, [127.0.0.6]")
    # no PTR at all
    assert rcpt(inst, source="127.0.0.7") == (450, "4.7.25 Client host rejected: cannot find your hostname, [127.0.0.7]")
    # temporary failure: always 4xx
    assert rcpt(inst, source="127.0.0.8")[0] == 450
    inst.wait_log(r"connect from good.example.test\[127.0.0.5\]")
    inst.wait_log(r"hostname liar.example.test does not resolve to address 127.0.0.6")


def test_unknown_reverse_client_hostname(make_instance, dns):
    inst = instance(make_instance, dns, smtpd_client_restrictions="reject_unknown_reverse_client_hostname",
                    unknown_client_reject_code="550")
    assert rcpt(inst, source="127.0.0.5")[0] == 250
    # a PTR is enough for the reverse check, even if it does not verify
    assert rcpt(inst, source="127.0.0.6")[0] == 250
    assert rcpt(inst, source="127.0.0.7") == (
        550, "5.7.25 Client host rejected: cannot find your reverse hostname, [127.0.0.7]")


def test_unknown_helo_hostname(make_instance, dns):
    inst = instance(make_instance, dns, smtpd_helo_restrictions="reject_unknown_helo_hostname")
    assert rcpt(inst, helo="helo.mx.test")[0] == 250
    assert rcpt(inst, helo="mx.test")[0] == 250  # an MX is enough
    assert rcpt(inst, helo="nohost.test") == (450, "4.7.1 <nohost.test>: Helo command rejected: Host not found")


def test_verified_name_in_received(make_instance, dns):
    inst = instance(make_instance, dns)
    with smtplib.SMTP(*inst.addr("smtp"), timeout=20, source_address=("127.0.0.5", 0)) as s:
        s.ehlo("whatever.example.test")
        s.sendmail("a@mx.test", ["bob@example.test"], "Subject: x\r\n\r\nx\r\n")
    ids = incoming_ids(inst)
    msg = message_of(inst, ids[0]).decode()
    assert msg.startswith("Received: from whatever.example.test (good.example.test [127.0.0.5])")
