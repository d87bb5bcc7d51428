"""test_spamd_smtp.py - spamd behind tern's own smtpd, end to end with
Python's smtplib: `smtpd_recipient_restrictions = ..., check_policy_service
unix:private/spamd` greylists a new triplet with 450 4.7.1 and accepts the
retry after greylist_delay (with an X-Greylist header in the queued
message), rejects an SPF fail with 550 5.7.23, prepends Received-SPF once
per message, and a DNSBL-listed client is refused. DNS answers come from
a real DNS server on loopback."""
import glob
import os
import smtplib
import time

import pytest
from conftest import have_program, wait_for

from dnstest import DnsServer

pytestmark = pytest.mark.skipif(not (have_program("spamd") and have_program("smtpd")),
                                reason="spamd or smtpd not built")

ZONE = """$ORIGIN example.test.
$TTL 0
@            IN SOA ns hostmaster 1 3600 600 86400 0
pass         IN TXT "v=spf1 ip4:127.0.0.0/8 -all"
fail         IN TXT "v=spf1 ip4:192.0.2.0/24 -all"
1.0.0.127.bl IN A 127.0.0.2
"""

MESSAGE = "From: sender@remote.example\r\nTo: alice@example.test\r\nSubject: greylisting\r\n\r\nhello\r\n"


@pytest.fixture
def dns():
    with DnsServer(ZONE) as d:
        yield d


def start(make_instance, dns, **cf):
    inst = make_instance()
    settings = {
        "dns_resolver": dns.forwarder,
        "dns_timeout": "2s",
        "spamd_client_whitelist": "",
        "smtpd_recipient_restrictions": "reject_unauth_destination, check_policy_service unix:private/spamd",
        "greylist_delay": "2s",
    }
    settings.update(cf)
    inst.set_main_cf(settings)
    inst.start()
    return inst


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
    # delivered already?
    for p in glob.glob(os.path.join(inst.dir, "mail", "**"), recursive=True):
        if os.path.isfile(p):
            data = open(p, "rb").read()
            if text.encode() in data:
                return data
    return None


def test_greylisting_through_smtp_retries(make_instance, dns):
    inst = start(make_instance, dns, spamd_policy_checks="spf, greylist")
    with smtplib.SMTP(*inst.addr("smtp"), timeout=30) as s:
        s.ehlo("client.remote.example")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("sender@pass.example.test", ["alice@example.test"], MESSAGE)
        code, text = e.value.recipients["alice@example.test"]
        assert code == 450, e.value.recipients
        assert text.startswith(b"4.7.1 "), text
        assert b"Greylisted" in text and b"try again in 2 seconds" in text
    time.sleep(2.2)
    with smtplib.SMTP(*inst.addr("smtp"), timeout=30) as s:
        s.ehlo("client.remote.example")
        refused = s.sendmail("sender@pass.example.test", ["alice@example.test"], MESSAGE.replace(
            "Subject: greylisting", "Subject: greylisting retry"))
        assert refused == {}
    data = wait_for(lambda: queued_with(inst, "Subject: greylisting retry"), 10, what="the queued message")
    # one PREPEND per message: the SPF check comes first, so Received-SPF it is
    assert b"Received-SPF: pass (" in data
    inst.wait_log(r"greylist=passed\(delayed [23]s\)")
    # a second message of the same triplet is not delayed again
    with smtplib.SMTP(*inst.addr("smtp"), timeout=30) as s:
        s.ehlo("client.remote.example")
        assert s.sendmail("sender@pass.example.test", ["alice@example.test"], MESSAGE) == {}


def test_greylist_header_when_it_is_the_only_check(make_instance, dns):
    inst = start(make_instance, dns, spamd_policy_checks="greylist")
    msg = MESSAGE.replace("Subject: greylisting", "Subject: only greylisting")
    with smtplib.SMTP(*inst.addr("smtp"), timeout=30) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            s.sendmail("x@remote.example", ["alice@example.test"], msg)
    time.sleep(2.2)
    with smtplib.SMTP(*inst.addr("smtp"), timeout=30) as s:
        assert s.sendmail("x@remote.example", ["alice@example.test"], msg) == {}
    data = wait_for(lambda: queued_with(inst, "Subject: only greylisting"), 10, what="the queued message")
    assert b"X-Greylist: delayed " in data


def test_spf_fail_and_dnsbl_are_refused_at_rcpt(make_instance, dns):
    inst = start(make_instance, dns, spamd_policy_checks="dnsbl, spf", dnsbl_sites="bl.example.test")
    with smtplib.SMTP(*inst.addr("smtp"), timeout=30) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("sender@fail.example.test", ["alice@example.test"], MESSAGE)
        code, text = e.value.recipients["alice@example.test"]
        assert code == 554 and b"blocked using bl.example.test" in text, e.value.recipients
    inst2 = start(make_instance, dns, spamd_policy_checks="spf")
    with smtplib.SMTP(*inst2.addr("smtp"), timeout=30) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("sender@fail.example.test", ["alice@example.test"], MESSAGE)
        code, text = e.value.recipients["alice@example.test"]
        assert code == 550 and text.startswith(b"5.7.23 "), e.value.recipients
        assert b"SPF fail" in text
    # two recipients of one message get one Received-SPF
    with smtplib.SMTP(*inst2.addr("smtp"), timeout=30) as s:
        msg = MESSAGE.replace("Subject: greylisting", "Subject: two recipients")
        assert s.sendmail("sender@pass.example.test", ["alice@example.test", "bob@example.test"], msg) == {}
    data = wait_for(lambda: queued_with(inst2, "Subject: two recipients"), 10, what="the queued message")
    assert data.count(b"Received-SPF:") == 1
