"""mailstore.py - fills maildirs with identical generated messages for the
IMAP and POP3 metrics, so tern and Dovecot serve the same bytes. Files are
named as a delivery agent would (`TIME.MuPpidQn.host,S=size,W=wire`): both
servers take sizes from S=/W= and never need to read a file to list it."""
import os
import time

from smtpclient import make_message


def fill_maildir(path, count, size, owner, sender="a@x.test", rcpt="user@bench.test"):
    for d in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(path, d), exist_ok=True)
    now = int(time.time()) - count
    for i in range(count):
        msg = make_message(size, i, sender, rcpt).replace(b"\r\n", b"\n")
        wire = len(msg) + msg.count(b"\n")
        name = f"{now + i}.M{i}P1Q{i}.bench,S={len(msg)},W={wire}"
        p = os.path.join(path, "new", name)
        with open(p, "wb") as f:
            f.write(msg)
        os.utime(p, (now + i, now + i))
        os.chown(p, owner.pw_uid, owner.pw_gid)
    for root, dirs, _ in os.walk(path):
        os.chown(root, owner.pw_uid, owner.pw_gid)
        for d in dirs:
            os.chown(os.path.join(root, d), owner.pw_uid, owner.pw_gid)
    # parents the server creates itself must also belong to the mail user
    return path
