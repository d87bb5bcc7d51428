"""imap_helpers.py - shared pieces of the black-box imapd acceptance tests
(tests/integration/test_imap_clients*.py).

What is here was written for the tests only and knows nothing of imapd's
source: seeding maildirs with Python's mailbox module, a raw IMAP client
that shows the wire (for what imaplib hides), a parser for IMAP response
data (lists, quoted strings, literals, NIL), and the expected BODYSTRUCTURE
and ENVELOPE of a message computed independently from Python's email
package. Every socket has a timeout, so no test can hang."""
import email
import email.policy
import email.utils
import imaplib
import mailbox
import os
import pwd
import re
import socket
import ssl
import time

TIMEOUT = 15

# ---------------------------------------------------------------- mail store


def owner_ids():
    """uid/gid the mail store belongs to (mail_owner `tern` when root)."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    pw = pwd.getpwnam("tern")
    return pw.pw_uid, pw.pw_gid


def chown_tree(path):
    uid, gid = owner_ids()
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for f in dirs + files:
            os.lchown(os.path.join(root, f), uid, gid)


def folder_dir(inst, user, folder="INBOX"):
    """maildir++ directory of an IMAP folder name ('/' separated)."""
    base = inst.maildir(user)
    if folder.upper() == "INBOX":
        return base
    levels = [lv.replace(".", "%2E") for lv in folder.split("/")]
    return os.path.join(base, "." + ".".join(levels))


def ensure_maildir(path, folder=False):
    for sub in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, sub), exist_ok=True)
    if folder:
        open(os.path.join(path, "maildirfolder"), "a").close()


def seed(inst, user, msgs, folder="INBOX", flags=None, dates=None):
    """Add messages (bytes, stored exactly as given) to a user's folder with
    Python's mailbox module. flags: per message a maildir flag string ('S',
    'FS', '' ...) for cur/, or None for new/. dates: per message a Unix time
    for the file mtime (the internal date)."""
    path = folder_dir(inst, user, folder)
    ensure_maildir(inst.maildir(user))
    ensure_maildir(path, folder.upper() != "INBOX")
    md = mailbox.Maildir(path, factory=None, create=True)
    keys = []
    for i, m in enumerate(msgs):
        key = md.add(m)  # bytes are written as they are (no parsing)
        p = os.path.join(path, "new", key)
        f = flags[i] if flags else None
        if f is not None:
            q = os.path.join(path, "cur", key + ":2," + "".join(sorted(f)))
            os.rename(p, q)
            p = q
        with open(p, "rb") as fh:
            assert fh.read() == m, "mailbox module changed the message"
        if dates:
            os.utime(p, (dates[i], dates[i]))
        keys.append(key)
        time.sleep(0.002)  # distinct mtimes: delivery order is mtime order
    chown_tree(inst.maildir(user))
    return keys


def maildir_files(inst, user, folder="INBOX"):
    """{base name: info flags} of every message file in a folder."""
    path = folder_dir(inst, user, folder)
    out = {}
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            base, _, info = n.partition(":2,")
            out[base] = info
    return out


def make_big_folder(inst, user, folder, count, body=b"x\n"):
    """Write `count` small messages straight into cur/ (fast)."""
    path = folder_dir(inst, user, folder)
    ensure_maildir(inst.maildir(user))
    ensure_maildir(path, folder.upper() != "INBOX")
    cur = os.path.join(path, "cur")
    t0 = int(time.time()) - count - 10
    for i in range(count):
        msg = b"From: bulk@example.org\nTo: x@example.test\nSubject: bulk %d\nMessage-ID: <bulk%d@example.org>\n\n" % (
            i, i) + body
        wire = len(msg) + msg.count(b"\n")
        name = "%d.M%dP%d.bulkhost,S=%d,W=%d:2,%s" % (t0 + i, i, os.getpid(), len(msg), wire, "S" if i % 3 == 0 else "")
        p = os.path.join(cur, name)
        with open(p, "wb") as f:
            f.write(msg)
        os.utime(p, (t0 + i, t0 + i))
    chown_tree(inst.maildir(user))


# ---------------------------------------------------------------- clients


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def imap(inst, kind="plain", login=None, timeout=TIMEOUT):
    """imaplib connection: kind plain | starttls | ssl; login=(user, pw)."""
    if kind == "ssl":
        m = imaplib.IMAP4_SSL(inst.listen, inst.port("imaps"), ssl_context=tls_context(), timeout=timeout)
    else:
        m = imaplib.IMAP4(inst.listen, inst.port("imap"), timeout=timeout)
        if kind == "starttls":
            m.starttls(ssl_context=tls_context())
    if login:
        m.login(*login)
    return m


def untagged(m, name):
    """Pop imaplib's collected untagged responses of one kind."""
    return m.untagged_responses.pop(name, [])


def check_ok(res):
    typ, data = res
    assert typ == "OK", (typ, data)
    return data


class Lit:
    """A literal in a raw command: synchronising, or LITERAL+ with plus=True."""

    def __init__(self, data, plus=False):
        self.data = data if isinstance(data, bytes) else data.encode()
        self.plus = plus


class RawError(Exception):
    pass


class Raw:
    """A minimal IMAP client that keeps the wire visible: commands are
    written as given, responses are returned as logical lines (literals
    inlined as {n}CRLF + data)."""

    def __init__(self, inst, service="imap", tls=False, timeout=TIMEOUT, sock=None):
        self.timeout = timeout
        if sock is None:
            sock = socket.create_connection(inst.addr(service), timeout=timeout)
            if tls:
                sock = tls_context().wrap_socket(sock)
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.n = 0
        self.greeting = self.read_response()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- reading
    def _fill(self):
        try:
            d = self.sock.recv(65536)
        except (ConnectionResetError, ssl.SSLError) as e:
            raise RawError("connection lost: %s; buffered: %r" % (e, self.buf[:300]))
        if not d:
            raise RawError("connection closed by server; buffered: %r" % self.buf[:300])
        self.buf += d

    def readline(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > 50_000_000:
                raise RawError("line too long")
            self._fill()
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def read_response(self):
        """One logical response without its final CRLF."""
        out = b""
        while True:
            line = self.readline()
            mo = re.search(rb"\{(\d+)\}\r\n$", line)
            if mo and not line.startswith(b"+ "):
                out += line + self.read_exact(int(mo.group(1)))
                continue
            return out + line[:-2]

    def closed_by_peer(self, wait=3.0):
        """True when the server closes the connection within `wait` s."""
        end = time.time() + wait
        try:
            while time.time() < end:
                self.sock.settimeout(max(0.05, end - time.time()))
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (socket.timeout, TimeoutError):
            return False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        finally:
            try:
                self.sock.settimeout(self.timeout)
            except OSError:
                pass
        return False

    # -- writing
    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def tag(self):
        self.n += 1
        return "T%03d" % self.n

    def command(self, *pieces, tag=None):
        """Send one command made of str/bytes pieces and Lit literals; return
        (tagged response line, [untagged and continuation responses])."""
        tag = tag or self.tag()
        untag = []
        cur = tag.encode() + b" "
        for p in pieces:
            if isinstance(p, Lit):
                if p.plus:
                    cur += b"{%d+}\r\n" % len(p.data) + p.data
                else:
                    cur += b"{%d}\r\n" % len(p.data)
                    self.send(cur)
                    cur = b""
                    while True:
                        r = self.read_response()
                        if r.startswith(b"+"):
                            break
                        if r.startswith(tag.encode() + b" "):
                            return r, untag  # literal refused
                        untag.append(r)
                    cur = p.data
            else:
                cur += p if isinstance(p, bytes) else p.encode()
        self.send(cur + b"\r\n")
        return self.wait_tagged(tag, untag)

    def wait_tagged(self, tag, untag=None):
        untag = [] if untag is None else untag
        t = tag.encode() + b" "
        bye = None
        while True:
            try:
                r = self.read_response()
            except (RawError, ConnectionResetError, BrokenPipeError):
                if bye is not None:
                    return bye, untag  # the server said BYE and closed
                raise
            if r.startswith(t):
                return r, untag
            if r.startswith(b"* BYE"):
                bye = r
            untag.append(r)

    def ok(self, *pieces):
        tagged, untag = self.command(*pieces)
        status = tagged.split(b" ", 2)[1]
        if status != b"OK":
            raise AssertionError("expected OK for %r, got %r (untagged %r)" % (pieces, tagged, untag[:5]))
        return tagged, untag

    def login(self, user, pw):
        return self.ok("LOGIN %s %s" % (quote(user), quote(pw)))


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def status_of(tagged):
    return tagged.split(b" ", 2)[1].decode()


# ---------------------------------------------------------------- response data


class ParseError(Exception):
    pass


def parse(data):
    """IMAP response data -> list of items: bytes (atom, number, string,
    literal), None (NIL), list (parenthesised). Atoms such as
    BODY[HEADER.FIELDS (A B)]<0> are kept whole."""
    pos = 0
    n = len(data)

    def parse_list(end):
        nonlocal pos
        out = []
        while True:
            while pos < n and data[pos:pos + 1] == b" ":
                pos += 1
            if pos >= n:
                if end:
                    raise ParseError("unterminated list in %r" % data[:200])
                return out
            c = data[pos:pos + 1]
            if c == b")":
                if not end:
                    raise ParseError("unbalanced ) at %d in %r" % (pos, data[:200]))
                pos += 1
                return out
            if c == b"(":
                pos += 1
                out.append(parse_list(True))
            elif c == b'"':
                pos += 1
                s = b""
                while True:
                    if pos >= n:
                        raise ParseError("unterminated string")
                    ch = data[pos:pos + 1]
                    if ch == b"\\":
                        s += data[pos + 1:pos + 2]
                        pos += 2
                    elif ch == b'"':
                        pos += 1
                        break
                    else:
                        s += ch
                        pos += 1
                out.append(s)
            elif c == b"{":
                mo = re.compile(rb"\{(\d+)\+?\}\r\n").match(data, pos)
                if not mo:
                    raise ParseError("bad literal at %d" % pos)
                k = int(mo.group(1))
                pos = mo.end()
                out.append(data[pos:pos + k])
                pos += k
            else:
                start = pos
                depth = 0
                while pos < n:
                    ch = data[pos:pos + 1]
                    if ch == b"[":
                        depth += 1
                    elif ch == b"]":
                        depth -= 1
                    elif depth == 0 and ch in (b" ", b"(", b")"):
                        break
                    pos += 1
                tok = data[start:pos]
                out.append(None if tok.upper() == b"NIL" else tok)

    return parse_list(False)


def fetch_items(resp):
    """'* 3 FETCH (...)' -> (3, {ITEM: value}) with item names upper-cased."""
    p = parse(resp)
    assert p[0] == b"*" and p[2].upper() == b"FETCH", resp[:200]
    lst = p[3]
    d = {}
    for i in range(0, len(lst), 2):
        d[lst[i].decode().upper()] = lst[i + 1]
    return int(p[1]), d


def fetches(untag):
    """{seq: items} of every FETCH response in a list of untagged lines."""
    out = {}
    for r in untag:
        if re.match(rb"\* \d+ FETCH ", r, re.I):
            seq, d = fetch_items(r)
            out.setdefault(seq, {}).update(d)
    return out


def codes(line):
    """Response code name -> rest, from a line like '* OK [UIDNEXT 4] ...'."""
    mo = re.search(rb"\[([A-Z0-9-]+)(?: ([^\]]*))?\]", line, re.I)
    return (mo.group(1).decode().upper(), mo.group(2)) if mo else (None, None)


def find_untagged(untag, word):
    """Untagged lines whose first word after '*' (or after the number) is word."""
    w = word.upper().encode()
    out = []
    for r in untag:
        f = r.split(b" ")
        if len(f) >= 2 and f[0] == b"*" and (f[1].upper() == w or (len(f) >= 3 and f[1].isdigit() and f[2].upper() == w)):
            out.append(r)
    return out


def select_info(untag, tagged=b""):
    """Parse SELECT/EXAMINE responses into a dict."""
    info = {}
    for r in untag + [tagged]:
        mo = re.match(rb"\* (\d+) (EXISTS|RECENT)$", r, re.I)
        if mo:
            info[mo.group(2).decode().upper()] = int(mo.group(1))
            continue
        mo = re.match(rb"\* FLAGS (\(.*\))$", r, re.I)
        if mo:
            info["FLAGS"] = parse(mo.group(1))[0]
            continue
        c, rest = codes(r)
        if c:
            if c == "PERMANENTFLAGS":
                info[c] = parse(rest)[0]
            elif c in ("UIDVALIDITY", "UIDNEXT", "UNSEEN", "HIGHESTMODSEQ"):
                info[c] = int(rest)
            else:
                info[c] = rest
    return info


def seqset(nums):
    return ",".join(str(x) for x in nums)


# ---------------------------------------------------------------- expected MIME structure
# Computed from Python's email package and the raw bytes only.


def crlf(b):
    return re.sub(rb"(?<!\r)\n", b"\r\n", b)


def _q(s):
    return None if s is None else (s.encode() if isinstance(s, str) else s)


def expected_envelope(msg):
    """ENVELOPE per RFC 3501 7.4.2, as parse() would return it (bytes/None)."""

    def addrs(name, default=None):
        vals = msg.get_all(name)
        if not vals:
            return default
        out = []
        for disp, addr in email.utils.getaddresses(vals):
            local, _, host = addr.partition("@")
            out.append([_q(disp) if disp else None, None, _q(local), _q(host) if host else None])
        return out

    frm = addrs("From")
    return [
        _q(msg["Date"]), _q(msg["Subject"]), frm, addrs("Sender", frm), addrs("Reply-To", frm),
        addrs("To"), addrs("Cc"), addrs("Bcc"), _q(msg["In-Reply-To"]), _q(msg["Message-ID"]),
    ]


def _params(part, header="content-type"):
    ps = part.get_params(header=header) or []
    out = []
    for k, v in ps[1:]:
        out += [k.encode(), (v if isinstance(v, str) else email.utils.collapse_rfc2231_value(v)).encode()]
    return out or None


def _raw_body(part):
    """The raw body bytes of a leaf part (LF line ends, as parsed)."""
    p = part.get_payload(decode=False)
    if isinstance(p, list):
        raise ValueError("not a leaf")
    return p.encode("ascii", "surrogateescape")


def _lines(b):
    return b.count(b"\n") + (0 if not b or b.endswith(b"\n") else 1)


def expected_bodystructure(part):
    """BODYSTRUCTURE (without extension data) of a parsed email message."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        return [expected_bodystructure(p) for p in part.get_payload()] + [part.get_content_subtype().encode()]
    maintype, subtype = part.get_content_maintype(), part.get_content_subtype()
    enc = (part.get("Content-Transfer-Encoding") or "7BIT").strip()
    basic = [maintype.encode(), subtype.encode(), _params(part), _q(part.get("Content-ID")),
             _q(part.get("Content-Description")), enc.encode()]
    if maintype == "message" and subtype == "rfc822":
        inner = part.get_payload()[0]
        raw = inner.as_bytes(policy=email.policy.compat32.clone(linesep="\n"))
        return basic + [str(len(crlf(raw))).encode(), expected_envelope(inner), expected_bodystructure(inner),
                        str(_lines(raw)).encode()]
    body = _raw_body(part)
    out = basic + [str(len(crlf(body))).encode()]
    if maintype == "text":
        out.append(str(_lines(body)).encode())
    return out


def normalize_bs(bs, ext=False):
    """Server BODYSTRUCTURE -> comparable form: types and parameter names
    upper-cased, extension data dropped unless ext."""
    if isinstance(bs[0], list):
        parts = []
        i = 0
        while isinstance(bs[i], list):
            parts.append(normalize_bs(bs[i], ext))
            i += 1
        out = parts + [bs[i].upper()]
        if ext:
            out.append(bs[i + 1:])
        return out
    t, s = bs[0].upper(), bs[1].upper()
    params = bs[2]
    if params is not None:
        params = [params[i].upper() if i % 2 == 0 else params[i] for i in range(len(params))]
        # charset values are case-insensitive
        params = [p.lower() if i % 2 == 1 and params[i - 1] == b"CHARSET" else p for i, p in enumerate(params)]
    out = [t, s, params, bs[3], bs[4], bs[5].upper(), bs[6]]
    rest = 7
    if t == b"MESSAGE" and s == b"RFC822":
        out += [bs[7], normalize_bs(bs[8], False), bs[9]]
        rest = 10
    elif t == b"TEXT":
        out.append(bs[7])
        rest = 8
    if ext:
        out.append(bs[rest:])
    return out


def normalize_expected(bs):
    return normalize_bs(bs)
