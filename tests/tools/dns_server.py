#!/usr/bin/python3
"""dns_server.py - run dnstest.DnsServer as a command, for the C++ unit tests
and for shell use.

    /usr/bin/python3 tests/tools/dns_server.py --zone FILE [--port 0] [--host 127.0.0.1]

Prints "PORT <n>" as its first line once it listens on UDP and TCP port n,
then serves until SIGTERM, or until its standard input closes (so a test that
dies takes its server with it; --no-stdin serves until SIGTERM only).

While it runs, standard input takes one command per line, each answered by
"OK" or "ERR <reason>" on standard output:
    add <master-file line>        remove <name> [type]        clear
    timeout <name> [type]         servfail <name> [type]      normal <name> [type]
    queries                       (prints "QUERIES <n>": queries received so far)

SECURITY: test tool only; binds loopback unless told otherwise.
"""
import argparse
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dnstest import DnsServer  # noqa: E402


def split_name_type(arg):
    parts = arg.split("/")
    return parts[0], (parts[1] if len(parts) > 1 else None)


def command(server, line):
    words = line.split(None, 1)
    if not words:
        return None
    verb, rest = words[0].lower(), (words[1] if len(words) > 1 else "")
    args = rest.split()
    if verb == "add":
        server.add(rest)
    elif verb == "remove" and args:
        server.remove(args[0], args[1] if len(args) > 1 else None)
    elif verb == "clear":
        server.clear()
    elif verb in ("timeout", "servfail", "normal") and args:
        rtype = args[1] if len(args) > 1 else None
        if verb == "timeout":
            server.set_timeout(args[0], rtype)
        elif verb == "servfail":
            server.set_servfail(args[0], rtype)
        else:
            server.clear_behaviour(args[0], rtype)
    elif verb == "queries":
        return "QUERIES %d" % len(server.queries)
    else:
        raise ValueError("unknown command or missing argument: %s" % verb)
    return "OK"


def main():
    ap = argparse.ArgumentParser(description="authoritative test DNS server")
    ap.add_argument("--zone", action="append", default=[], help="master file (repeatable)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--origin", default=None, help="$ORIGIN for relative names")
    ap.add_argument("--ttl", type=int, default=0, help="TTL for records without one")
    ap.add_argument("--timeout", action="append", default=[], metavar="NAME[/TYPE]",
                    help="never answer this name")
    ap.add_argument("--servfail", action="append", default=[], metavar="NAME[/TYPE]",
                    help="answer SERVFAIL for this name")
    ap.add_argument("--no-stdin", action="store_true", help="ignore standard input")
    a = ap.parse_args()

    server = DnsServer(host=a.host, port=a.port, origin=a.origin, default_ttl=a.ttl)
    for path in a.zone:
        with open(path, encoding="utf-8") as f:
            server.add(f.read())
    for arg in a.timeout:
        server.set_timeout(*split_name_type(arg))
    for arg in a.servfail:
        server.set_servfail(*split_name_type(arg))

    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    server.start()
    print("PORT %d" % server.port, flush=True)

    def read_stdin():
        for line in sys.stdin:
            try:
                out = command(server, line.strip())
            except Exception as e:  # report, keep serving
                out = "ERR %s" % str(e).replace("\n", " ")
            if out:
                print(out, flush=True)
        done.set()

    if not a.no_stdin:
        threading.Thread(target=read_stdin, daemon=True).start()
    while not done.wait(0.5):
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
