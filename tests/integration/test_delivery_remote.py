"""Notices for mail to other hosts, through the qmgr and the SMTP client:
the next hop is a scriptable SMTP server on loopback
(tests/tools/fakesmtp.py) named by relayhost. An unknown remote user comes
back to the sender as an RFC 3464 report that Python's mailbox and email
parse, quoting the remote's reply; a next hop without the DSN extension
gets a "relayed" notice for NOTIFY=SUCCESS; a 451 leaves the mail deferred
with the remote's reason in mailq until the remote recovers and
`postqueue -f` sends it. Skipped while the build has no smtp-client."""
import os
import time

import pytest

from conftest import have_program, wait_for
from deliverytest import dsn_fields, dsns, mailq, message, submit, wait_maildir, wait_queue_empty

pytestmark = pytest.mark.skipif(not have_program("smtp-client"), reason="needs smtp-client")

fakesmtp = pytest.importorskip("fakesmtp")


@pytest.fixture
def remote():
    with fakesmtp.FakeSMTP("127.0.0.1", 0) as mx:
        yield mx


def instance(make_instance, mx, **extra):
    cf = {"relayhost": f"[127.0.0.1]:{mx.port}", "queue_run_delay": "1h", "minimal_backoff_time": "1h",
          "maximal_backoff_time": "2h", "smtp_connect_timeout": "5s"}
    cf.update(extra)
    inst = make_instance(main_cf=cf)
    inst.start()
    return inst


def test_unknown_remote_user_returns_a_report(make_instance, remote):
    remote.rcpt_replies["nobody@remote.test"] = "550 5.1.1 <nobody@remote.test>: no such user here"
    inst = instance(make_instance, remote)
    submit(inst, "bob@example.test", ["nobody@remote.test", "somebody@remote.test"],
           message("to remote", to="nobody@remote.test"), mail_options=["ENVID=remote-1"])
    remote.wait_messages(1)
    assert [r[0] for r in remote.messages[0]["rcpts"]] == ["somebody@remote.test"]
    got = wait_maildir(inst.maildir("bob"), 1)
    r = dsns(got)[0]
    assert r.get_content_type() == "multipart/report"
    assert r.get_param("report-type") == "delivery-status"
    per_msg, per_rcpt = dsn_fields(r)
    assert per_msg["original-envelope-id"] == "remote-1"
    assert len(per_rcpt) == 1  # only the failed one
    f = per_rcpt[0]
    assert f["final-recipient"] == "rfc822; nobody@remote.test"
    assert f["action"] == "failed"
    assert f["status"] == "5.1.1"
    assert f["remote-mta"].startswith("dns; ")
    assert "550 5.1.1" in f["diagnostic-code"] and "no such user here" in f["diagnostic-code"]
    assert [p.get_content_type() for p in r.walk()].count("message/rfc822") == 1
    wait_queue_empty(inst)


def test_relayed_notice_when_the_next_hop_lacks_dsn(make_instance):
    with fakesmtp.FakeSMTP("127.0.0.1", 0, extensions=("PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES")) as mx:
        inst = instance(make_instance, mx)
        submit(inst, "bob@example.test", ["far@remote.test"], message("relay me", to="far@remote.test"),
               rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
        mx.wait_messages(1)
        got = wait_maildir(inst.maildir("bob"), 1)
        r = dsns(got)[0]
        assert r["Subject"] == "Successful Mail Delivery Report"
        _, per_rcpt = dsn_fields(r)
        assert per_rcpt[0]["action"] == "relayed"
        assert per_rcpt[0]["status"].startswith("2.")
        wait_queue_empty(inst)


def test_remote_451_is_deferred_then_flushed(make_instance, remote):
    remote.rcpt_replies["later@remote.test"] = "451 4.3.0 try again later, please"
    inst = instance(make_instance, remote)
    submit(inst, "bob@example.test", ["later@remote.test"], message("retry me", to="later@remote.test"))
    q = wait_for(lambda: "try again later, please" in mailq(inst) and mailq(inst), 30,
                 what="the remote's reason in mailq")
    assert "later@remote.test" in q
    assert not remote.messages
    # the remote recovers; nothing happens until the flush (retries are an hour apart)
    del remote.rcpt_replies["later@remote.test"]
    time.sleep(1)
    assert not remote.messages
    inst.tool("postqueue", "-f")
    remote.wait_messages(1, timeout=30)
    assert [r[0] for r in remote.messages[0]["rcpts"]] == ["later@remote.test"]
    wait_queue_empty(inst)
    # no notice went to the sender
    assert not os.path.isdir(os.path.join(inst.maildir("bob"), "new")) or \
        not os.listdir(os.path.join(inst.maildir("bob"), "new"))
