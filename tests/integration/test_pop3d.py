"""pop3d with real clients: Python's poplib (plain with plaintext allowed,
STLS, port 995), curl's POP3 and fetchmail, on maildir and mbox users.
Messages are put in place with Python's own mailbox module (owned by the
instance's mail_owner), so these tests do not depend on the delivery path;
test_pop3d_delivery.py covers SMTP -> POP3 end to end when smtpd exists."""
import mailbox
import os
import poplib
import pwd
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from conftest import run, wait_for

MSGS = [
    b"From: a@example.org\nTo: alice@example.test\nSubject: one\n\nfirst body\n",
    b"From: b@example.org\nTo: alice@example.test\nSubject: two\n\n.leading dot line\nFrom the start of a line\n..two dots\nend\n",
    b"From: c@example.org\nTo: alice@example.test\nSubject: three\n\n" + (b"x" * 99 + b"\n") * 50 + b"last line without newline",
]


def owner_ids(inst):
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    pw = pwd.getpwnam("tern")
    return pw.pw_uid, pw.pw_gid


def chown_tree(inst, path):
    uid, gid = owner_ids(inst)
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for f in files:
            os.chown(os.path.join(root, f), uid, gid)


def seed_maildir(inst, user, msgs):
    md = mailbox.Maildir(inst.maildir(user), create=True)
    for m in msgs:
        md.add(m)
    chown_tree(inst, inst.maildir(user))


def make_mbox_user(inst, user):
    """Point a user's mailbox at an mbox file (vmailbox value without /)."""
    addr = f"{user}@{inst.domain}"
    path = os.path.join(inst.dir, "vmailbox")
    text = open(path).read().replace(f"{addr}  {addr}/", f"{addr}  {user}.mbox")
    open(path, "w").write(text)
    return os.path.join(inst.dir, "mail", f"{user}.mbox")


def seed_mbox(inst, path, msgs):
    mb = mailbox.mbox(path, create=True)
    mb.lock()
    for m in msgs:
        mb.add(m)
    mb.flush()
    mb.unlock()
    mb.close()
    uid, gid = owner_ids(inst)
    os.chown(path, uid, gid)


def wire(m):
    """What POP3 should send for a stored message: CRLF line ends, a final line end."""
    if not m.endswith(b"\n"):
        m += b"\n"
    return m.replace(b"\n", b"\r\n")


def retr_bytes(p, n):
    resp, lines, octets = p.retr(n)
    return b"\r\n".join(lines) + b"\r\n"


@pytest.fixture
def plain_inst(make_instance):
    inst = make_instance(users=(("alice", "pw-alice"), ("bob", "pw-bob"), ("carol", "pw-carol")),
                         main_cf={"pop3d_allow_plaintext_auth": "yes"})
    return inst


def pop3(inst, tls=False):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return poplib.POP3_SSL(inst.listen, inst.port("pop3s"), context=ctx, timeout=20)
    return poplib.POP3(inst.listen, inst.port("pop3"), timeout=20)


def test_plain_session_with_plaintext_allowed(plain_inst):
    inst = plain_inst
    seed_maildir(inst, "alice", MSGS)
    inst.start()
    p = pop3(inst)
    assert p.getwelcome().startswith(b"+OK")
    caps = p.capa()
    for c in ("TOP", "UIDL", "RESP-CODES", "USER", "SASL", "STLS", "PIPELINING"):
        assert c in caps, caps
    p.user("alice")
    p.pass_("pw-alice")
    count, size = p.stat()
    assert count == 3
    resp, listing, _ = p.list()
    sizes = [int(l.split()[1]) for l in listing]
    assert size == sum(sizes)
    got = [retr_bytes(p, i + 1) for i in range(3)]
    for i, m in enumerate(MSGS):
        assert got[i] == wire(m), (i, got[i][:200])
    # LIST sizes are the on-wire sizes of the stored messages
    for i, m in enumerate(MSGS):
        assert sizes[i] == len(m.replace(b"\n", b"\r\n")), (i, sizes[i])
    # TOP: header, empty line, n body lines
    resp, lines, _ = p.top(2, 1)
    assert lines[-1] == b".leading dot line"  # poplib removes the stuffed dot
    assert b"Subject: two" in lines and lines.count(b"") == 1
    uidls = p.uidl()[1]
    assert len(uidls) == 3 and len({u.split()[1] for u in uidls}) == 3
    p.dele(1)
    with pytest.raises(poplib.error_proto, match="already deleted"):
        p.retr(1)
    assert p.stat()[0] == 2
    p.quit()
    md = mailbox.Maildir(inst.maildir("alice"), create=False)
    subjects = sorted(m["Subject"] for m in md)
    assert subjects == ["three", "two"]
    log = inst.log()
    assert "login user=alice@example.test" in log and "del=1/3" in log


def test_plaintext_refused_without_tls(make_instance):
    inst = make_instance()
    inst.start()
    p = pop3(inst)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps
    with pytest.raises(poplib.error_proto, match=r"\[AUTH\]"):
        p.user("alice")
    p.quit()


def test_stls_and_pop3s(make_instance):
    inst = make_instance()
    seed_maildir(inst, "alice", MSGS[:1])
    inst.start()
    p = pop3(inst)
    ctx = ssl._create_unverified_context()
    p.stls(context=ctx)
    assert "USER" in p.capa() and "STLS" not in p.capa()
    p.user("alice")
    p.pass_("secret-alice")
    assert retr_bytes(p, 1) == wire(MSGS[0])
    p.quit()
    s = pop3(inst, tls=True)
    s.user("alice")
    s.pass_("secret-alice")
    assert s.stat()[0] == 1
    s.quit()
    # AUTH PLAIN with an initial response over TLS
    s = pop3(inst, tls=True)
    import base64
    resp = s._shortcmd("AUTH PLAIN " + base64.b64encode(b"\0alice\0secret-alice").decode())
    assert resp.startswith(b"+OK")
    s.quit()


def test_plaintext_pipelined_after_stls_is_not_executed(make_instance):
    inst = make_instance(main_cf={"pop3d_allow_plaintext_auth": "no"})
    inst.start()
    s = socket.create_connection(inst.addr("pop3"), timeout=10)
    s.recv(1024)
    s.sendall(b"STLS\r\nUSER alice\r\nPASS secret-alice\r\n")
    resp = b""
    while b"\r\n" not in resp:
        resp += s.recv(1024)
    assert resp.startswith(b"+OK")
    ctx = ssl._create_unverified_context()
    t = ctx.wrap_socket(s)
    t.sendall(b"STAT\r\n")
    r = t.recv(1024)
    assert r.startswith(b"-ERR"), r  # not logged in: the pipelined USER/PASS were thrown away
    t.close()


def test_drop_without_quit_deletes_nothing(plain_inst):
    inst = plain_inst
    seed_maildir(inst, "alice", MSGS)
    inst.start()
    p = pop3(inst)
    p.user("alice")
    p.pass_("pw-alice")
    p.dele(1)
    p.dele(2)
    p.sock.close()  # dropped, no QUIT
    time.sleep(0.5)
    p = pop3(inst)
    p.user("alice")
    p.pass_("pw-alice")
    assert p.stat()[0] == 3
    p.dele(1)
    p.rset()
    p.quit()
    assert len(mailbox.Maildir(inst.maildir("alice"), create=False)) == 3


def test_uidl_stable_across_sessions_and_delivery(plain_inst):
    inst = plain_inst
    seed_maildir(inst, "alice", MSGS[:2])
    inst.start()
    p = pop3(inst)
    p.user("alice")
    p.pass_("pw-alice")
    first = [l.split()[1] for l in p.uidl()[1]]
    p.quit()
    seed_maildir(inst, "alice", MSGS[2:])
    p = pop3(inst)
    p.user("alice")
    p.pass_("pw-alice")
    second = [l.split()[1] for l in p.uidl()[1]]
    assert second[:2] == first and len(second) == 3
    p.dele(1)
    p.quit()
    p = pop3(inst)
    p.user("alice")
    p.pass_("pw-alice")
    third = [l.split()[1] for l in p.uidl()[1]]
    assert third == second[1:]
    p.quit()


def test_second_session_gets_in_use(plain_inst):
    inst = plain_inst
    seed_maildir(inst, "alice", MSGS[:1])
    inst.start()
    a = pop3(inst)
    a.user("alice")
    a.pass_("pw-alice")
    b = pop3(inst)
    b.user("alice")
    with pytest.raises(poplib.error_proto, match=r"\[IN-USE\]"):
        b.pass_("pw-alice")
    b.quit()
    a.quit()
    c = pop3(inst)
    c.user("alice")
    c.pass_("pw-alice")  # free again
    c.quit()


def test_mbox_user(plain_inst):
    inst = plain_inst
    path = make_mbox_user(inst, "carol")
    seed_mbox(inst, path, MSGS)
    inst.start()
    p = pop3(inst)
    p.user("carol")
    p.pass_("pw-carol")
    assert p.stat()[0] == 3
    got = retr_bytes(p, 2)
    assert b"\r\nFrom the start of a line\r\n" in got  # >From unquoted
    assert got == wire(MSGS[1])
    p.dele(1)
    p.quit()
    mb = mailbox.mbox(path, create=False)
    assert sorted(m["Subject"] for m in mb) == ["three", "two"]


def test_bad_input(plain_inst):
    inst = plain_inst
    seed_maildir(inst, "alice", MSGS[:1])
    inst.start()
    s = socket.create_connection(inst.addr("pop3"), timeout=10)
    f = s.makefile("rb")
    f.readline()

    def cmd(line):
        s.sendall(line + b"\r\n")
        return f.readline()

    assert cmd(b"BOGUS").startswith(b"-ERR Unknown command")
    assert cmd(b"STAT").startswith(b"-ERR Not logged in")
    assert cmd(b"PASS x").startswith(b"-ERR USER first")
    assert cmd(b"USER alice").startswith(b"+OK")
    assert cmd(b"PASS pw-alice").startswith(b"+OK")
    assert cmd(b"RETR 0").startswith(b"-ERR No such message")
    assert cmd(b"RETR 99").startswith(b"-ERR No such message")
    assert cmd(b"RETR abc").startswith(b"-ERR No such message")
    assert cmd(b"TOP 1").startswith(b"-ERR Usage")
    assert cmd(b"USER bob").startswith(b"-ERR Command not valid")
    s.sendall(b"NOOP " + b"x" * 10000 + b"\r\n")
    assert f.readline().startswith(b"-ERR Line too long")
    s.close()
    # too many errors end the session
    s = socket.create_connection(inst.addr("pop3"), timeout=10)
    f = s.makefile("rb")
    f.readline()
    for _ in range(10):
        s.sendall(b"XXXX\r\n")
    lines = [f.readline() for _ in range(11)]
    assert lines[-1].startswith(b"-ERR Too many errors")
    assert f.readline() == b""  # closed
    assert len(mailbox.Maildir(inst.maildir("alice"), create=False)) == 1


def test_curl_pop3(make_instance):
    inst = make_instance()
    seed_maildir(inst, "alice", MSGS[:2])
    inst.start()
    url = f"pop3://{inst.listen}:{inst.port('pop3')}"
    r = run(["curl", "-s", "--ssl-reqd", "-k", "--max-time", "20", "-u", "alice:secret-alice", url + "/"])
    assert [l.split()[0] for l in r.stdout.strip().splitlines()] == ["1", "2"]
    r = subprocess.run(["curl", "-s", "--ssl-reqd", "-k", "--max-time", "20", "-u", "alice:secret-alice", url + "/2"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == wire(MSGS[1])
    r = subprocess.run(["curl", "-s", "-k", "--max-time", "20", "-u", "alice:secret-alice",
                        f"pop3s://{inst.listen}:{inst.port('pop3s')}/1"], capture_output=True, timeout=30)
    assert r.returncode == 0 and r.stdout == wire(MSGS[0])


def test_fetchmail_to_mda(make_instance, tmp_path):
    inst = make_instance()
    seed_maildir(inst, "alice", MSGS)
    inst.start()
    out = tmp_path / "got"
    out.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(f"poll {inst.listen} service {inst.port('pop3s')} protocol pop3 timeout 20\n"
                  f"  user 'alice@example.test' password 'secret-alice' ssl no sslcertck fetchall keep\n"
                  f"  mda \"/bin/sh -c 'cat > {out}/msg.$$'\"\n")
    rc.chmod(0o600)
    env = dict(os.environ, HOME=str(tmp_path), FETCHMAILHOME=str(tmp_path))
    r = subprocess.run(["fetchmail", "-f", str(rc), "--nodetach", "--nosyslog", "-v"], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    got = [open(out / f, "rb").read() for f in sorted(os.listdir(out))]
    assert len(got) == 3
    for m in MSGS:
        body = m if m.endswith(b"\n") else m + b"\n"
        # fetchmail adds its own Received header in front; the rest is identical
        assert any(g.replace(b"\r\n", b"\n").endswith(body) for g in got), m[:40]
