"""ternattr.py - a minimal client for tern's attribute-list protocol (the
Postfix policy delegation wire form), for tests: name=value lines, an empty
line ends a list. Values are escaped like tern's internal mode when
escape=True."""
import socket


def encode(attrs, escape=True):
    out = []
    for k, v in attrs:
        v = str(v)
        if escape:
            v = v.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\0", "\\0")
        out.append(f"{k}={v}\n")
    return ("".join(out) + "\n").encode()


def decode(data, escape=True):
    attrs = []
    for line in data.decode(errors="replace").split("\n"):
        if not line:
            break
        k, _, v = line.partition("=")
        if escape:
            r, i = [], 0
            while i < len(v):
                c = v[i]
                if c == "\\" and i + 1 < len(v):
                    n = v[i + 1]
                    r.append({"\\": "\\", "n": "\n", "r": "\r", "0": "\0"}.get(n, n))
                    i += 2
                else:
                    r.append(c)
                    i += 1
            v = "".join(r)
        attrs.append((k, v))
    return attrs


def call(path_or_addr, attrs, timeout=10, escape=True):
    """Send one list, return the reply as a dict (last value wins)."""
    if isinstance(path_or_addr, str):
        s = socket.socket(socket.AF_UNIX)
    else:
        s = socket.socket(socket.AF_INET)
    s.settimeout(timeout)
    s.connect(path_or_addr)
    try:
        s.sendall(encode(attrs, escape))
        data = b""
        while b"\n\n" not in data and not data.startswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return dict(decode(data, escape))
    finally:
        s.close()
