"""test_spamd.py - spamd's policy service (private/spamd, Postfix's policy
delegation protocol in raw mode) and content service (private/spamc) in a
real instance, driven with a raw socket client (tests/tools/ternattr.py,
escape=False) the way smtpd and Postfix talk to it. DNS answers come from a
real DNS server on loopback (tests/tools/dnstest.py): SPF records, DNSBL
and DNSWL zones, PTR records, SERVFAIL and silent names."""
import os
import signal
import socket
import time

import pytest
from conftest import have_program, wait_for

from dnstest import DnsServer
import ternattr

pytestmark = pytest.mark.skipif(not have_program("spamd"), reason="spamd not built")

ZONE = """$ORIGIN example.test.
$TTL 0
@            IN SOA ns hostmaster 1 3600 600 86400 0
pass         IN TXT "v=spf1 ip4:127.0.0.0/8 -all"
fail         IN TXT "v=spf1 ip4:192.0.2.0/24 -all exp=why.fail.example.test"
why.fail     IN TXT "%{i} is not a mail server of %{d}"
soft         IN TXT "v=spf1 ~all"
perm         IN TXT "v=spf1 frobnicate -all"
slow         IN TXT "v=spf1 a:hang.example.test -all"
client       IN A 127.0.0.1
mail         IN A 127.0.0.2
; DNSBL: 127.0.0.2 is listed (weight 3 on bl, 1 on bl2), 127.0.0.3 on the allow list
2.0.0.127.bl      IN A 127.0.0.4
2.0.0.127.bl2     IN A 127.0.0.2
3.0.0.127.wl      IN A 127.0.10.1
5.0.0.127.bl      IN A 127.0.0.99
; reverse DNS for the client checks
1.0.0.127.in-addr.arpa. IN PTR client.example.test.
2.0.0.127.in-addr.arpa. IN PTR nowhere.example.test.
"""


def policy_request(**kw):
    base = [("request", "smtpd_access_policy"), ("protocol_state", "RCPT"), ("protocol_name", "ESMTP"),
            ("client_address", "127.0.0.1"), ("client_name", "client.example.test"),
            ("reverse_client_name", "client.example.test"), ("helo_name", "client.example.test"),
            ("sender", "someone@pass.example.test"), ("recipient", "alice@example.test"),
            ("recipient_count", "0"), ("queue_id", ""), ("instance", "1234.5678.1"), ("sasl_username", ""),
            ("size", "0")]
    d = dict(base)
    d.update(kw)
    return list(d.items())


class PolicyClient:
    """One connection, many requests (raw attribute mode)."""

    def __init__(self, path_or_addr, timeout=30):
        fam = socket.AF_UNIX if isinstance(path_or_addr, str) else socket.AF_INET
        self.s = socket.socket(fam)
        self.s.settimeout(timeout)
        self.s.connect(path_or_addr)
        self.buf = b""

    def send_raw(self, data):
        self.s.sendall(data)

    def read_reply(self):
        while b"\n\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("connection closed; got %r" % self.buf)
            self.buf += chunk
        reply, self.buf = self.buf.split(b"\n\n", 1)
        return dict(ternattr.decode(reply + b"\n\n", escape=False))

    def ask(self, attrs):
        self.send_raw(ternattr.encode(attrs, escape=False))
        return self.read_reply()

    def close(self):
        self.s.close()


@pytest.fixture
def dns():
    with DnsServer(ZONE) as d:
        d.set_timeout("hang.example.test")
        d.set_servfail("broken.example.test")
        yield d


def spamd_instance(make_instance, dns, **settings):
    inst = make_instance()
    cf = {
        "dns_resolver": dns.forwarder,
        "dns_timeout": "2s",
        "spamd_client_whitelist": "",
        "greylist_delay": "2s",
    }
    cf.update(settings)
    inst.set_main_cf(cf)
    inst.start()
    return inst


def sock(inst, name="spamd"):
    return os.path.join(inst.dir, "queue", "private", name)


def spamd_pids(inst):
    return inst.services().get("spamd", [])


def test_init_lists_both_spamd_services(make_instance):
    inst = make_instance()
    mc = open(os.path.join(inst.dir, "master.cf")).read()
    assert "\nspamd " in mc and "\nspamc " in mc
    assert "spamd content" in mc


def test_spf_results_and_actions(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="spf")
    c = PolicyClient(sock(inst))
    r = c.ask(policy_request(sender="a@pass.example.test", instance="m1"))
    assert r["action"].startswith("PREPEND Received-SPF: pass ("), r
    assert "client-ip=127.0.0.1;" in r["action"]
    # one header per message: the second recipient of the same instance gets none
    r = c.ask(policy_request(sender="a@pass.example.test", instance="m1", recipient="bob@example.test"))
    assert r["action"] == "DUNNO"
    r = c.ask(policy_request(sender="a@fail.example.test", instance="m2"))
    assert r["action"] == "550 5.7.23 SPF fail: 127.0.0.1 is not a mail server of fail.example.test", r
    r = c.ask(policy_request(sender="a@soft.example.test", instance="m3"))
    assert r["action"].startswith("PREPEND Received-SPF: softfail"), r
    r = c.ask(policy_request(sender="a@perm.example.test", instance="m4"))
    assert r["action"].startswith("PREPEND Received-SPF: permerror"), r
    assert "problem=" in r["action"]
    r = c.ask(policy_request(sender="a@nothing.example.test", instance="m5"))
    assert r["action"].startswith("PREPEND Received-SPF: none"), r
    # the null sender checks the HELO identity
    r = c.ask(policy_request(sender="", helo_name="pass.example.test", instance="m6"))
    assert r["action"].startswith("PREPEND Received-SPF: pass"), r
    assert "identity=helo;" in r["action"]
    c.close()
    inst.wait_log(r"policy RCPT .*sender=<a@fail.example.test>.*spf=fail: action=550 5.7.23")


def test_spf_dns_trouble_is_temperror_not_a_crash(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="spf", dns_timeout="1s")
    pids = spamd_pids(inst)
    c = PolicyClient(sock(inst))
    r = c.ask(policy_request(sender="a@slow.example.test", instance="t1"))
    assert r["action"].startswith("451 4.7.24 SPF temporary error for slow.example.test"), r
    r = c.ask(policy_request(sender="a@broken.example.test", instance="t2"))
    assert r["action"].startswith("451 4.7.24 "), r
    # configurable: temperror only prepends
    c.close()
    assert spamd_pids(inst) == pids


def test_spf_actions_are_configurable(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="spf", spf_fail_action="prepend",
                          spf_softfail_action="reject", spf_temperror_action="ignore", dns_timeout="1s")
    c = PolicyClient(sock(inst))
    assert c.ask(policy_request(sender="a@fail.example.test", instance="c1"))["action"].startswith(
        "PREPEND Received-SPF: fail")
    assert c.ask(policy_request(sender="a@soft.example.test", instance="c2"))["action"].startswith("550 5.7.23 SPF softfail")
    assert c.ask(policy_request(sender="a@slow.example.test", instance="c3"))["action"] == "DUNNO"


def test_malformed_requests_get_an_error_and_the_connection_goes_on(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="spf", spamd_policy_line_limit="1024")
    c = PolicyClient(sock(inst))
    # a line without '='
    c.send_raw(b"request=smtpd_access_policy\nthis line is wrong\nclient_address=127.0.0.1\n\n")
    r = c.read_reply()
    assert r["action"].startswith("DEFER_IF_PERMIT 4.3.5 Policy request error: malformed attribute line"), r
    # an over-long line is skipped, not buffered
    c.send_raw(b"request=smtpd_access_policy\nhelo_name=" + b"x" * 100000 + b"\nclient_address=127.0.0.1\n\n")
    r = c.read_reply()
    assert "longer than 1024 bytes" in r["action"], r
    # no or an unknown request type
    r = c.ask([("client_address", "127.0.0.1")])
    assert r["action"] == "DEFER_IF_PERMIT 4.3.5 Policy request error: no request= attribute"
    r = c.ask([("request", "junk_request")])
    assert "unsupported request" in r["action"]
    # and a good request on the same connection still works
    r = c.ask(policy_request(sender="a@pass.example.test", instance="after-errors"))
    assert r["action"].startswith("PREPEND Received-SPF: pass"), r
    # too many attributes
    r = c.ask([("request", "smtpd_access_policy")] + [("x%d" % i, "v") for i in range(300)])
    assert "more than 200 attributes" in r["action"], r
    # pipelined requests are answered in order
    c.send_raw(ternattr.encode(policy_request(sender="a@pass.example.test", instance="p1"), escape=False) +
               ternattr.encode(policy_request(sender="a@fail.example.test", instance="p2"), escape=False))
    assert c.read_reply()["action"].startswith("PREPEND Received-SPF: pass")
    assert c.read_reply()["action"].startswith("550 5.7.23")
    c.close()
    inst.wait_log(r"malformed policy request: malformed attribute line")


def test_dnsbl_and_dnswl(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="dnsbl, greylist",
                          dnsbl_sites="bl.example.test=127.0.0.[2..11]*3, bl2.example.test*1, "
                                      "wl.example.test=127.0.[10..19].1*-5",
                          dnsbl_threshold="3", dnsbl_whitelist_threshold="-1")
    c = PolicyClient(sock(inst))
    r = c.ask(policy_request(client_address="127.0.0.2", instance="d1"))
    assert r["action"] == "554 5.7.1 Service unavailable; client [127.0.0.2] blocked using bl.example.test", r
    # 127.0.0.5 is on bl with a reply outside the filter: not listed, so greylisting runs
    r = c.ask(policy_request(client_address="127.0.0.5", instance="d2"))
    assert r["action"].startswith("DEFER_IF_PERMIT 4.7.1 Greylisted"), r
    # 127.0.0.3 is on the allow list (score -5 <= -1): the checks after dnsbl are skipped
    r = c.ask(policy_request(client_address="127.0.0.3", instance="d3"))
    assert r["action"] == "DUNNO", r
    c.close()
    inst.wait_log(r"client=.*\[127.0.0.2\].*dnsbl=4 \(bl.example.test=127.0.0.4\*3 bl2.example.test=127.0.0.2\*1\)")


def test_dnsbl_prepend_mode(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="dnsbl", dnsbl_sites="bl.example.test*2",
                          dnsbl_action="prepend", dnsbl_threshold="2")
    c = PolicyClient(sock(inst))
    r = c.ask(policy_request(client_address="127.0.0.2", instance="x1"))
    assert r["action"] == "PREPEND X-Spam-DNSBL: score=2; bl.example.test=127.0.0.4*2", r
    assert c.ask(policy_request(client_address="127.0.0.9", instance="x2"))["action"] == "DUNNO"


def test_greylisting_survives_a_restart(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="greylist", greylist_delay="3s",
                          greylist_auto_whitelist="2")
    req = policy_request(client_address="127.0.0.77", sender="s@remote.example", recipient="alice@example.test",
                         instance="g1")
    c = PolicyClient(sock(inst))
    r = c.ask(req)
    assert r["action"].startswith("DEFER_IF_PERMIT 4.7.1 Greylisted: "), r
    assert "please try again in 3 seconds" in r["action"]
    # the same network (/24) and triplet is still waiting
    r = c.ask(policy_request(client_address="127.0.0.78", sender="S@Remote.Example", recipient="alice@example.test",
                             instance="g2"))
    assert r["action"].startswith("DEFER_IF_PERMIT"), r
    c.close()
    # restart spamd: master starts a new one; the state is in the database
    old = spamd_pids(inst)
    for pid in old:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: spamd_pids(inst) and spamd_pids(inst) != old, 15, what="a new spamd")
    time.sleep(3.1)
    c = PolicyClient(sock(inst))
    r = c.ask(policy_request(client_address="127.0.0.77", sender="s@remote.example", recipient="alice@example.test",
                             instance="g3"))
    assert r["action"].startswith("PREPEND X-Greylist: delayed "), r
    r = c.ask(policy_request(client_address="127.0.0.77", sender="s@remote.example", recipient="alice@example.test",
                             instance="g4"))
    assert r["action"] == "DUNNO", r
    # a second triplet passes: the network is now whitelisted (greylist_auto_whitelist = 2)
    r = c.ask(policy_request(client_address="127.0.0.77", sender="t@remote.example", recipient="bob@example.test",
                             instance="g5"))
    assert r["action"].startswith("DEFER_IF_PERMIT"), r
    time.sleep(3.1)
    assert c.ask(policy_request(client_address="127.0.0.77", sender="t@remote.example", recipient="bob@example.test",
                                instance="g6"))["action"].startswith("PREPEND X-Greylist")
    r = c.ask(policy_request(client_address="127.0.0.99", sender="new@else.example", recipient="carol@example.test",
                             instance="g7"))
    assert r["action"] == "DUNNO", r
    inst.wait_log(r"greylist=network-whitelisted")
    c.close()


def test_greylist_whitelists(make_instance, dns, tmp_path):
    rcpts = tmp_path / "rcpt"
    rcpts.write_text("postmaster@ ok\nvip.example ok\n")
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="greylist",
                          greylist_client_whitelist="127.0.5.0/24",
                          greylist_recipient_whitelist="texthash:%s" % rcpts,
                          greylist_sender_whitelist="inline:{ friend@remote.example=ok }")
    c = PolicyClient(sock(inst))
    assert c.ask(policy_request(client_address="127.0.5.1", instance="w1"))["action"] == "DUNNO"
    assert c.ask(policy_request(client_address="127.0.6.1", recipient="postmaster@example.test",
                                instance="w2"))["action"] == "DUNNO"
    assert c.ask(policy_request(client_address="127.0.6.1", recipient="x@vip.example", instance="w3"))["action"] == "DUNNO"
    assert c.ask(policy_request(client_address="127.0.6.1", sender="friend@remote.example",
                                instance="w4"))["action"] == "DUNNO"
    assert c.ask(policy_request(client_address="127.0.6.1", instance="w5"))["action"].startswith("DEFER_IF_PERMIT")


def test_damaged_greylist_database_is_recreated(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="greylist")
    db = os.path.join(inst.dir, "data", "greylist.db")
    c = PolicyClient(sock(inst))
    assert c.ask(policy_request(client_address="127.0.0.50", instance="k1"))["action"].startswith("DEFER_IF_PERMIT")
    assert os.path.exists(db)
    with open(db, "r+b") as f:
        f.write(b"\x5a" * 8192)
    r = c.ask(policy_request(client_address="127.0.0.51", instance="k2"))
    assert r["action"].startswith("DEFER_IF_PERMIT"), r  # greylisting goes on with a fresh database
    inst.wait_log(r"greylist database .*greylist.db is damaged .*moved to .*greylist.db.corrupt")
    assert os.path.exists(db + ".corrupt")


def test_fcrdns_and_helo_checks(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="fcrdns, helo", myhostname="mx.example.test")
    c = PolicyClient(sock(inst))
    # 127.0.0.1 -> client.example.test -> 127.0.0.1: confirmed; HELO resolves
    assert c.ask(policy_request(instance="h1"))["action"] == "DUNNO"
    # 127.0.0.2 -> nowhere.example.test, which has no address
    r = c.ask(policy_request(client_address="127.0.0.2", instance="h2"))
    assert r["action"] == "450 4.7.25 Client host rejected: cannot find your hostname", r
    # 127.0.0.4 has no PTR at all
    r = c.ask(policy_request(client_address="127.0.0.4", instance="h3"))
    assert r["action"].startswith("450 4.7.25"), r
    cases = [
        ("localhost", "504 5.5.2 Helo command rejected: need fully-qualified hostname"),
        ("1.2.3.4", "504 5.5.2 Helo command rejected: need fully-qualified hostname"),
        ("mx.example.test", "550 5.7.1 Helo command rejected: you are not me"),
        ("[127.0.0.9]", "550 5.7.1 Helo command rejected: address literal [127.0.0.9] is not your address [127.0.0.1]"),
        ("[127.0.0.1]", "DUNNO"),
        ("unknown.example.test", "450 4.7.1 Helo command rejected: Host not found"),
        ("mail.example.test", "DUNNO"),
    ]
    for i, (helo, want) in enumerate(cases):
        r = c.ask(policy_request(helo_name=helo, instance="helo%d" % i))
        assert r["action"] == want, (helo, r)


def test_authenticated_and_whitelisted_clients_skip_checks(make_instance, dns):
    inst = spamd_instance(make_instance, dns, spamd_policy_checks="spf, greylist", spamd_client_whitelist="127.0.9.0/24")
    c = PolicyClient(sock(inst))
    assert c.ask(policy_request(sender="a@fail.example.test", sasl_username="alice", instance="a1"))["action"] == "DUNNO"
    assert c.ask(policy_request(sender="a@fail.example.test", client_address="127.0.9.9",
                                instance="a2"))["action"] == "DUNNO"
    assert c.ask(policy_request(sender="a@fail.example.test", instance="a3"))["action"].startswith("550 5.7.23")


def test_policy_over_tcp_like_postfix(make_instance, dns):
    inst = make_instance()
    port = inst.port_base + 23
    with open(os.path.join(inst.dir, "master.cf"), "a") as f:
        f.write("127.0.0.1:%d inet  n  -  n  -  1  spamd\n" % port)
    inst.set_main_cf({"dns_resolver": dns.forwarder, "spamd_client_whitelist": "", "spamd_policy_checks": "spf"})
    inst.start()
    c = PolicyClient(("127.0.0.1", port))
    r = c.ask(policy_request(sender="a@fail.example.test", instance="tcp1"))
    assert r["action"].startswith("550 5.7.23 SPF fail"), r
    c.close()


def test_content_service_answers(make_instance, dns):
    inst = spamd_instance(make_instance, dns)
    path = sock(inst, "spamc")
    r = ternattr.call(path, [("request", "ping")])
    assert r == {"status": "ok"}
    r = ternattr.call(path, [("request", "classify"), ("queue_id", "ABC"), ("rcpt", "alice@example.test"),
                             ("message", "Subject: hi\n\nhello\n")])
    assert r["status"] == "ok" and r["verdict"] == "unsure" and r["score"] == "0.5000", r  # untrained
    assert r["action"] == "DUNNO"
    r = ternattr.call(path, [("request", "classify"), ("queue_id", "ABC")])
    assert r == {"status": "error", "reason": "no message attribute"}
    r = ternattr.call(path, [("request", "nonsense")])
    assert r["status"] == "error" and "unsupported request" in r["reason"]


def test_no_dns_at_all_never_crashes(make_instance):
    """A resolver that never answers: every check still answers (temperror
    or DUNNO), within the time limits, and spamd keeps running."""
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))  # bound and silent: queries vanish
    port = dead.getsockname()[1]
    try:
        inst = make_instance()
        inst.set_main_cf({"dns_resolver": "127.0.0.1@%d" % port, "dns_timeout": "1s", "spamd_client_whitelist": "",
                          "spamd_policy_checks": "fcrdns, helo, dnsbl, spf, greylist",
                          "dnsbl_sites": "bl.example.test", "greylist_delay": "0"})
        inst.start()
        pids = spamd_pids(inst)
        c = PolicyClient(sock(inst))
        t0 = time.time()
        r = c.ask(policy_request(sender="a@pass.example.test", instance="dead1"))
        assert r["action"].startswith("451 4.7.24 SPF temporary error"), r
        assert time.time() - t0 < 15
        c.ask(policy_request(sender="a@pass.example.test", instance="dead1"))  # a second recipient
        c.close()
        assert spamd_pids(inst) == pids
        inst.wait_log(r"fcrdns=temperror.*helo=temperror.*dnsbl=0.*spf=temperror")
    finally:
        dead.close()
