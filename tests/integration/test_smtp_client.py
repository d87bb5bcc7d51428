"""smtp-client against scriptable remote MTAs (tests/tools/fakesmtp.py) and
a real DNS server (tests/tools/dnstest.py): delivery requests are sent to
the daemon's private/smtp socket the way the qmgr sends them, for queue
files written by lib/queue's own writer (tests/tools/queue_fixture). Covers
per-recipient results and their texts, PIPELINING, DSN parameters and
"relayed", SIZE, 8BITMIME downgrade, SMTPUTF8, STARTTLS, HELO fallback,
timeouts, connection failures, connection reuse, and MX routing (order,
fallback to the next MX, implicit MX, null MX, NXDOMAIN, SERVFAIL)."""
import email
import email.policy
import re
import os
import socket
import subprocess

import pytest

import ternattr
from conftest import BUILD, have_program, run, wait_for
from dnstest import DnsServer
from fakesmtp import FakeSMTP

QUEUE_FIXTURE = os.path.join(BUILD, "tests", "tools", "queue_fixture")

pytestmark = pytest.mark.skipif(not have_program("smtp-client") or not os.access(QUEUE_FIXTURE, os.X_OK),
                                reason="needs smtp-client and tests/tools/queue_fixture")

MESSAGE = ("From: Alice <alice@a.test>\nTo: Bob <bob@b.test>\nSubject: hello\n"
           "Message-ID: <m1@a.test>\n\nfirst line\n.leading dot\n..two dots\n.\nlast line\n")


def free_port(host):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((host, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def queue_message(inst, sender="alice@a.test", rcpts=("bob@b.test",), message=MESSAGE, extra=()):
    """Write a queue file into hold/ (no qmgr picks it up there); returns
    its path relative to the queue directory and its ID."""
    qdir = os.path.join(inst.dir, "queue")
    spec = [f"sender {sender}" if sender else "sender <>"]
    spec += [f"rcpt {r}" for r in rcpts]
    spec += list(extra)
    spec.append("data")
    r = run([QUEUE_FIXTURE, qdir, "hold"], input="\n".join(spec) + "\n" + message)
    qid = r.stdout.split()[0]
    owner = os.stat(os.path.join(qdir, "hold"))
    for root, dirs, files in os.walk(os.path.join(qdir, "hold")):
        if qid in files:
            path = os.path.join(root, qid)
            # smtp-client runs as mail_owner, like the qmgr that writes real files
            os.chown(path, owner.st_uid, owner.st_gid)
            for d in dirs:
                os.chown(os.path.join(root, d), owner.st_uid, owner.st_gid)
            return os.path.relpath(path, qdir), qid
    raise AssertionError("queue file not found")


def deliver(inst, nexthop, rcpts=("bob@b.test",), sender="alice@a.test", message=MESSAGE, notify=None,
            orcpt=None, body="7BIT", smtputf8="no", envid="", ret="", timeout=90, extra=(), queued_rcpts=None):
    """Queue a message and ask smtp-client to deliver it, as the qmgr does;
    returns the reply. queued_rcpts: other recipients for the queue file."""
    rel, qid = queue_message(inst, sender, queued_rcpts or rcpts, message, extra)
    attrs = [("request", "deliver"), ("queue_id", qid), ("queue_file", rel), ("transport", "smtp"),
             ("nexthop", nexthop), ("sender", sender), ("envid", envid), ("ret", ret), ("body", body),
             ("smtputf8", smtputf8), ("rcpt_count", len(rcpts))]
    for i, r in enumerate(rcpts):
        attrs += [(f"rcpt.{i}.addr", r), (f"rcpt.{i}.orcpt", (orcpt or {}).get(r, "")),
                  (f"rcpt.{i}.notify", (notify or {}).get(r, "")), (f"rcpt.{i}.id", str(i))]
    sock = os.path.join(inst.dir, "queue", "private", "smtp")
    wait_for(lambda: os.path.exists(sock), 10, what="private/smtp")
    return ternattr.call(sock, attrs, timeout=timeout)


@pytest.fixture
def client(make_instance):
    """A started instance whose smtp-client is what we test; settings may
    be changed before start with client.set_main_cf."""
    inst = make_instance(domain="a.test")
    inst.set_main_cf({"smtp_helo_timeout": "5s", "smtp_connect_timeout": "5s", "smtp_data_done_timeout": "10s",
                      "smtp_connection_cache_time_limit": "0"})
    return inst


def rcpt(reply, i):
    return {k.split(".", 2)[2]: v for k, v in reply.items() if k.startswith(f"rcpt.{i}.")}


# ---------------------------------------------------------------------------- protocol

def test_delivery_with_pipelining_dsn_and_size(client):
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        msg = MESSAGE.replace("hello", "caf\u00e9").replace("last line", "d\u00e9j\u00e0 vu")
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=("bob@b.test", "carol@b.test"),
                      notify={"bob@b.test": "SUCCESS,FAILURE"}, orcpt={"bob@b.test": "rfc822;Bob@B.test"},
                      message=msg, body="8BITMIME", envid="env 1", ret="HDRS", extra=("body 8BITMIME",))
        assert rep["status"] == "done", rep
        for i in (0, 1):
            r = rcpt(rep, i)
            assert r["dsn"] == "2.0.0" and r["action"] == "delivered", rep
            assert r["text"] == (f"host 127.0.0.1[127.0.0.1] said: 250 2.0.0 Ok: queued as FAKE1 "
                                 f"(in reply to end of DATA command)")
            assert r["mta"] == "127.0.0.1"
        m = mx.wait_messages(1)[0]
        assert m["mail_from"] == "alice@a.test"
        p = m["mail_params"]
        assert p["BODY"] == "8BITMIME" and p["RET"] == "HDRS" and p["ENVID"] == "env+201"
        assert int(p["SIZE"]) == len(msg.encode()) + msg.count("\n")
        assert m["rcpts"] == [("bob@b.test", {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;Bob@B.test"}),
                              ("carol@b.test", {})]
        # CRLF line ends, dot-stuffing undone by the server: the message as queued
        assert m["data"] == msg.replace("\n", "\r\n").encode()
        # one transaction, MAIL/RCPT/RCPT/DATA, and the client said EHLO with its name
        s = mx.sessions[0]
        assert s["commands"][0] == "EHLO mail.a.test"
        assert [c.split()[0] for c in s["commands"][1:5]] == ["MAIL", "RCPT", "RCPT", "DATA"]
    assert "status=sent" in client.log()


def test_per_recipient_results(client):
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        mx.rcpt_replies["nobody@b.test"] = "550 5.1.1 <nobody@b.test>: Recipient address rejected: User unknown"
        mx.rcpt_replies["later@b.test"] = "451 4.3.0 try later"
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=("bob@b.test", "nobody@b.test", "later@b.test"))
        ok, bad, later = rcpt(rep, 0), rcpt(rep, 1), rcpt(rep, 2)
        assert ok["action"] == "delivered"
        assert bad["action"] == "failed" and bad["dsn"] == "5.1.1"
        assert bad["text"] == ("host 127.0.0.1[127.0.0.1] said: 550 5.1.1 <nobody@b.test>: Recipient address "
                               "rejected: User unknown (in reply to RCPT TO command)")
        assert bad["diag"] == "smtp; 550 5.1.1 <nobody@b.test>: Recipient address rejected: User unknown"
        assert bad["mta"] == "127.0.0.1"
        assert later["action"] == "deferred" and later["dsn"] == "4.3.0"
        assert later["text"] == "host 127.0.0.1[127.0.0.1] said: 451 4.3.0 try later (in reply to RCPT TO command)"
        assert [r[0] for r in mx.wait_messages(1)[0]["rcpts"]] == ["bob@b.test"]
    log = client.log()
    assert "to=<nobody@b.test>" in log and "status=bounced" in log and "status=deferred" in log


def test_mail_from_rejected_and_data_failures(client):
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        mx.mail_reply = "553 5.7.1 <alice@a.test>: Sender address rejected"
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=("bob@b.test", "carol@b.test"))
        for i in (0, 1):
            r = rcpt(rep, i)
            assert r["action"] == "failed" and r["dsn"] == "5.7.1"
            assert r["text"].endswith("(in reply to MAIL FROM command)")
        mx.mail_reply = "250 2.1.0 Ok"
        mx.end_reply = "452 4.3.1 Insufficient system storage"
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)
        assert r["action"] == "deferred" and r["dsn"] == "4.3.1"
        assert r["text"] == ("host 127.0.0.1[127.0.0.1] said: 452 4.3.1 Insufficient system storage "
                             "(in reply to end of DATA command)")
        mx.end_reply = "554 5.7.1 spam"
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)
        assert r["action"] == "failed" and r["dsn"] == "5.7.1"


def test_no_dsn_gives_relayed_and_no_pipelining(client):
    client.start()
    with FakeSMTP("127.0.0.1", extensions=("8BITMIME",)) as mx:
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=("bob@b.test", "carol@b.test"),
                      notify={"bob@b.test": "SUCCESS"}, orcpt={"bob@b.test": "rfc822;bob@b.test"}, ret="FULL",
                      envid="x")
        assert rcpt(rep, 0)["action"] == "relayed" and rcpt(rep, 0)["dsn"] == "2.0.0"
        assert rcpt(rep, 1)["action"] == "delivered"
        m = mx.wait_messages(1)[0]
        assert m["mail_params"] == {}  # no SIZE, RET or ENVID without the extensions
        assert m["rcpts"] == [("bob@b.test", {}), ("carol@b.test", {})]


def test_8bit_message_converted_for_a_server_without_8bitmime(client):
    client.start()
    body = "Gr\u00fc\u00dfe aus K\u00f6ln, " + "x" * 100 + "\n=equals and trailing space \n"
    msg = ("From: alice@a.test\nTo: bob@b.test\nSubject: 8bit\nMIME-Version: 1.0\n"
           "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body)
    with FakeSMTP("127.0.0.1", extensions=("PIPELINING", "DSN")) as mx:
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", message=msg, body="8BITMIME", extra=("body 8BITMIME",))
        assert rcpt(rep, 0)["action"] == "delivered", rep
        m = mx.wait_messages(1)[0]
        assert "BODY" not in m["mail_params"]
        data = m["data"]
        assert all(b < 128 for b in data), "8-bit bytes reached a server without 8BITMIME"
        assert max(len(l) for l in data.split(b"\r\n")) <= 78
        parsed = email.message_from_bytes(data.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
        assert parsed.get_content() == body
    assert "converted to quoted-printable" in client.log()


def test_smtputf8_required_but_missing_bounces(client):
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=("j\u00f6rg@b.test",), smtputf8="yes",
                      extra=("smtputf8",))
        r = rcpt(rep, 0)
        assert r["action"] == "failed" and r["dsn"] == "5.6.7"
        assert "SMTPUTF8 is required" in r["text"]
        assert mx.messages == []
    with FakeSMTP("127.0.0.1", extensions=("PIPELINING", "8BITMIME", "SMTPUTF8")) as mx:
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=("j\u00f6rg@b.test",), smtputf8="yes",
                      extra=("smtputf8",))
        assert rcpt(rep, 0)["action"] == "delivered"
        m = mx.wait_messages(1)[0]
        assert "SMTPUTF8" in m["mail_params"]
        assert m["rcpts"][0][0] == "j\u00f6rg@b.test"


def test_size_limit_of_the_server(client):
    client.start()
    with FakeSMTP("127.0.0.1", extensions=("PIPELINING", "SIZE 100")) as mx:
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)
        assert r["action"] == "failed" and r["dsn"] == "5.3.4"
        assert "exceeds size limit 100 of server 127.0.0.1[127.0.0.1]" in r["text"]
        assert mx.messages == []


def test_starttls_opportunistic(client):
    client.start()
    cert, key = os.path.join(client.dir, "tls", "cert.pem"), os.path.join(client.dir, "tls", "key.pem")
    with FakeSMTP("127.0.0.1", cert=cert, key=key) as mx:
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)
        assert r["action"] == "delivered", r
        m = mx.wait_messages(1)[0]
        assert m["tls"]
        cmds = mx.sessions[0]["commands"]
        assert cmds[:3] == ["EHLO mail.a.test", "STARTTLS", "EHLO mail.a.test"]
    assert "Untrusted TLS connection established to 127.0.0.1[127.0.0.1]" in client.log()


def test_starttls_required_but_not_offered(client):
    client.set_main_cf({"smtp_tls_security_level": "encrypt"})
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)
        assert r["action"] == "deferred" and r["dsn"] == "4.7.4"
        assert r["text"] == "TLS is required, but was not offered by host 127.0.0.1[127.0.0.1]"
        assert mx.messages == []


def test_helo_fallback(client):
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        mx.ehlo_refused = True
        rep = deliver(client, f"[127.0.0.1]:{mx.port}", body="8BITMIME", notify={"bob@b.test": "SUCCESS"})
        assert rcpt(rep, 0)["action"] == "relayed"
        cmds = mx.sessions[0]["commands"]
        assert cmds[0] == "EHLO mail.a.test" and cmds[1] == "HELO mail.a.test"
        assert mx.wait_messages(1)[0]["mail_params"] == {}


def test_connection_refused_and_timeouts(client):
    client.start()
    port = free_port("127.0.0.1")
    r = rcpt(deliver(client, f"[127.0.0.1]:{port}"), 0)
    assert r["action"] == "deferred" and r["dsn"] == "4.4.1"
    assert r["text"] == f"connect to 127.0.0.1[127.0.0.1]:{port}: Connection refused"
    with FakeSMTP("127.0.0.1") as mx:
        mx.greeting = None  # accepts, says nothing (smtp_helo_timeout is 5s here)
        mx.silent_for = 8
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)
        assert r["action"] == "deferred" and r["dsn"] == "4.4.2"
        assert r["text"] == ("conversation with 127.0.0.1[127.0.0.1] timed out while receiving the initial "
                             "server greeting")
    with FakeSMTP("127.0.0.1") as mx:
        mx.greeting = "421 4.3.2 Service shutting down"
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)
        assert r["action"] == "deferred" and r["dsn"] == "4.3.2"
        assert r["text"] == "host 127.0.0.1[127.0.0.1] refused to talk to me: 421 4.3.2 Service shutting down"


def test_connection_reuse(client):
    client.set_main_cf({"smtp_connection_cache_time_limit": "10s"})
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        for i in range(3):
            r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=(f"u{i}@b.test",)), 0)
            assert r["action"] == "delivered", r
        mx.wait_messages(3)
        assert mx.connections == 1
        cmds = mx.sessions[0]["commands"]
        assert [c.split()[0] for c in cmds].count("RSET") == 2
        assert mx.sessions[0]["transactions"] == 3
        assert [m["rcpts"][0][0] for m in mx.messages] == ["u0@b.test", "u1@b.test", "u2@b.test"]


def test_cached_connection_closed_by_server(client):
    client.set_main_cf({"smtp_connection_cache_time_limit": "10s"})
    client.start()
    with FakeSMTP("127.0.0.1") as mx:
        assert rcpt(deliver(client, f"[127.0.0.1]:{mx.port}"), 0)["action"] == "delivered"
        port = mx.port
    # the server went away while the session was cached; a new one answers on the same port
    with FakeSMTP("127.0.0.1", port=port) as mx2:
        assert rcpt(deliver(client, f"[127.0.0.1]:{port}"), 0)["action"] == "delivered"
        assert len(mx2.wait_messages(1)) == 1


def test_bad_requests(client):
    client.start()
    sock = os.path.join(client.dir, "queue", "private", "smtp")
    wait_for(lambda: os.path.exists(sock), 10, what="private/smtp")
    rep = ternattr.call(sock, [("request", "deliver"), ("queue_id", "ABC"), ("queue_file", "../../etc/passwd"),
                               ("nexthop", "[127.0.0.1]:25"), ("rcpt_count", "1"), ("rcpt.0.addr", "x@y")])
    assert rep["status"] == "error" and "bad queue file name" in rep["reason"]
    rep = ternattr.call(sock, [("request", "deliver"), ("queue_id", "ABC"), ("queue_file", "hold/NOSUCH"),
                               ("rcpt_count", "0")])
    assert rep["status"] == "error"
    rep = ternattr.call(sock, [("request", "frobnicate")])
    assert rep["status"] == "error"
    with FakeSMTP("127.0.0.1") as mx:
        r = rcpt(deliver(client, f"[127.0.0.1]:{mx.port}", rcpts=("evil@b.test>\r\nRSET",),
                         queued_rcpts=("evil@b.test",)), 0)
        assert r["action"] == "failed" and r["dsn"] == "5.1.3"


# ---------------------------------------------------------------------------- MX routing

@pytest.fixture
def dns():
    with DnsServer() as d:
        yield d


def routed_client(make_instance, dns, port):
    inst = make_instance(domain="a.test")
    inst.set_main_cf({"dns_resolver": dns.forwarder, "smtp_remote_port": str(port), "smtp_helo_timeout": "5s",
                      "smtp_connect_timeout": "3s", "smtp_connection_cache_time_limit": "0"})
    inst.start()
    return inst


def test_mx_order_and_fallback_to_the_next_mx(make_instance, dns):
    port = free_port("127.0.0.5")
    dns.add(f"""
b.test. IN MX 10 mx1.b.test.
b.test. IN MX 20 mx2.b.test.
mx1.b.test. IN A 127.0.0.4
mx2.b.test. IN A 127.0.0.5
""")
    inst = routed_client(make_instance, dns, port)
    with FakeSMTP("127.0.0.5", port, hostname="mx2.b.test") as mx2:
        # mx1 has nobody listening: connection refused, then mx2
        r = rcpt(deliver(inst, "b.test"), 0)
        assert r["action"] == "delivered", r
        assert r["mta"] == "mx2.b.test"
        assert r["text"].startswith("host mx2.b.test[127.0.0.5] said: 250")
        assert len(mx2.wait_messages(1)) == 1
        with FakeSMTP("127.0.0.4", port, hostname="mx1.b.test") as mx1:
            # with both up, the preferred one gets the mail
            assert rcpt(deliver(inst, "b.test"), 0)["action"] == "delivered"
            assert len(mx1.wait_messages(1)) == 1
            assert len(mx2.messages) == 1
            # a 4xx greeting at mx1 moves on to mx2 as well
            mx1.greeting = "421 4.7.0 too busy"
            assert rcpt(deliver(inst, "b.test"), 0)["mta"] == "mx2.b.test"
            assert len(mx2.wait_messages(2)) == 2
    # both down: deferred with the last server's reason
    r = rcpt(deliver(inst, "b.test"), 0)
    assert r["action"] == "deferred" and r["dsn"] == "4.4.1"
    assert r["text"] == f"connect to mx2.b.test[127.0.0.5]:{port}: Connection refused"


def test_equal_preferences_share_the_load(make_instance, dns):
    port = free_port("127.0.0.6")
    dns.add("""
c.test. IN MX 10 mxa.c.test.
c.test. IN MX 10 mxb.c.test.
mxa.c.test. IN A 127.0.0.6
mxb.c.test. IN A 127.0.0.7
""")
    inst = routed_client(make_instance, dns, port)
    with FakeSMTP("127.0.0.6", port) as a, FakeSMTP("127.0.0.7", port) as b:
        for i in range(12):
            assert rcpt(deliver(inst, "c.test", rcpts=(f"u{i}@c.test",)), 0)["action"] == "delivered"
        assert len(a.messages) + len(b.messages) == 12
        assert a.messages and b.messages, "random choice among equal preferences"


def test_implicit_mx_null_mx_and_dns_errors(make_instance, dns):
    port = free_port("127.0.0.8")
    dns.add("""
plain.test. IN A 127.0.0.8
nomail.test. IN MX 0 .
nomail.test. IN A 127.0.0.8
broken.test. IN MX 10 mx.broken.test.
""")
    dns.set_servfail("flaky.test")
    inst = routed_client(make_instance, dns, port)
    with FakeSMTP("127.0.0.8", port) as mx:
        # no MX: the domain's own address
        assert rcpt(deliver(inst, "plain.test", rcpts=("u@plain.test",)), 0)["action"] == "delivered"
        assert len(mx.wait_messages(1)) == 1
        # RFC 7505 null MX: bounced at once, nothing sent
        r = rcpt(deliver(inst, "nomail.test", rcpts=("u@nomail.test",)), 0)
        assert r["action"] == "failed" and r["dsn"] == "5.1.10"
        assert r["text"] == "Domain nomail.test does not accept mail (nullMX)"
        assert len(mx.messages) == 1
    r = rcpt(deliver(inst, "nosuch.test", rcpts=("u@nosuch.test",)), 0)
    assert r["action"] == "failed" and r["dsn"] == "5.4.4"
    assert r["text"] == ("Host or domain name not found. Name service error for name=nosuch.test type=MX: "
                         "Host not found")
    r = rcpt(deliver(inst, "flaky.test", rcpts=("u@flaky.test",)), 0)
    assert r["action"] == "deferred" and r["dsn"] == "4.4.3"
    r = rcpt(deliver(inst, "broken.test", rcpts=("u@broken.test",)), 0)
    assert r["action"] == "failed" and r["dsn"] == "5.4.4"
    assert "name=mx.broken.test type=A" in r["text"]


def test_bracketed_host_skips_mx(make_instance, dns):
    port = free_port("127.0.0.9")
    dns.add("""
d.test. IN MX 10 wrong.d.test.
wrong.d.test. IN A 127.0.0.10
relay.d.test. IN A 127.0.0.9
""")
    inst = routed_client(make_instance, dns, port)
    with FakeSMTP("127.0.0.9", port) as mx:
        r = rcpt(deliver(inst, "[relay.d.test]", rcpts=("u@d.test",)), 0)
        assert r["action"] == "delivered" and r["mta"] == "relay.d.test"
        assert len(mx.wait_messages(1)) == 1
    with FakeSMTP("127.0.0.9", 0) as mx:
        r = rcpt(deliver(inst, f"[relay.d.test]:{mx.port}", rcpts=("u@d.test",)), 0)
        assert r["action"] == "delivered"


def test_mail_for_a_domain_whose_best_mx_is_this_host(make_instance, dns):
    port = free_port("127.0.0.11")
    dns.add("""
e.test. IN MX 10 mail.a.test.
e.test. IN MX 20 backup.e.test.
mail.a.test. IN A 127.0.0.1
backup.e.test. IN A 127.0.0.11
""")
    inst = routed_client(make_instance, dns, port)
    r = rcpt(deliver(inst, "e.test", rcpts=("u@e.test",)), 0)
    assert r["action"] == "failed" and r["dsn"] == "5.4.6"
    assert r["text"] == "mail for e.test loops back to myself"


def test_ipv6_servers_and_inet_protocols(make_instance, dns):
    port = free_port("::1")
    dns.add("""
g.test. IN MX 10 mx.g.test.
mx.g.test. IN AAAA ::1
h.test. IN MX 10 mx.h.test.
mx.h.test. IN AAAA ::1
mx.h.test. IN A 127.0.0.13
""")
    inst = routed_client(make_instance, dns, port)
    with FakeSMTP("::1", port, hostname="mx.g.test") as mx:
        r = rcpt(deliver(inst, "g.test", rcpts=("u@g.test",)), 0)
        assert r["action"] == "delivered", r
        assert r["text"].startswith("host mx.g.test[::1] said: 250")
        assert len(mx.wait_messages(1)) == 1
        r = rcpt(deliver(inst, f"[::1]:{port}", rcpts=("u@g.test",)), 0)
        assert r["action"] == "delivered" and r["mta"] == "::1"
    # only IPv4: the IPv6-only exchanger is unusable, the dual-stack one is reached over IPv4
    inst.stop()
    inst.set_main_cf({"inet_protocols": "ipv4"})
    inst.start()
    r = rcpt(deliver(inst, "g.test", rcpts=("u@g.test",)), 0)
    assert r["action"] == "failed" and r["dsn"] == "5.4.4", r
    with FakeSMTP("127.0.0.13", port) as mx4:
        assert rcpt(deliver(inst, "h.test", rcpts=("u@h.test",)), 0)["action"] == "delivered"
        assert len(mx4.wait_messages(1)) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="chroot needs root")
def test_chrooted_to_the_queue_directory(make_instance, dns):
    port = free_port("127.0.0.12")
    dns.add("""
f.test. IN MX 10 mx.f.test.
mx.f.test. IN A 127.0.0.12
""")
    inst = make_instance(domain="a.test")
    inst.set_main_cf({"dns_resolver": dns.forwarder, "smtp_remote_port": str(port), "smtp_helo_timeout": "5s",
                      "smtp_connection_cache_time_limit": "0"})
    mcf = os.path.join(inst.dir, "master.cf")
    text = open(mcf).read()
    # tern init writes chroot = y for smtp (as root); make sure of it either way
    text, n = re.subn(r"^smtp(\s+)unix(\s+)-(\s+)-(\s+)[ny](\s)", r"smtp\1unix\2-\3-\4y\5", text, flags=re.M)
    assert n == 1, text
    open(mcf, "w").write(text)
    inst.start()
    cert, key = os.path.join(inst.dir, "tls", "cert.pem"), os.path.join(inst.dir, "tls", "key.pem")
    with FakeSMTP("127.0.0.12", port, cert=cert, key=key) as mx:
        r = rcpt(deliver(inst, "f.test", rcpts=("u@f.test",)), 0)
        assert r["action"] == "delivered", r
        m = mx.wait_messages(1)[0]
        assert m["tls"]
    pid = inst.services()["smtp"][0]
    assert os.readlink(f"/proc/{pid}/root") == os.path.join(inst.dir, "queue")
