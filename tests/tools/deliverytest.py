"""deliverytest.py - helpers for the delivery integration tests: submit mail
with Python's smtplib (or, in a build without smtpd, through the real queue
writer: tests/tools/queue_fixture, run as mail_owner), wait for it in
maildirs and mboxes read with Python's `mailbox`, find delivery status
notifications and parse them with `email`, edit aliases and rebuild them
with newaliases, and kill daemons by service name."""
import email
import email.policy
import mailbox
import os
import pwd
import signal
import smtplib
import subprocess
import time

from conftest import BUILD, have_program, run, wait_for

FIXTURE = os.path.join(BUILD, "tests", "tools", "queue_fixture")


def has_smtpd():
    return have_program("smtpd")


def owner_ids():
    """(uid, gid) of mail_owner in an instance made as root, else None."""
    if os.geteuid() != 0:
        return None
    pw = pwd.getpwnam("tern")
    return pw.pw_uid, pw.pw_gid


def submit(inst, sender, rcpts, msg, rcpt_options=(), mail_options=(), timeout=30):
    """Queue one message. msg: str or bytes with CRLF or LF line ends."""
    if isinstance(msg, str):
        msg = msg.encode()
    if has_smtpd():
        host, port = inst.addr("smtp")
        with smtplib.SMTP(host, port, timeout=timeout) as s:
            s.ehlo("client.example.test")
            refused = s.sendmail(sender, rcpts, msg.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"),
                                 mail_options=list(mail_options), rcpt_options=list(rcpt_options))
            assert not refused, refused
        return
    if not os.access(FIXTURE, os.X_OK):
        import pytest
        pytest.skip("neither smtpd nor tests/tools/queue_fixture in this build")
    spec = "sender %s\n" % (sender or "<>")
    notify = [o.split("=", 1)[1] for o in rcpt_options if o.upper().startswith("NOTIFY=")]
    for r in rcpts:
        spec += "rcpt %s%s\n" % (r, " notify=" + notify[0].upper() if notify else "")
    for o in mail_options:
        k, _, v = o.partition("=")
        k = k.upper()
        if k == "RET":
            spec += "ret %s\n" % v.upper()
        elif k == "ENVID":
            spec += "envid %s\n" % v
        elif k == "BODY":
            spec += "body %s\n" % v.upper()
        elif k == "SMTPUTF8":
            spec += "smtputf8\n"
        elif k == "BY":
            secs, _, mode = v.partition(";")
            spec += "by %s %s\n" % (secs, mode.upper())
    spec += "data\n" + msg.replace(b"\r\n", b"\n").decode("utf-8", "surrogateescape")
    ids = owner_ids()

    def demote():
        if ids:
            os.setgid(ids[1])
            os.setuid(ids[0])

    r = subprocess.run([FIXTURE, os.path.join(inst.dir, "queue"), "incoming"], input=spec, capture_output=True,
                       text=True, timeout=timeout, preexec_fn=demote)
    assert r.returncode == 0, r.stderr
    inst.tool("postqueue", "-f", check=False)


def message(subject, body="Hello.\n", extra="", sender="bob@example.test", to="alice@example.test"):
    return (f"From: <{sender}>\nTo: <{to}>\nSubject: {subject}\nMessage-ID: <{subject.replace(' ', '.')}"
            f"@client.example.test>\n{extra}\n{body}")


def maildir_messages(path, folder=None):
    """[email.message.Message] in a maildir (new/ and cur/), or []."""
    if folder:
        path = os.path.join(path, "." + folder)
    # a maildir being made has new/ before cur/
    if not all(os.path.isdir(os.path.join(path, d)) for d in ("new", "cur", "tmp")):
        return []
    try:
        return [m for m in mailbox.Maildir(path, factory=None, create=False)]
    except FileNotFoundError:  # a message moved between listing and reading
        return []


def wait_maildir(path, n, timeout=30, folder=None):
    return wait_for(lambda: len(maildir_messages(path, folder)) >= n and maildir_messages(path, folder), timeout,
                    what=f"{n} messages in {path}")


def subjects(msgs):
    return sorted(m["Subject"] for m in msgs)


def dsns(msgs):
    """The delivery status notifications among msgs, parsed with email."""
    out = []
    for m in msgs:
        parsed = email.message_from_bytes(m.as_bytes(), policy=email.policy.compat32)
        if parsed.get_content_type() == "multipart/report":
            out.append(parsed)
    return out


def dsn_fields(report):
    """(per-message fields, [per-recipient fields]) of a multipart/report."""
    part = [p for p in report.walk() if p.get_content_type() in ("message/delivery-status",
                                                                 "message/global-delivery-status")][0]
    blocks = part.get_payload()  # email parses delivery-status into header blocks
    fields = [{k.lower(): v for k, v in b.items()} for b in blocks]
    return fields[0], fields[1:]


def set_aliases(inst, text):
    """Append alias lines and rebuild the alias table."""
    path = os.path.join(inst.dir, "aliases")
    with open(path, "a") as f:
        f.write(text)
    inst.tool("newaliases")
    # daemons look at a table file's stamp at most once a second
    time.sleep(1.2)


def add_vmailbox(inst, address, path):
    with open(os.path.join(inst.dir, "vmailbox"), "a") as f:
        f.write(f"{address}  {path}\n")


def shared_dir(inst, name):
    """A directory every account (nobody, mail_owner, test users) can write."""
    d = os.path.join(os.path.dirname(inst.dir), name)
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o1777)
    return d


def service_pid(inst, name, timeout=10):
    return wait_for(lambda: (inst.services().get(name) or [0])[0], timeout, what=f"{name} running")


def kill_service(inst, name):
    pid = service_pid(inst, name)
    os.kill(pid, signal.SIGKILL)
    # the master starts a new one
    wait_for(lambda: (inst.services().get(name) or [pid])[0] != pid, 15, what=f"{name} restarted")
    return pid


def mailq(inst):
    return inst.tool("mailq").stdout


def wait_queue_empty(inst, timeout=30):
    return wait_for(lambda: "Mail queue is empty" in mailq(inst), timeout, what="empty queue")
