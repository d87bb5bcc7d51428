"""Queue faults: the queue on a nearly full small file system (a tmpfs the
test mounts; root only) answers 452 4.3.1 and leaves no partial queue file,
and takes mail again when space returns; a truncated or garbled queue file
goes to corrupt/ with a log line while every other message is delivered;
with the DNS server gone remote mail is deferred, never bounced, and is
delivered once it is back."""
import mailbox
import os
import shutil
import smtplib
import struct
import subprocess
import time

import pytest

from conftest import have_program, wait_for
from dnstest import DnsServer
from fakesmtp import FakeSMTP
from smtptest import drop_service, incoming_ids

QMGR = all(have_program(p) for p in ("qmgr", "local-delivery"))
needs_qmgr = pytest.mark.skipif(not QMGR, reason="needs qmgr and local-delivery")
FAST_RETRY = {"queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
              "transport_retry_time": "1s"}


def maildir_count(inst, user):
    path = inst.maildir(user)
    if not os.path.isdir(os.path.join(path, "new")):
        return 0
    return len(mailbox.Maildir(path, factory=None, create=False).keys())


def maildir_subjects(inst, user):
    path = inst.maildir(user)
    if not os.path.isdir(os.path.join(path, "new")):
        return []
    box = mailbox.Maildir(path, factory=None, create=False)
    return sorted(box.get_message(k)["Subject"] or "" for k in box.keys())


def queue_files(qdir):
    out = []
    for root, _, files in os.walk(qdir):
        rel = os.path.relpath(root, qdir).split(os.sep)[0]
        if rel in ("incoming", "active", "deferred", "hold", "corrupt", "tmp"):
            out += [os.path.join(root, f) for f in files]
    return out


def valid_queue_file(path):
    """The checks docs/queue.md promises a reader makes: magic, lengths, end record."""
    data = open(path, "rb").read()
    if len(data) < 64 or data[:8] != b"TERNQF\r\n":
        return False
    rcpt_count, env_len, msg_len = struct.unpack_from("<IQQ", data, 12)
    end = 64 + rcpt_count + env_len + msg_len
    return msg_len != (1 << 64) - 1 and len(data) >= end + 40 and data[end:end + 4] == b"TQE\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_queue_on_a_full_file_system(make_instance):
    inst = make_instance(main_cf=dict(FAST_RETRY, queue_minfree="0", message_size_limit="20000000"))
    if not QMGR:
        drop_service(inst, "qmgr")
    # the small file system is mounted over the queue directory, holding a
    # copy of the tree tern init made (owners and modes kept)
    small = os.path.join(inst.dir, "queue")
    saved = os.path.join(os.path.dirname(inst.dir), "queue.saved")
    subprocess.run(["cp", "-a", small, saved], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m,mode=0755", "tmpfs", small], check=True)
    try:
        subprocess.run(["cp", "-a", saved + "/.", small], check=True)
        inst.start()
        filler = os.path.join(small, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError:
                pass
        os.truncate(filler, max(0, os.path.getsize(filler) - 200 * 1024))  # about 200 KB left
        body = ("x" * 998 + "\r\n") * 1000  # 1 MB
        host, port = inst.addr("smtp")
        for attempt in range(2):
            with smtplib.SMTP(host, port, timeout=30) as s:
                s.ehlo("client.example.test")
                assert s.mail("bob@example.org")[0] == 250
                assert s.rcpt("alice@example.test")[0] == 250
                code, text = s.data("Subject: big\r\n\r\n" + body)
                assert (code, text[:5]) == (452, b"4.3.1"), (code, text)
                assert s.noop()[0] == 250  # the session goes on
        inst.wait_log(r"(No space left on device|out of space|ENOSPC)")
        # nothing partial anywhere: no temporary file left, every file complete
        files = queue_files(small)
        assert not [f for f in files if "/tmp/" in f], files
        assert all(valid_queue_file(f) for f in files), files
        # space is back: the same message is accepted and delivered
        os.unlink(filler)
        with smtplib.SMTP(host, port, timeout=30) as s:
            s.sendmail("bob@example.org", ["alice@example.test"], "Subject: big\r\n\r\n" + body)
        if QMGR:
            wait_for(lambda: maildir_subjects(inst, "alice") == ["big"], 60, what="delivery after space returned")
        else:
            assert len(incoming_ids(inst)) == 0 or all(valid_queue_file(f) for f in queue_files(small))
    finally:
        inst.stop()
        inst.kill_all()
        subprocess.run(["umount", "-l", small], check=False)


@needs_qmgr
def test_truncated_and_garbled_queue_files_go_to_corrupt(make_instance):
    inst = make_instance(main_cf=FAST_RETRY)
    mcf = os.path.join(inst.dir, "master.cf")
    full = open(mcf).read()
    drop_service(inst, "qmgr")
    inst.start()
    with smtplib.SMTP(*inst.addr("smtp"), timeout=10) as s:
        for i in range(7):
            s.sendmail("bob@example.org", ["alice@example.test"], f"Subject: m{i}\r\n\r\nbody {i}\r\n")
    inst.stop()
    ids = incoming_ids(inst)
    assert len(ids) == 7
    q = os.path.join(inst.dir, "queue", "incoming")
    truncated, garbled = ids[1], ids[4]
    p = os.path.join(q, truncated)
    os.truncate(p, os.path.getsize(p) // 2)
    p = os.path.join(q, garbled)
    data = bytearray(open(p, "rb").read())
    for off in range(70, min(len(data), 120)):
        data[off] ^= 0x5A  # the envelope: its CRC no longer matches
    open(p, "wb").write(bytes(data))
    open(mcf, "w").write(full)
    inst.start()
    corrupt = os.path.join(inst.dir, "queue", "corrupt")
    wait_for(lambda: sorted(os.listdir(corrupt)) == sorted([truncated, garbled]), 30, what="files in corrupt/")
    wait_for(lambda: maildir_count(inst, "alice") == 5, 30, what="the five good messages")
    assert maildir_subjects(inst, "alice") == ["m0", "m2", "m3", "m5", "m6"]
    log = inst.log()
    for qid in (truncated, garbled):
        assert any(qid in line and "corrupt" in line for line in log.splitlines()), log


@needs_qmgr
def test_dns_gone_defers_and_never_bounces(make_instance):
    with FakeSMTP("127.0.0.15", 0, hostname="mx.remote.test") as mx:
        dns = DnsServer("remote.test. IN MX 10 mx.remote.test.\nmx.remote.test. IN A 127.0.0.15").start()
        try:
            inst = make_instance(main_cf=dict(FAST_RETRY, dns_resolver=dns.forwarder, smtp_remote_port=str(mx.port),
                                              smtp_connect_timeout="5s"))
            inst.start()
            dns.stop()  # gone: nothing answers on its port
            with smtplib.SMTP(*inst.addr("submission"), timeout=60) as s:
                s.starttls(context=_tls())
                s.login("alice@example.test", "secret-alice")
                s.sendmail("alice@example.test", ["someone@remote.test"], "Subject: far\r\n\r\naway\r\n")
            # deferred with a reason, for several retry rounds; no bounce comes back
            wait_for(lambda: "someone@remote.test" in inst.tool("mailq").stdout and
                     "(" in inst.tool("mailq").stdout, 90, what="a deferred entry with its reason")
            time.sleep(8)
            mq = inst.tool("mailq").stdout
            assert "someone@remote.test" in mq, mq
            assert maildir_count(inst, "alice") == 0, "a bounce or notice came back"
            assert not mx.messages
            dns.start()  # back, on the same port
            inst.tool("postqueue", "-f")
            mx.wait_messages(1, timeout=90)
            wait_for(lambda: "Mail queue is empty" in inst.tool("mailq").stdout, 30, what="empty queue")
            assert maildir_count(inst, "alice") == 0
        finally:
            dns.stop()


def _tls():
    import ssl
    c = ssl.create_default_context()
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c
