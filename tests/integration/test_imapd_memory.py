"""test_imapd_memory.py - what an idle IMAP session (LOGIN, SELECT INBOX)
costs in imapd's RSS, and how that grows with the size of the selected
folder: TERN_IMAP_MEM_SESSIONS (default 200) sessions on an empty INBOX,
then as many on an INBOX of TERN_IMAP_MEM_MESSAGES (default 1000)
messages, in one imapd process. Each session holds its own folder index
(docs/imapd.md, "Memory per session": 112 bytes per message plus the
maildir file name, about 180 bytes in all, besides ~5 KiB of session
state); the limits below have about 1.4x margin, so a second per-session
copy of the index, or buffers kept while idle, fail the test. Bounded:
about 10 s; every socket has a timeout."""
import os

import pytest

from conftest import have_program
from imap_helpers import make_big_folder
from imapd_support import Raw, status_word

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

SESSIONS = int(os.environ.get("TERN_IMAP_MEM_SESSIONS", "200"))
MESSAGES = int(os.environ.get("TERN_IMAP_MEM_MESSAGES", "1000"))
BASE_LIMIT_KIB = 16       # measured 4.7 KiB per session on an empty folder
PER_MESSAGE_LIMIT = 260   # bytes per message per session; measured 178


def rss_kib(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_sessions(inst, user, password, n):
    out = []
    for _ in range(n):
        r = Raw(inst)
        t, _ = r.cmd("LOGIN %s %s" % (user, password))
        assert status_word(t) == b"OK", t
        t, _ = r.cmd("SELECT INBOX")
        assert status_word(t) == b"OK", t
        out.append(r)
    return out


def test_idle_session_memory_grows_only_with_its_folder(make_instance):
    inst = make_instance(users=(("alice", "pw-alice"), ("bob", "pw-bob")),
                         main_cf={"imapd_allow_plaintext_auth": "yes", "imapd_user_session_limit": "0"})
    make_big_folder(inst, "alice", "INBOX", MESSAGES, body=b"x" * 2000 + b"\n")
    make_big_folder(inst, "bob", "INBOX", 0)
    inst.start()
    pids = inst.services().get("%d" % inst.port("imap"), [])
    assert pids, inst.services()
    pid = pids[0]
    # warm up: the allocator's first arenas and the index files are not per session
    warm = open_sessions(inst, "alice", "pw-alice", 3) + open_sessions(inst, "bob", "pw-bob", 3)
    r0 = rss_kib(pid)
    empty = open_sessions(inst, "bob", "pw-bob", SESSIONS)
    r1 = rss_kib(pid)
    full = open_sessions(inst, "alice", "pw-alice", SESSIONS)
    r2 = rss_kib(pid)
    base = (r1 - r0) / SESSIONS
    per_msg = ((r2 - r1) / SESSIONS - base) * 1024 / MESSAGES
    print("\nimapd RSS %d -> %d -> %d KiB: %.1f KiB per session on an empty INBOX, %.1f KiB on %d messages "
          "(%.0f bytes per message)" % (r0, r1, r2, base, (r2 - r1) / SESSIONS, MESSAGES, per_msg))
    assert base < BASE_LIMIT_KIB
    assert per_msg < PER_MESSAGE_LIMIT
    for r in warm + empty + full:
        r.close()
