"""imapd acceptance, part 7: mbsync (isync) keeps a local maildir in sync
with the server both ways, on the plain port (plaintext allowed) and over
TLS on port 993 (through an openssl tunnel: mbsync insists on a certificate
naming the host it dialled, 127.0.0.1): the first run copies everything down; then each side gets a
new message, a flag change and a deletion (and the local side a new
folder), and the second run carries every change across; a third run must
change nothing at all: no modifying IMAP command on the wire (mbsync's
protocol trace), the same local files and the same server state
(UIDs, flags, HIGHESTMODSEQ)."""
import mailbox
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import have_program
from imap_helpers import check_ok, imap, maildir_files, parse, seed

pytestmark = [pytest.mark.skipif(not have_program("imapd"), reason="imapd not built"),
              pytest.mark.skipif(not shutil.which("mbsync"), reason="mbsync (isync) not installed")]

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))
ALICE = ("alice", "pw-alice")

MODIFYING = re.compile(r">>> \d+ (UID )?(APPEND|STORE|EXPUNGE|COPY|MOVE|CREATE|DELETE|RENAME)\b", re.I)


def msg(subject, body="hello"):
    return ("From: x@example.org\nTo: alice@example.test\nSubject: %s\nMessage-ID: <%s@example.org>\n\n%s\n" % (
        subject, subject.replace(" ", "."), body)).encode()


CONFIG = """IMAPAccount tern
Host {host}
Port {port}
User alice
Pass pw-alice
SSLType None
{tunnel}AuthMechs LOGIN
PipelineDepth 5

IMAPStore far
Account tern

MaildirStore near
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :far:
Near :near:
Patterns *
Create Both
Remove None
Expunge Both
SyncState *
Sync All
CopyArrivalDate yes
"""


class Sync:
    def __init__(self, inst, workdir, tls=False):
        self.inst = inst
        self.local = os.path.join(workdir, "local")
        os.makedirs(self.local)
        self.cfg = os.path.join(workdir, "mbsyncrc")
        with open(self.cfg, "w") as f:
            tunnel = ('Tunnel "openssl s_client -quiet -verify_quiet -connect %s:%d"\n' % (
                inst.listen, inst.port("imaps"))) if tls else ""
            f.write(CONFIG.format(host=inst.listen, port=inst.port("imap"), tunnel=tunnel, local=self.local))
        self.home = workdir

    def run(self):
        env = dict(os.environ, HOME=self.home)
        r = subprocess.run(["mbsync", "-c", self.cfg, "-V", "-Dn", "-a"], capture_output=True, text=True,
                           timeout=120, env=env, errors="replace")
        assert r.returncode == 0, "mbsync failed (%d):\n%s\n%s" % (r.returncode, r.stdout[-4000:], r.stderr[-4000:])
        return r.stdout + r.stderr

    def box(self, name):
        return mailbox.Maildir(os.path.join(self.local, name), factory=None, create=False)

    def subjects(self, name):
        out = {}
        md = self.box(name)
        for key in md.keys():
            m = md.get_message(key)
            out[m["Subject"]] = m.get_flags()
        return out

    def files(self):
        out = []
        for root, dirs, files in os.walk(self.local):
            for f in files:
                out.append(os.path.relpath(os.path.join(root, f), self.local))
        return sorted(out)


def server_state(inst):
    """{folder: (uidvalidity, highestmodseq, [(uid, flags, subject)])}."""
    m = imap(inst, "ssl", login=ALICE)
    out = {}
    typ, data = m.list('""', "*")
    names = [parse(d)[2].decode() for d in data]
    for name in names:
        typ, data = m.status('"%s"' % name, "(UIDVALIDITY HIGHESTMODSEQ MESSAGES)")
        st = parse(data[0])[1]
        st = {st[i].decode(): int(st[i + 1]) for i in range(0, len(st), 2)}
        m.select('"%s"' % name, readonly=True)
        msgs = []
        if st["MESSAGES"]:
            typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            for d in data:
                if isinstance(d, tuple):
                    uid = int(re.search(rb"UID (\d+)", d[0]).group(1))
                    flags = sorted(re.search(rb"FLAGS \(([^)]*)\)", d[0]).group(1).split())
                    msgs.append((uid, flags, d[1].strip().decode()))
        out[name] = (st["UIDVALIDITY"], st["HIGHESTMODSEQ"], sorted(msgs))
        m.close()
    m.logout()
    return out


def subjects_on_server(state, folder):
    return {s.replace("Subject: ", ""): f for _, f, s in state[folder][2]}


@pytest.fixture
def inst(make_instance):
    i = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})
    seed(i, "alice", [msg("m1"), msg("m2"), msg("m3")], flags=["S", None, None])
    seed(i, "alice", [msg("w1"), msg("w2")], folder="Work")
    i.start()
    return i


def test_mbsync_both_ways_and_idempotent(inst):
    work = tempfile.mkdtemp(prefix="tern-mbsync-", dir="/tmp")
    try:
        s = Sync(inst, work)
        # ---- run 1: everything comes down
        out1 = s.run()
        assert s.subjects("INBOX").keys() == {"m1", "m2", "m3"}, out1[-3000:]
        assert s.subjects("INBOX")["m1"] == "S"
        assert s.subjects("Work").keys() == {"w1", "w2"}
        # ---- changes on the near (local) side
        inbox = s.box("INBOX")
        inbox.add(mailbox.MaildirMessage(msg("local new")))
        for key in list(inbox.keys()):
            m = inbox.get_message(key)
            if m["Subject"] == "m2":
                m.add_flag("F")
                inbox[key] = m
            elif m["Subject"] == "m3":
                inbox.remove(key)
        lo = mailbox.Maildir(os.path.join(s.local, "LocalOnly"), create=True)
        lo.add(mailbox.MaildirMessage(msg("in local folder")))
        # ---- changes on the far (server) side
        m = imap(inst, "starttls", login=ALICE)
        check_ok(m.append("Work", r"(\Seen)", None, msg("server new").replace(b"\n", b"\r\n")))
        m.select("Work")
        typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        seqs = {d[1].strip().decode(): d[0].split()[0].decode() for d in data if isinstance(d, tuple)}
        check_ok(m.store(seqs["Subject: w1"], "+FLAGS", r"(\Answered)"))
        check_ok(m.store(seqs["Subject: w2"], "+FLAGS", r"(\Deleted)"))
        check_ok(m.expunge())
        m.logout()
        # ---- run 2: every change crosses
        out2 = s.run()
        st = server_state(inst)
        inbox_srv = subjects_on_server(st, "INBOX")
        assert inbox_srv.keys() == {"m1", "m2", "local new"}, (inbox_srv, out2[-3000:])
        assert b"\\Flagged" in inbox_srv["m2"] and b"\\Seen" in inbox_srv["m1"], inbox_srv
        assert "LocalOnly" in st and subjects_on_server(st, "LocalOnly").keys() == {"in local folder"}, st.keys()
        work_local = s.subjects("Work")
        assert work_local.keys() == {"w1", "server new"}, work_local
        assert "R" in work_local["w1"] and "S" in work_local["server new"], work_local
        assert s.subjects("INBOX").keys() == {"m1", "m2", "local new"}
        assert "F" in s.subjects("INBOX")["m2"]
        # the server's own maildir agrees
        assert len(maildir_files(inst, "alice")) == 3
        # ---- run 3: nothing to do
        files_before = s.files()
        out3 = s.run()
        modifying = [line for line in out3.splitlines() if MODIFYING.search(line)]
        assert not modifying, "the third run changed something:\n" + "\n".join(modifying)
        assert s.files() == files_before
        assert server_state(inst) == st
        # ---- and once more after a server restart: still nothing
        inst.stop()
        inst.start()
        out4 = s.run()
        modifying = [line for line in out4.splitlines() if MODIFYING.search(line)]
        assert not modifying, "after a restart the sync changed something:\n" + "\n".join(modifying)
        assert s.files() == files_before
        assert server_state(inst) == st
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture
def tls_inst(make_instance):
    i = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "no"})
    seed(i, "alice", [msg("m1"), msg("m2"), msg("m3")], flags=["S", None, None])
    i.start()
    return i


def test_mbsync_flag_round_trip_over_tls(tls_inst):
    """Over port 993: flags set on one side, cleared on the other; a deletion."""
    inst = tls_inst
    work = tempfile.mkdtemp(prefix="tern-mbsync-", dir="/tmp")
    try:
        s = Sync(inst, work, tls=True)
        s.run()
        # server: flag m2 and m3; local: mark m1 deleted (T) and unseen
        m = imap(inst, "ssl", login=ALICE)
        m.select("INBOX")
        typ, data = m.search(None, "OR SUBJECT m2 SUBJECT m3")
        check_ok(m.store(data[0].decode().replace(" ", ","), "+FLAGS", r"(\Flagged $Label1)"))
        m.logout()
        inbox = s.box("INBOX")
        for key in list(inbox.keys()):
            mm = inbox.get_message(key)
            if mm["Subject"] == "m1":
                mm.set_flags("T")
                inbox[key] = mm
        s.run()
        st = server_state(inst)
        srv = subjects_on_server(st, "INBOX")
        assert srv.keys() == {"m2", "m3"}, srv  # T + Expunge Both removed m1 on the server
        loc = s.subjects("INBOX")
        assert loc.keys() == {"m2", "m3"} and all("F" in f for f in loc.values()), loc
        # clear the flag locally, sync, and the server loses it too
        inbox = s.box("INBOX")
        for key in list(inbox.keys()):
            mm = inbox.get_message(key)
            if mm["Subject"] == "m2":
                mm.remove_flag("F")
                inbox[key] = mm
        s.run()
        srv = subjects_on_server(server_state(inst), "INBOX")
        assert b"\\Flagged" not in srv["m2"] and b"\\Flagged" in srv["m3"], srv
        out = s.run()
        assert not [line for line in out.splitlines() if MODIFYING.search(line)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
