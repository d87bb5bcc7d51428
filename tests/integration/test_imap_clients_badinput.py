"""imapd acceptance, part 5: bad input on the wire. Malformed commands get
a tagged BAD with a reason, commands in the wrong state NO, a literal too
large is refused before its data is sent, an overlong line and too many
errors end the session with BYE, and nothing of this disturbs another
session or the daemon (checked with a fresh login at the end of each test)."""
import socket
import time

import pytest

from conftest import have_program
from imap_helpers import Lit, Raw, RawError, fetches, imap, seed, status_of

pytestmark = pytest.mark.skipif(not have_program("imapd"), reason="imapd not built")

USERS = (("alice", "pw-alice"), ("bob", "pw-bob"))
ALICE = ("alice", "pw-alice")


@pytest.fixture
def inst(make_instance):
    i = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes"})
    seed(i, "alice", [b"From: a@example.org\nSubject: one\n\nbody\n", b"Subject: two\n\nbody\n"])
    i.start()
    return i


def still_serving(inst):
    m = imap(inst, login=ALICE)
    assert m.select("INBOX")[0] == "OK"
    m.logout()


MALFORMED_AUTH = [
    "FOO",                        # unknown command
    "SELECT",                     # missing argument
    "SELECT INBOX extra junk",    # trailing arguments
    'LIST ""',                    # missing pattern
    'LOGIN alice',                # missing password (in authenticated state: BAD or NO)
    "CREATE \"unterminated",      # unterminated quoted string
    'STATUS INBOX MESSAGES',      # list expected
    'STATUS INBOX (MESSAGES',     # unbalanced
    'STATUS INBOX (NOSUCHITEM)',  # unknown item
    "APPEND INBOX (\\Seen",       # unbalanced flag list
    'APPEND INBOX "bad date" {1+}\r\nx',  # bad date-time
    "UID FOO 1",                  # unknown UID command
    "SEARCH ALL",                 # (not selected: wrong state, NO or BAD)
]

MALFORMED_SELECTED = [
    "FETCH",
    "FETCH 1",
    "FETCH x FLAGS",
    "FETCH 1 (FLAGS",
    "FETCH 1 NOSUCHITEM",
    "FETCH 1 BODY[NOSUCH]",
    "FETCH 1 BODY[1.MIME.TEXT]",
    "FETCH 1 BODY[]<x>",
    "FETCH 1:2:3 FLAGS",
    "FETCH 1, FLAGS",
    "FETCH -1 FLAGS",
    "FETCH 4294967296 FLAGS",
    "STORE 1 FLAGS",
    "STORE 1 BOGUS (\\Seen)",
    "STORE 1 +FLAGS (\\Seen",
    "SEARCH",
    "SEARCH (ALL",
    "SEARCH OR ALL",
    "SEARCH LARGER x",
    "SEARCH SINCE 1-1-2026",
    "SEARCH UID",
    "COPY 1",
    "UID FETCH",
    "UID STORE 1",
    "EXPUNGE now",
    "CLOSE please",
    "NOOP extra",
]


def answers(inst, cmds, login=True, select=False, per=4):
    """{command: tagged reply}, a fresh session every `per` commands so that
    the error limit is never reached here (that is tested separately)."""
    out = {}
    r = None
    for i, cmd in enumerate(cmds):
        if i % per == 0:
            if r:
                r.close()
            r = Raw(inst)
            if login:
                r.login(*ALICE)
            if select:
                r.ok("SELECT INBOX")
        tagged, _ = r.command(cmd)
        out[cmd] = tagged
    # the session still works after its errors
    r.ok("NOOP")
    r.close()
    return out


def has_reason(tagged):
    f = tagged.split(b" ", 2)
    return len(f) == 3 and f[2].strip() != b""


def test_malformed_commands_get_tagged_bad_with_a_reason(inst):
    wrong = []
    for cmd, tagged in answers(inst, MALFORMED_AUTH).items():
        allowed = ("BAD", "NO") if cmd.startswith(("LOGIN", "SEARCH", "APPEND INBOX \"bad")) else ("BAD",)
        if status_of(tagged) not in allowed or not has_reason(tagged):
            wrong.append("%s -> %r" % (cmd, tagged))
    for cmd, tagged in answers(inst, MALFORMED_SELECTED, select=True).items():
        if status_of(tagged) != "BAD" or not has_reason(tagged):
            wrong.append("%s -> %r" % (cmd, tagged))
    assert not wrong, "\n".join(wrong)
    # nothing was changed by any of it
    m = imap(inst, login=ALICE)
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(FLAGS)")
    assert len(data) == 2 and all(b"\\Seen" not in d and b"\\Deleted" not in d for d in data), data
    m.logout()
    still_serving(inst)


def test_bad_tags_and_empty_lines(inst):
    r = Raw(inst)
    r.send(b"\r\n")  # empty line: untagged BAD (or ignored)
    r.send(b"a{b NOOP\r\n")  # '{' is not allowed in a tag
    r.send(b"ok1 NOOP\r\n")
    lines = []
    while True:
        line = r.read_response()
        lines.append(line)
        if line.startswith(b"ok1 "):
            break
    assert lines[-1].startswith(b"ok1 OK"), lines
    assert any(x.startswith(b"* BAD") or x.startswith(b"a{b BAD") for x in lines), lines
    # NUL in a command: BAD, or the end of the session
    tagged, _ = r.command("NO\x00OP")
    assert status_of(tagged) in ("BAD", "BYE"), tagged
    if status_of(tagged) == "BYE":
        r.close()
        r = Raw(inst)
    # a bare LF is a line end (lf1 and ok2 answered) or part of one bad line
    # (lf1 BAD, nothing for ok2); never anything else
    r.send(b"lf1 NOOP\n")
    r.send(b"ok2 NOOP\r\n")
    out = []
    r.sock.settimeout(3)
    try:
        while True:
            line = r.read_response()
            out.append(line)
            if line.startswith(b"ok2 ") or line.startswith(b"lf1 BAD"):
                break
    except (socket.timeout, TimeoutError):
        pass
    r.sock.settimeout(r.timeout)
    assert out and (out[-1].startswith(b"ok2 OK") or out[-1].startswith(b"lf1 BAD")), out
    r.close()
    still_serving(inst)


def test_wrong_state_gets_no(inst):
    wrong = []
    pre = ["SELECT INBOX", "EXAMINE INBOX", 'LIST "" "*"', "STATUS INBOX (MESSAGES)", "CREATE x",
           "APPEND INBOX {1+}\r\nx", "FETCH 1 FLAGS", "NAMESPACE", "IDLE"]
    for cmd, tagged in answers(inst, pre, login=False).items():
        if status_of(tagged) != "NO":
            wrong.append("not authenticated (NO expected): %s -> %r" % (cmd, tagged))
    unselected = ["FETCH 1 FLAGS", "STORE 1 +FLAGS (\\Seen)", "SEARCH ALL", "COPY 1 INBOX", "EXPUNGE", "CLOSE",
                  "UID FETCH 1 FLAGS", "CHECK", "UNSELECT", "MOVE 1 INBOX"]
    for cmd, tagged in answers(inst, unselected).items():
        if status_of(tagged) != "NO":
            wrong.append("not selected (NO expected): %s -> %r" % (cmd, tagged))
    for cmd, tagged in answers(inst, ["LOGIN alice pw-alice", "STARTTLS", "AUTHENTICATE PLAIN"]).items():
        if status_of(tagged) not in ("NO", "BAD"):
            wrong.append("after login: %s -> %r" % (cmd, tagged))
    assert not wrong, "\n".join(wrong)
    still_serving(inst)


def test_oversized_literal_refused_before_data(inst):
    r = Raw(inst)
    r.login(*ALICE)
    # synchronising: the server answers at once instead of "+"
    r.send(b"big1 APPEND INBOX {99999999999}\r\n")
    line = r.read_response()
    assert line.startswith(b"big1 NO") or line.startswith(b"big1 BAD") or line.startswith(b"* BYE"), line
    assert not line.startswith(b"+"), line
    if line.startswith(b"big1"):
        # the session goes on: the literal was not read as data
        r.ok("NOOP")
    r.close()
    # one byte over a plausible limit, and absurd sizes in other commands
    r = Raw(inst)
    tagged, _ = r.command("LOGIN {99999999999}\r\n")
    assert status_of(tagged) in ("NO", "BAD") or tagged.startswith(b"* BYE"), tagged
    r.close()
    # non-synchronising literal too large: the server cannot refuse before the
    # data, so it must end the session (RFC 7888 4) or refuse and skip it
    r = Raw(inst)
    r.login(*ALICE)
    r.send(b"big2 APPEND INBOX {99999999999+}\r\n")
    try:
        line = r.read_response()
    except RawError:
        line = b""
    assert line.startswith(b"* BYE") or line.startswith(b"big2 NO") or line.startswith(b"big2 BAD"), line
    r.close()
    still_serving(inst)


def test_overlong_line_ends_session_with_bye(inst):
    r = Raw(inst)
    r.login(*ALICE)
    chunk = b"x" * 65536
    sent = 0
    try:
        r.send(b"long1 NOOP ")
        for _ in range(64):  # up to 4 MiB without a line end
            r.sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, socket.timeout, TimeoutError):
        pass
    got = r.buf
    try:
        r.sock.settimeout(5)
        while True:
            d = r.sock.recv(65536)
            if not d:
                break
            got += d
    except (ConnectionResetError, socket.timeout, TimeoutError):
        pass
    print("server stopped reading after %d bytes" % sent)
    assert b"* BYE" in got, got[:300]
    assert sent < 4 * 1024 * 1024 or b"* BYE" in got
    r.close()
    still_serving(inst)


def test_too_many_errors_end_session(inst):
    r = Raw(inst)
    r.login(*ALICE)
    got_bye = False
    for i in range(100):
        try:
            tagged, untag = r.command("BOGUS%d" % i)
        except (RawError, BrokenPipeError, ConnectionResetError):
            got_bye = True
            break
        if any(u.startswith(b"* BYE") for u in untag) or tagged.startswith(b"* BYE"):
            got_bye = True
            break
        assert status_of(tagged) == "BAD", tagged
    assert got_bye, "no BYE after 100 bad commands"
    assert r.closed_by_peer(5)
    r.close()
    # before login too
    r = Raw(inst)
    closed = False
    for i in range(100):
        try:
            tagged, untag = r.command("BOGUS%d" % i)
        except (RawError, BrokenPipeError, ConnectionResetError):
            closed = True
            break
        if any(u.startswith(b"* BYE") for u in untag) or tagged.startswith(b"* BYE"):
            closed = True
            break
    assert closed, "100 bad commands before login were allowed"
    r.close()
    still_serving(inst)


def test_garbage_flood_does_not_hurt_other_sessions(inst):
    good = Raw(inst)
    good.login(*ALICE)
    good.ok("SELECT INBOX")
    bad = []
    for _ in range(5):
        s = socket.create_connection(inst.addr("imap"), timeout=5)
        bad.append(s)
        try:
            s.sendall(bytes(range(256)) * 64 + b"\r\n" + b"\xff\xfe\x00" * 1000 + b"\r\n")
        except OSError:
            pass
    t0 = time.time()
    good.ok("FETCH 1:* (FLAGS BODY.PEEK[])")
    assert time.time() - t0 < 1.0
    for s in bad:
        s.close()
    good.close()
    still_serving(inst)


def test_limits_are_parameters(make_instance):
    """imapd_literal_size_limit, imapd_line_length_limit and imapd_error_limit
    take effect at exactly their values."""
    inst = make_instance(users=USERS, main_cf={"imapd_allow_plaintext_auth": "yes",
                                               "imapd_literal_size_limit": "10240",
                                               "imapd_line_length_limit": "2048",
                                               "imapd_error_limit": "3"})
    inst.start()
    r = Raw(inst)
    r.login(*ALICE)
    head = b"Subject: limit\r\n\r\n"
    at_limit = head + b"x" * (10240 - len(head))
    tagged, _ = r.command("APPEND INBOX ", Lit(at_limit))
    assert status_of(tagged) == "OK", tagged
    r.send(b"over APPEND INBOX {10241}\r\n")
    line = r.read_response()
    assert line.startswith(b"over NO") or line.startswith(b"over BAD"), line
    r.ok("NOOP")
    # a command line just under the line limit works, one over it ends the session
    r.ok("SELECT INBOX")
    long_set = ",".join(["1"] * 600)  # 1199 bytes of sequence set
    tagged, untag = r.ok("FETCH %s (FLAGS)" % long_set)
    r.send(b"toolong FETCH " + b"1," * 1100 + b"1 (FLAGS)\r\n")
    line = r.read_response()
    assert line.startswith(b"* BYE"), line
    assert r.closed_by_peer(5)
    r.close()
    # the third error ends the session
    r = Raw(inst)
    r.login(*ALICE)
    for i in range(2):
        tagged, _ = r.command("BOGUS")
        assert status_of(tagged) == "BAD", tagged
    tagged, untag = r.command("BOGUS")
    # the third error: its BAD, then BYE and the end of the connection
    if not (any(u.startswith(b"* BYE") for u in untag) or tagged.startswith(b"* BYE")):
        assert status_of(tagged) == "BAD", tagged
        assert r.read_response().startswith(b"* BYE")
    assert r.closed_by_peer(5)
    r.close()
    m = imap(inst, login=ALICE)
    m.select("INBOX")
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert data[0][1] == at_limit
    m.logout()


def test_large_append_default_limit(inst):
    """A 20 MB attachment-sized message (under the 50m default) goes in and
    comes back byte for byte, while another session keeps being served."""
    body = b"".join(b"%07d abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\r\n" % i
                    for i in range(20 * 1024 * 1024 // 72))
    msg = b"From: big@example.org\r\nSubject: big\r\n\r\n" + body
    r = Raw(inst, timeout=120)
    r.login(*ALICE)
    other = Raw(inst)
    other.login(*ALICE)
    other.ok("SELECT INBOX")
    t0 = time.time()
    tagged, _ = r.command("APPEND INBOX ", Lit(msg))
    print("20 MB APPEND took %.2f s" % (time.time() - t0))
    assert status_of(tagged) == "OK", tagged
    t0 = time.time()
    tagged, untag = other.ok("NOOP")
    assert any(u == b"* 3 EXISTS" for u in untag), untag
    tagged, untag = r.ok("SELECT INBOX")
    tagged, untag = r.ok("FETCH 3 (RFC822.SIZE BODY.PEEK[])")
    f = fetches(untag)[3]
    assert int(f["RFC822.SIZE"]) == len(msg)
    assert f["BODY[]"] == msg
    print("20 MB FETCH round trip %.2f s" % (time.time() - t0))
    r.close()
    other.close()
