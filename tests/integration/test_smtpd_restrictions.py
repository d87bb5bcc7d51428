"""smtpd's restriction vocabulary without DNS: every restriction lets a good
case through and refuses a bad one. Access tables are texthash: files,
policy servers are small Python servers speaking Postfix's protocol over a
UNIX socket and over TCP. (DNS-based restrictions: test_smtpd_dns.py.)"""
import os
import smtplib

import pytest

from policyserver import PolicyServer
from smtptest import incoming_ids, message_of, no_qmgr, started


def table(tmp_path, name, text):
    os.chmod(tmp_path, 0o755)
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, 0o644)
    return f"texthash:{p}"


def client(inst, source=None, helo="client.example.test"):
    s = smtplib.SMTP(*inst.addr("smtp"), timeout=10, source_address=(source, 0) if source else None)
    s.ehlo(helo)
    return s


def try_rcpt(inst, sender="alice@example.test", rcpt="bob@example.test", source=None, helo="client.example.test"):
    """(code, text) of RCPT (or of MAIL when MAIL already fails)."""
    with client(inst, source, helo) as s:
        code, text = s.mail(sender)
        if code != 250:
            return code, text.decode()
        code, text = s.rcpt(rcpt)
        return code, text.decode()


def test_check_client_access(make_instance, tmp_path):
    t = table(tmp_path, "clients", "127.0.0.6 REJECT go away\n127.0.0.7 550 5.7.2 not you\n127.0.0 DUNNO\n")
    inst = started(make_instance, main_cf={"smtpd_client_restrictions": f"check_client_access {t}"})
    assert try_rcpt(inst, source="127.0.0.5")[0] == 250
    assert try_rcpt(inst, source="127.0.0.6") == (554, "5.7.1 <unknown[127.0.0.6]>: Client host rejected: go away")
    assert try_rcpt(inst, source="127.0.0.7") == (550, "5.7.2 <unknown[127.0.0.7]>: Client host rejected: not you")


def test_check_helo_access_and_helo_syntax(make_instance, tmp_path):
    t = table(tmp_path, "helos", "bad.example.test REJECT\nevil.test DEFER come back later\n")
    inst = started(make_instance, main_cf={
        "smtpd_helo_restrictions": f"reject_invalid_helo_hostname, reject_non_fqdn_helo_hostname, check_helo_access {t}"})
    assert try_rcpt(inst, helo="good.example.test")[0] == 250
    assert try_rcpt(inst, helo="[127.0.0.1]")[0] == 250
    assert try_rcpt(inst, helo="bad.example.test") == (554, "5.7.1 <bad.example.test>: Helo command rejected: Access denied")
    # parent domains match too
    assert try_rcpt(inst, helo="host.evil.test") == (450, "4.7.1 <host.evil.test>: Helo command rejected: come back later")
    assert try_rcpt(inst, helo="bad_name!") == (501, "5.5.2 <bad_name!>: Helo command rejected: Invalid name")
    assert try_rcpt(inst, helo="localhost") == (504, "5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname")


def test_helo_required(make_instance):
    inst = started(make_instance, main_cf={"smtpd_helo_required": "yes"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        code, text = s.docmd("MAIL FROM:<alice@example.test>")
        assert (code, text) == (503, b"5.5.1 Error: send HELO/EHLO first")
        s.ehlo("x.example.test")
        assert s.mail("alice@example.test")[0] == 250


def test_check_sender_access_and_fqdn_sender(make_instance, tmp_path):
    t = table(tmp_path, "senders", "spammer@bad.test REJECT\nworse.test 550 5.7.1 no mail from there\n"
                                    "friend@worse.test OK\n")
    inst = started(make_instance, main_cf={"smtpd_sender_restrictions": f"reject_non_fqdn_sender, check_sender_access {t}"})
    assert try_rcpt(inst, sender="someone@good.test")[0] == 250
    assert try_rcpt(inst, sender="spammer@bad.test") == (554, "5.7.1 <spammer@bad.test>: Sender address rejected: Access denied")
    assert try_rcpt(inst, sender="x@mx.worse.test") == (550, "5.7.1 <x@mx.worse.test>: Sender address rejected: no mail from there")
    assert try_rcpt(inst, sender="friend@worse.test")[0] == 250
    assert try_rcpt(inst, sender="unqualified") == (504, "5.5.2 <unqualified>: Sender address rejected: need fully-qualified address")
    # the null sender passes (bounces must get through)
    assert try_rcpt(inst, sender="")[0] == 250


def test_check_recipient_access_and_fqdn_recipient(make_instance, tmp_path):
    t = table(tmp_path, "rcpts", "closed@example.test REJECT mailbox closed\n")
    inst = started(make_instance, main_cf={
        "smtpd_recipient_restrictions": f"reject_non_fqdn_recipient, check_recipient_access {t}",
        "virtual_alias_maps": table(tmp_path, "valias", "closed@example.test alice@example.test\n")})
    assert try_rcpt(inst)[0] == 250
    assert try_rcpt(inst, rcpt="closed@example.test") == (554, "5.7.1 <closed@example.test>: Recipient address rejected: mailbox closed")
    assert try_rcpt(inst, rcpt="bob") == (504, "5.5.2 <bob>: Recipient address rejected: need fully-qualified address")


def test_permit_mynetworks_and_sasl(make_instance):
    inst = started(make_instance, main_cf={"mynetworks": "127.0.0.0/30",
                                           "smtpd_relay_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject"})
    assert try_rcpt(inst, rcpt="x@remote.test")[0] == 250  # 127.0.0.1 is in 127.0.0.0/30
    code, text = try_rcpt(inst, rcpt="bob@example.test", source="127.0.0.5")
    assert code == 554 and "Access denied" in text  # "reject" refuses even our own domain here


def test_defer_if_permit_and_warn_if_reject(make_instance, tmp_path):
    t = table(tmp_path, "s", "late@x.test DEFER_IF_PERMIT greylisted\nlate2@x.test DEFER_IF_PERMIT wait\n")
    inst = started(make_instance, main_cf={
        "smtpd_sender_restrictions": f"check_sender_access {t}",
        "smtpd_recipient_restrictions": "warn_if_reject, reject"})
    # warn_if_reject turns the reject into a log line
    assert try_rcpt(inst, sender="ok@x.test")[0] == 250
    inst.wait_log(r"reject_warning: RCPT from \S+\[127.0.0.1\]: 554 5.7.1 <bob@example.test>")
    # DEFER_IF_PERMIT: what would be permitted is deferred
    assert try_rcpt(inst, sender="late@x.test") == (450, "4.7.1 <late@x.test>: Sender address rejected: greylisted")


@pytest.mark.parametrize("transport", ["unix", "inet"])
def test_check_policy_service(make_instance, tmp_path, transport):
    os.chmod(tmp_path, 0o755)

    def decide(a):
        if a.get("recipient", "").startswith("deny"):
            return "REJECT policy says no"
        if a.get("recipient", "").startswith("later"):
            return "DEFER_IF_PERMIT 4.7.1 greylisted by policy"
        if a.get("recipient", "").startswith("tag"):
            return "PREPEND X-Policy: tagged"
        return "DUNNO"

    inst = make_instance()
    no_qmgr(inst)
    # the socket must be reachable by mail_owner, and by a chrooted smtpd:
    # inside the queue directory (the jail), named by its absolute path
    kw = {"unix_path": os.path.join(inst.dir, "queue", "policy")} if transport == "unix" else {}
    with PolicyServer(decide, **kw) as p:
        inst.set_main_cf({"smtpd_recipient_restrictions": f"check_policy_service {p.spec}"})
        inst.start()
        with client(inst, helo="pol.example.test") as s:
            s.mail("alice@example.test")
            assert s.rcpt("ok@remote.test")[0] == 250
            assert s.rcpt("deny@remote.test") == (554, b"5.7.1 <deny@remote.test>: Recipient address rejected: policy says no")
            assert s.rcpt("later@remote.test") == (450, b"4.7.1 <later@remote.test>: Recipient address rejected: greylisted by policy")
            assert s.rcpt("tag@remote.test")[0] == 250
            assert s.data("Subject: pol\r\n\r\nbody\r\n")[0] == 250
        first = p.requests[0]
        assert first["request"] == "smtpd_access_policy"
        assert first["protocol_state"] == "RCPT" and first["protocol_name"] == "ESMTP"
        assert first["helo_name"] == "pol.example.test"
        assert first["sender"] == "alice@example.test" and first["recipient"] == "ok@remote.test"
        assert first["client_address"] == "127.0.0.1" and first["client_name"] in ("unknown", "localhost")
        assert first["instance"] and all(r["instance"] == first["instance"] for r in p.requests)
        # one connection carried every request
        assert p.connections == 1
    ids = incoming_ids(inst)
    assert len(ids) == 1
    msg = message_of(inst, ids[0]).decode()
    assert "\nX-Policy: tagged\n" in msg


def test_policy_service_down_uses_default_action(make_instance, tmp_path):
    os.chmod(tmp_path, 0o755)
    inst = started(make_instance, main_cf={
        "smtpd_recipient_restrictions": f"check_policy_service unix:{tmp_path}/nobody-listens"})
    assert try_rcpt(inst) == (451, "4.3.5 <bob@example.test>: Recipient address rejected: Server configuration problem")
    inst.wait_log(r"problem talking to policy service")


def test_policy_timeout(make_instance, tmp_path):
    with PolicyServer(lambda a: "OK", delay=5) as p:
        inst = started(make_instance, main_cf={
            "smtpd_recipient_restrictions": f"check_policy_service {p.spec}",
            "smtpd_policy_service_timeout": "1s",
            "smtpd_policy_service_default_action": "DUNNO"})
        assert try_rcpt(inst)[0] == 250
        inst.wait_log(r"problem talking to policy service .*timeout")


def test_bad_restriction_is_a_451(make_instance):
    inst = started(make_instance, main_cf={"smtpd_recipient_restrictions": "reject_everything_please"})
    assert try_rcpt(inst) == (451, "4.3.5 Server configuration error")
    inst.wait_log(r"unknown restriction \"reject_everything_please\"")


def test_data_and_end_of_data_restrictions(make_instance, tmp_path):
    with PolicyServer(lambda a: "REJECT no data today" if a["protocol_state"] == "DATA" else "DUNNO") as p:
        inst = started(make_instance, main_cf={"smtpd_data_restrictions": f"check_policy_service {p.spec}"})
        with client(inst) as s:
            s.mail("alice@example.test")
            s.rcpt("bob@example.test")
            code, text = s.docmd("DATA")
            assert (code, text) == (554, b"5.7.1 <DATA>: Data command rejected: no data today")
    with PolicyServer(lambda a: "DISCARD" if a["protocol_state"] == "END-OF-MESSAGE" else "DUNNO") as p:
        inst2 = started(make_instance, main_cf={"smtpd_end_of_data_restrictions": f"check_policy_service {p.spec}"})
        with client(inst2) as s:
            s.mail("alice@example.test")
            s.rcpt("bob@example.test")
            code, text = s.data("Subject: x\r\n\r\nx\r\n")
            assert code == 250
        assert p.requests[-1]["protocol_state"] == "END-OF-MESSAGE"
        assert incoming_ids(inst2) == []
        inst2.wait_log(r"discard: END-OF-MESSAGE")


def test_delay_reject_no_answers_at_helo_and_mail(make_instance, tmp_path):
    t = table(tmp_path, "s", "spammer@bad.test REJECT\n")
    inst = started(make_instance, main_cf={"smtpd_delay_reject": "no",
                                           "smtpd_helo_restrictions": "reject_non_fqdn_helo_hostname",
                                           "smtpd_sender_restrictions": f"check_sender_access {t}"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        code, text = s.ehlo("localhost")
        assert code == 504 and b"need fully-qualified hostname" in text
        assert s.ehlo("good.example.test")[0] == 250
        assert s.mail("spammer@bad.test") == (554, b"5.7.1 <spammer@bad.test>: Sender address rejected: Access denied")
        assert s.mail("friend@good.test")[0] == 250


def test_reject_unauth_pipelining(make_instance):
    from smtptest import RawSMTP
    inst = started(make_instance, main_cf={"smtpd_recipient_restrictions": "reject_unauth_pipelining, permit"})
    r = RawSMTP(*inst.addr("smtp"))
    r.reply()
    # HELO (not EHLO): pipelining was never offered, yet the client sends ahead
    r.cmd("HELO impatient.example.test")
    r.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
    assert r.reply()[0] == 250
    code, text = r.reply()
    assert code == 503 and "Improper use of SMTP command pipelining" in text
    r.close()
    # one command at a time is fine
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.helo("patient.example.test")
        s.mail("a@x.test")
        assert s.rcpt("bob@example.test")[0] == 250
