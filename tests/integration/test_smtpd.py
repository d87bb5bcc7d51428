"""smtpd with real clients: Python's smtplib plain on the smtp port,
STARTTLS + AUTH on submission, implicit TLS on smtps; swaks with
pipelining; curl's SMTP; BDAT; DSN and DELIVERBY parameters as postqueue -j
shows them; relay refused from outside mynetworks; unknown users refused
at RCPT; STARTTLS throwing away pipelined plaintext; the qmgr wake-up and
ETRN; 10 concurrent sessions of 100 messages each."""
import os
import re
import smtplib
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import wait_for
from smtptest import (RawSMTP, incoming_ids, message_of, postqueue_json, started, wait_incoming)

MSG = "From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: hi\r\n\r\nHello Bob.\r\n"


def tls_ctx():
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def test_seed_session_with_smtplib(make_instance):
    inst = started(make_instance)
    host, port = inst.addr("smtp")
    with smtplib.SMTP(host, port, timeout=10) as s:
        code, banner = s.ehlo("client.example.test")
        assert code == 250
        feats = s.esmtp_features
        for kw in ("pipelining", "8bitmime", "size", "dsn", "etrn", "starttls", "deliverby",
                   "enhancedstatuscodes", "smtputf8", "chunking", "help"):
            assert kw in feats, (kw, banner)
        assert "auth" not in feats  # not before TLS
        assert feats["size"] == "10240000"
        assert s.mail("alice@example.test") == (250, b"2.1.0 Ok")
        assert s.rcpt("bob@example.test") == (250, b"2.1.5 Ok")
        code, text = s.data(MSG)
        assert code == 250
        assert text.startswith(b"2.0.0 Ok: queued as ")
        qid = re.search(r"queued as (\S+)", text.decode()).group(1)
        assert text.decode().endswith(" - Message accepted for delivery")
        assert b"Commands:" in s.help()
        assert s.noop()[0] == 250
        assert s.verify("bob@example.test")[0] == 252
    assert incoming_ids(inst) == [qid]
    msg = message_of(inst, qid).decode()
    # the client's name is what DNS (here /etc/hosts) verifies for 127.0.0.1
    assert re.match(r"Received: from client\.example\.test \((localhost|unknown) \[127\.0\.0\.1\]\)\n"
                    r"\tby mail\.example\.test \(tern\) with ESMTP id " + qid + "\n", msg), msg
    assert "\n\tfor <bob@example.test>; " in msg
    # the rest is byte-exact (LF line ends in the queue)
    assert MSG.replace("\r\n", "\n") in msg
    # no Message-ID or Date added for a plain SMTP client
    assert "Message-ID:" not in msg and "\nDate:" not in msg
    inst.wait_log(r"%s: from=<alice@example.test>, size=\d+, nrcpt=1 \(queued\)" % qid)
    inst.wait_log(r"disconnect from \S+\[127.0.0.1\] ehlo=1 mail=1 rcpt=1 data=1 help=1 noop=1 vrfy=1 quit=1 commands=8")


def test_submission_requires_starttls_and_auth(make_instance):
    inst = started(make_instance)
    host, port = inst.addr("submission")
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.ehlo("laptop.example.test")
        assert "starttls" in s.esmtp_features and "auth" not in s.esmtp_features
        code, text = s.mail("alice@example.test")
        assert (code, text[:5]) == (530, b"5.7.0")
        s.starttls(context=tls_ctx())
        s.ehlo("laptop.example.test")
        assert s.esmtp_features["auth"].split() == ["PLAIN", "LOGIN"]
        assert "starttls" not in s.esmtp_features
        # without AUTH nothing is accepted on submission
        s.mail("alice@example.test")
        code, text = s.rcpt("friend@remote.test")
        assert code == 554 and b"5.7.1" in text, text
        s.rset()
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("alice", "wrong")
        assert e.value.smtp_code == 535
        s.login("alice@example.test", "secret-alice")
        # authenticated: relaying is allowed; Message-ID and Date are added
        s.sendmail("alice@example.test", ["friend@remote.test"], "Subject: out\r\n\r\nbody\r\n")
    ids = wait_incoming(inst, 1)
    msg = message_of(inst, ids[0]).decode()
    first = msg.split("\n\tby ")[0]
    assert "(using TLSv1." in first
    assert "(Authenticated sender: alice@example.test)" in first
    assert "with ESMTPSA id " + ids[0] in msg
    assert "\nMessage-ID: <" in msg and "@mail.example.test>\n" in msg
    assert "\nDate: " in msg
    # added at the end of the header, the rest untouched
    assert "\nSubject: out\nMessage-ID: <" in msg and msg.endswith("\n\nbody\n")
    inst.wait_log(r"tern/submission/smtpd\[\d+\]: %s: client=\S+\[127.0.0.1\], sasl_method=PLAIN, sasl_username=alice@example.test" % ids[0])
    j = postqueue_json(inst)
    assert j[0]["auth_user"] == "alice@example.test"


def test_smtps_implicit_tls_with_login(make_instance):
    inst = started(make_instance)
    host, port = inst.addr("smtps")
    with smtplib.SMTP_SSL(host, port, timeout=10, context=tls_ctx()) as s:
        s.ehlo("phone.example.test")
        assert "PLAIN" in s.esmtp_features["auth"]
        assert "starttls" not in s.esmtp_features
        s.user, s.password = "bob", "secret-bob"
        code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
        assert code == 235
        s.sendmail("bob@example.test", ["alice@example.test"], MSG)
    ids = wait_incoming(inst, 1)
    msg = message_of(inst, ids[0]).decode()
    assert "with ESMTPSA id" in msg and "(Authenticated sender: bob@example.test)" in msg
    inst.wait_log(r"tern/smtps/smtpd\[\d+\]: .*sasl_method=LOGIN, sasl_username=bob@example.test")


def test_auth_not_offered_in_the_clear(make_instance):
    inst = started(make_instance)
    r = RawSMTP(*inst.addr("smtp"))
    r.reply()
    r.cmd("EHLO x.example.test")
    code, text = r.cmd("AUTH PLAIN AGFsaWNlAHNlY3JldC1hbGljZQ==")
    assert code == 538, text
    r.close()


def test_swaks_pipelining(make_instance):
    inst = started(make_instance)
    host, port = inst.addr("smtp")
    r = subprocess.run(["swaks", "--server", host, "--port", str(port), "--pipeline", "--from", "alice@example.test",
                        "--to", "bob@example.test,alice@example.test", "--helo", "swaks.example.test",
                        "--header", "Subject: pipelined"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "queued as" in r.stdout
    ids = wait_incoming(inst, 1)
    j = postqueue_json(inst)
    assert sorted(x["address"] for x in j[0]["recipients"]) == ["alice@example.test", "bob@example.test"]
    assert "Subject: pipelined" in message_of(inst, ids[0]).decode()


def test_curl_smtp(make_instance, tmp_path):
    inst = started(make_instance)
    host, port = inst.addr("smtp")
    body = tmp_path / "mail.txt"
    body.write_text("From: alice@example.test\r\nSubject: via curl\r\n\r\nsent with curl\r\n")
    r = subprocess.run(["curl", "-sS", f"smtp://{host}:{port}/curl.example.test", "--mail-from", "alice@example.test",
                        "--mail-rcpt", "bob@example.test", "--upload-file", str(body)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ids = wait_incoming(inst, 1)
    assert "sent with curl" in message_of(inst, ids[0]).decode()


def test_curl_submission_with_starttls_and_login(make_instance, tmp_path):
    inst = started(make_instance)
    host, port = inst.addr("submission")
    body = tmp_path / "mail.txt"
    body.write_text("Subject: curl tls\r\n\r\nover TLS\r\n")
    r = subprocess.run(["curl", "-sS", "--ssl-reqd", "-k", f"smtp://{host}:{port}", "--user", "alice:secret-alice",
                        "--mail-from", "alice@example.test", "--mail-rcpt", "someone@remote.test",
                        "--upload-file", str(body)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    wait_incoming(inst, 1)


def test_relay_refused_from_outside_mynetworks(make_instance):
    inst = started(make_instance, main_cf={"mynetworks": "127.0.0.1/32"})
    host, port = inst.addr("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=("127.0.0.5", 0)) as s:
        s.ehlo("outside.example.test")
        s.mail("spammer@outside.test")
        code, text = s.rcpt("victim@elsewhere.test")
        assert code == 554
        assert text == b"5.7.1 <victim@elsewhere.test>: Relay access denied"
        # our own users are still reachable from outside
        assert s.rcpt("bob@example.test")[0] == 250
        s.rset()
        s.mail("spammer@outside.test")
        s.rcpt("victim@elsewhere.test")
        code, text = s.docmd("DATA")
        assert code == 554 and b"no valid recipients" in text
    assert incoming_ids(inst) == []
    inst.wait_log(r"NOQUEUE: reject: RCPT from unknown\[127.0.0.5\]: 554 5.7.1 <victim@elsewhere.test>: "
                  r"Relay access denied; from=<spammer@outside.test> to=<victim@elsewhere.test> proto=ESMTP "
                  r"helo=<outside.example.test>")
    # inside mynetworks the same recipient is relayed
    with smtplib.SMTP(host, port, timeout=10) as s:
        s.sendmail("alice@example.test", ["victim@elsewhere.test"], MSG)
    assert len(incoming_ids(inst)) == 1


def test_unknown_users_refused_at_rcpt(make_instance, tmp_path):
    aliases = tmp_path / "aliases.txt"
    aliases.write_text("postmaster alice@example.test\n")
    os.chmod(tmp_path, 0o755)
    inst = started(make_instance, main_cf={"alias_maps": f"texthash:{aliases}"})
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("c.example.test")
        s.mail("alice@example.test")
        code, text = s.rcpt("nobody@example.test")
        assert (code, text) == (550, b"5.1.1 <nobody@example.test>: Recipient address rejected: "
                                     b"User unknown in virtual mailbox table")
        assert s.rcpt("Bob@Example.TEST")[0] == 250
        assert s.rcpt("alice+tag@example.test")[0] == 250
        # mydestination: system accounts and aliases
        assert s.rcpt("root@localhost")[0] == 250
        assert s.rcpt("postmaster@mail.example.test")[0] == 250
        code, text = s.rcpt("no-such-account@localhost")
        assert code == 550 and b"User unknown in local recipient table" in text
        # <postmaster> without a domain is ours
        assert s.rcpt("<postmaster>")[0] == 250


def test_bdat(make_instance):
    inst = started(make_instance)
    r = RawSMTP(*inst.addr("smtp"))
    assert r.reply()[0] == 220
    assert "CHUNKING" in r.cmd("EHLO bdat.example.test")[1]
    part1 = b"Subject: chunks\r\n\r\nfirst part\r\n"
    part2 = b".this line starts with a dot\r\nbare\nLF kept\r\n"
    # pipelined: MAIL, RCPT and the first chunk in one write
    r.send(b"MAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@example.test>\r\nBDAT %d\r\n%s" % (len(part1), part1))
    assert r.reply() == (250, "250 2.1.0 Ok")
    assert r.reply() == (250, "250 2.1.5 Ok")
    assert r.reply() == (250, "250 2.0.0 Ok: %d bytes" % len(part1))
    r.send(b"BDAT %d LAST\r\n%s" % (len(part2), part2))
    code, text = r.reply()
    assert code == 250 and "queued as" in text
    qid = re.search(r"queued as (\S+)", text).group(1)
    # BDAT without a transaction: the chunk is read and refused
    r.send(b"BDAT 6 LAST\r\nQUIT\r\n")
    code, text = r.reply()
    assert code == 503
    assert r.cmd("NOOP")[0] == 250
    r.close()
    msg = message_of(inst, qid)
    assert msg.endswith(b"Subject: chunks\n\nfirst part\n.this line starts with a dot\nbare\nLF kept\n")


def test_dsn_and_deliverby_in_postqueue(make_instance):
    inst = started(make_instance)
    r = RawSMTP(*inst.addr("smtp"))
    r.reply()
    r.cmd("EHLO dsn.example.test")
    assert r.cmd("MAIL FROM:<alice@example.test> RET=HDRS ENVID=QQ+2B314 BODY=8BITMIME BY=3600;RT")[0] == 250
    assert r.cmd("RCPT TO:<bob@example.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;Bob+2Bx@example.test")[0] == 250
    assert r.cmd("RCPT TO:<alice@example.test> NOTIFY=NEVER")[0] == 250
    assert r.cmd("DATA")[0] == 354
    code, text = r.cmd("Subject: dsn\r\n\r\nbody\r\n.")
    assert code == 250
    r.cmd("QUIT")
    j = postqueue_json(inst)
    assert len(j) == 1
    m = j[0]
    assert m["envid"] == "QQ+314"
    assert m["ret"] == "HDRS"
    assert m["body_type"] == "8BITMIME"
    assert m["deliver_by"]["mode"] == "R" and m["deliver_by"]["seconds"] == 3600 and m["deliver_by"]["trace"]
    rc = {x["address"]: x for x in m["recipients"]}
    assert rc["bob@example.test"]["notify"] == "SUCCESS,FAILURE"
    assert rc["bob@example.test"]["orcpt"] == "rfc822;Bob+x@example.test"
    assert rc["alice@example.test"]["notify"] == "NEVER"
    assert m["client_address"] == "127.0.0.1" and m["helo"] == "dsn.example.test"


def test_starttls_discards_pipelined_plaintext(make_instance):
    inst = started(make_instance)
    r = RawSMTP(*inst.addr("smtp"))
    r.reply()
    r.cmd("EHLO tls.example.test")
    r.send("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\n")
    assert r.reply()[0] == 220
    r.starttls()
    # the session starts over: the injected MAIL was never executed
    assert r.cmd("EHLO tls.example.test")[0] == 250
    code, text = r.cmd("RCPT TO:<bob@example.test>")
    assert code == 503, text
    r.close()


def test_qmgr_wakeup_and_etrn(make_instance):
    inst = started(make_instance)
    path = os.path.join(inst.dir, "queue", "public", "qmgr")
    # stand in for the qmgr on its public socket to see what smtpd asks
    seen = []
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    os.chmod(path, 0o666)
    srv.listen(16)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = srv.accept()
            except socket.timeout:
                continue
            c.settimeout(2)
            data = b""
            try:
                while b"\n\n" not in data:
                    d = c.recv(4096)
                    if not d:
                        break
                    data += d
                seen.append(data.decode())
                c.sendall(b"status=ok\n\n")
            except OSError:
                pass
            c.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
            s.sendmail("alice@example.test", ["bob@example.test"], MSG)
            wait_for(lambda: any("request=wakeup" in x for x in seen), 10, what="qmgr wake-up")
            code, text = s.docmd("ETRN", "remote.example.test")
            assert code == 250, text
            assert any("request=flush\nsite=remote.example.test\n" in x for x in seen)
            assert s.docmd("ETRN", "not a domain!")[0] == 501
    finally:
        stop.set()
        t.join(5)
        srv.close()
    os.unlink(path)
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        s.ehlo("x.example.test")
        # nobody listens: ETRN is refused, temporarily
        assert s.docmd("ETRN", "remote.example.test")[0] == 458


def test_ten_sessions_of_a_hundred_messages(make_instance):
    inst = started(make_instance)
    host, port = inst.addr("smtp")
    errors = []

    def client(n):
        try:
            with smtplib.SMTP(host, port, timeout=60) as s:
                s.ehlo(f"load{n}.example.test")
                for i in range(100):
                    s.sendmail("alice@example.test", [f"u{n}-{i}@remote.test"],
                               f"Subject: {n}/{i}\r\n\r\nmessage {i} of session {n}\r\n")
        except Exception as e:  # reported below
            errors.append(repr(e))

    t0 = time.time()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:3]
    ids = incoming_ids(inst)
    assert len(ids) == 1000
    rcpts = []
    for m in postqueue_json(inst):
        rcpts += [r["address"] for r in m["recipients"]]
    assert sorted(rcpts) == sorted(f"u{n}-{i}@remote.test" for n in range(10) for i in range(100))
    print(f"1000 messages in {time.time() - t0:.2f}s")
