"""sendmail and pickup: submission while tern is stopped (the message
waits in maildrop/ and is queued at start), -t with Bcc removal, -f/-F,
-i and the lone dot, sysexits codes, -bs (SMTP on stdin), -bp, and
immediate pickup while tern runs."""
import os
import subprocess

from conftest import program, wait_for
from smtptest import incoming_ids, message_of, no_qmgr, postqueue_json


def maildrop(inst):
    d = os.path.join(inst.dir, "queue", "maildrop")
    return [f for f in os.listdir(d) if not f.startswith(".")]


def sendmail(inst, args, text, check=True):
    r = subprocess.run([program("sendmail"), "-C", inst.dir] + args, input=text, capture_output=True, text=True,
                       timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def test_sendmail_t_while_stopped_then_queued_at_start(make_instance):
    inst = make_instance()
    no_qmgr(inst)
    msg = ("From: Alice <alice@example.test>\nTo: bob@example.test, Carol <carol@remote.test>\n"
           "Cc: dave@remote.test\nBcc: secret@remote.test\nSubject: while stopped\n\nhello\n.\nafter the dot\n")
    sendmail(inst, ["-t", "-f", "alice@example.test"], msg)
    # tern is not running: the message waits in maildrop/
    assert len(maildrop(inst)) == 1
    inst.start()
    ids = wait_for(lambda: incoming_ids(inst), 20, what="pickup to queue the maildrop file")
    assert len(ids) == 1
    wait_for(lambda: maildrop(inst) == [], 10, what="maildrop emptied")
    j = postqueue_json(inst)[0]
    assert j["sender"] == "alice@example.test"
    assert sorted(r["address"] for r in j["recipients"]) == [
        "bob@example.test", "carol@remote.test", "dave@remote.test", "secret@remote.test"]
    body = message_of(inst, ids[0]).decode()
    assert body.startswith("Received: by mail.example.test (tern, from userid %d)\n\tid %s; " % (os.getuid(), ids[0]))
    assert "Bcc:" not in body and "secret@remote.test" not in body
    # a lone dot ends the input (no -i): the rest was not taken
    assert "hello\n" in body and "after the dot" not in body
    assert "\nMessage-ID: <" in body and "\nDate: " in body
    inst.wait_log(r"%s: uid=%d from=<alice@example.test>" % (ids[0], os.getuid()))


def test_sendmail_while_running_is_picked_up_at_once(make_instance):
    inst = make_instance()
    no_qmgr(inst)
    inst.start()
    sendmail(inst, ["-i", "-F", "Alice Example", "-f", "alice", "bob@example.test"],
             "Subject: now\n\nline\n.\nmore after a dot line\n")
    ids = wait_for(lambda: incoming_ids(inst), 10, what="immediate pickup")
    body = message_of(inst, ids[0]).decode()
    # -i: the dot line is data; From: added from -f (qualified with myorigin) and -F
    assert ".\nmore after a dot line\n" in body
    assert "\nFrom: Alice Example <alice@example.test>\n" in body
    j = postqueue_json(inst)[0]
    assert j["sender"] == "alice@example.test"


def test_sendmail_exit_codes(make_instance):
    inst = make_instance()
    r = sendmail(inst, ["-t"], "Subject: nobody\n\nx\n", check=False)
    assert r.returncode == 64 and "no recipient" in r.stderr
    r = sendmail(inst, ["--bogus"], "", check=False)
    assert r.returncode == 64
    inst.set_main_cf({"message_size_limit": "100"})
    r = sendmail(inst, ["bob@example.test"], "Subject: big\n\n" + "x" * 500 + "\n", check=False)
    assert r.returncode == 65 and "too big" in r.stderr
    r = subprocess.run([program("sendmail"), "-C", "/nonexistent-dir", "bob@example.test"], input="x\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 78
    assert maildrop(inst) == []


def test_sendmail_bs(make_instance):
    inst = make_instance()
    no_qmgr(inst)
    inst.start()
    dialogue = ("EHLO local\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
                "Subject: bs\r\n\r\n..dotted\r\n.\r\nQUIT\r\n")
    r = sendmail(inst, ["-bs"], dialogue)
    lines = r.stdout.splitlines()
    assert lines[0].startswith("220 ")
    assert any(l.startswith("250 2.0.0 Ok: queued as ") for l in lines), lines
    assert lines[-1].startswith("221")
    ids = wait_for(lambda: incoming_ids(inst), 10, what="pickup of the -bs message")
    assert "\n.dotted\n" in message_of(inst, ids[0]).decode()


def test_sendmail_bp_is_mailq(make_instance):
    inst = make_instance()
    no_qmgr(inst)
    r = sendmail(inst, ["-bp"], "")
    assert "Mail queue is empty" in r.stdout
