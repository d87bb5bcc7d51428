"""test_tern_spam.py - `tern-spam learn` and `tern-spam classify` run as an
administrator would: training on a small subset of the corpus (files that
start with an mbox From_ line or with headers, 8-bit bytes), an mbox with
several messages, a maildir, per-user databases, reclassification, the
progress bar on a terminal, and a corrupt database that fails once and is
recreated. TERN_BUILD names the build tree (set by `make check`)."""
import os
import pty
import re
import select
import subprocess
import time

import pytest

BUILD = os.environ.get("TERN_BUILD") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SRC = os.environ.get("TERN_SRC") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TERN_SPAM = os.path.join(BUILD, "cli", "tern-spam")

pytestmark = pytest.mark.skipif(not os.access(TERN_SPAM, os.X_OK), reason="tern-spam not built in " + BUILD)

LINE = re.compile(r"^(\d\.\d{4}) (spam|ham|unsure) (.+)$")


def corpus_dir():
    """../shared/corpus from the source tree, or from the main checkout of a worktree."""
    cands = [os.path.join(SRC, "..", "shared", "corpus")]
    try:
        common = subprocess.run(["git", "-C", SRC, "rev-parse", "--git-common-dir"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
        if common:
            main = os.path.dirname(os.path.abspath(os.path.join(SRC, common)))
            cands.append(os.path.join(main, "..", "shared", "corpus"))
    except (OSError, subprocess.SubprocessError):
        pass
    for c in cands:
        if os.path.isdir(os.path.join(c, "train", "spam")):
            return os.path.abspath(c)
    return None


def run(conf, *args, stdin=None):
    return subprocess.run([TERN_SPAM, "-c", str(conf)] + [str(a) for a in args], input=stdin,
                          capture_output=True, timeout=120)


def classify(conf, *files, user=None):
    args = ["classify"] + (["--user", user] if user else []) + list(files)
    r = run(conf, *args)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    out = []
    for line in r.stdout.decode().splitlines():
        m = LINE.match(line)
        assert m, line
        out.append((float(m.group(1)), m.group(2), m.group(3)))
    return out


SPAMMY = b"""From: "Amazing Offers" <offers@best-deals-4u.example>
To: undisclosed-recipients:;
Subject: FREE money!!! Earn $5000 a week from home - guaranteed
MIME-Version: 1.0
Content-Type: text/html; charset="iso-8859-1"

<html><body><p>Dear Friend,</p>
<p>This is a ONE TIME mailing. You have been selected to receive our special offer!
Earn extra income working from home, no experience needed. 100% GUARANTEED.
Order now and receive a FREE bonus. Click <a href="http://best-deals-4u.example/order">here</a>
to claim your cash. Limited time offer, act now! Credit card orders accepted.</p>
<p>To be removed from our mailing list, reply with REMOVE in the subject.</p>
</body></html>
"""

HAMMY = b"""From: Developer <dev@lists.example.org>
To: project-list@lists.example.org
Subject: Re: patch for the build failure on x86_64
Message-ID: <reply-42@lists.example.org>

> I applied the patch but the linker still complains about a missing symbol.

That symbol moved to the shared library in the last release; rebuild with
the new configure flags and run the test suite again. If the regression
persists, please file a bug with the compiler version and the full log.
I think the Makefile change from yesterday is wrong, I'll look at it tonight.
"""


@pytest.fixture
def conf(tmp_path):
    (tmp_path / "main.cf").write_text(f"data_directory = {tmp_path}/data\n")
    return tmp_path


@pytest.fixture(scope="module")
def corpus():
    c = corpus_dir()
    if not c:
        pytest.skip("no corpus under ../shared/corpus")
    spam = sorted(os.path.join(c, "train", "spam", f) for f in os.listdir(os.path.join(c, "train", "spam")))
    ham = sorted(os.path.join(c, "train", "ham", f) for f in os.listdir(os.path.join(c, "train", "ham")))
    return {"spam": spam, "ham": ham}


def test_learn_then_classify_corpus_subset(conf, corpus):
    spam, ham = corpus["spam"][::8], corpus["ham"][::8]  # ~140 spam, ~310 ham, spread over the sets
    # the subset holds all three input shapes the corpus has
    heads = [open(p, "rb").read(5) for p in spam + ham]
    assert any(h == b"From " for h in heads) and any(h != b"From " for h in heads)
    assert any(any(b > 127 for b in open(p, "rb").read()) for p in spam + ham)

    r = run(conf, "learn", "--spam", *spam)
    assert r.returncode == 0, r.stderr
    assert f"{len(spam)} spam messages: {len(spam)} learned".encode() in r.stdout
    assert b"\r" not in r.stdout  # no progress bar without a terminal
    r = run(conf, "learn", "--ham", *ham)
    assert r.returncode == 0, r.stderr
    assert (conf / "data" / "bayes" / "global.db").exists()

    (conf / "spammy.eml").write_bytes(SPAMMY)
    (conf / "hammy.eml").write_bytes(HAMMY)
    res = {os.path.basename(n): (s, v) for s, v, n in classify(conf, conf / "spammy.eml", conf / "hammy.eml")}
    assert res["spammy.eml"][0] >= 0.95 and res["spammy.eml"][1] == "spam", res
    assert res["hammy.eml"][0] < 0.2 and res["hammy.eml"][1] == "ham", res

    # messages of the corpus it was not trained on: one line each, in order
    unseen = corpus["spam"][3::40] + corpus["ham"][3::80]
    out = classify(conf, *unseen)
    assert [n for _, _, n in out] == unseen
    spam_scores = [s for s, _, n in out if "/spam/" in n]
    ham_scores = [s for s, _, n in out if "/ham/" in n]
    assert sum(spam_scores) / len(spam_scores) > 0.7
    assert sum(ham_scores) / len(ham_scores) < 0.3

    # learning the same files again changes nothing
    r = run(conf, "learn", "--spam", *spam[:5])
    assert b"5 spam messages: 0 learned, 0 moved from ham, 5 already learned" in r.stdout


def test_mbox_maildir_stdin_and_reclassification(conf):
    mbox = conf / "junk.mbox"
    body = SPAMMY.decode("latin-1")
    mbox.write_bytes(("From offers@best-deals-4u.example Mon Jan  1 00:00:00 2024\n" + body + "\n"
                      "From other@best-deals-4u.example Tue Jan  2 00:00:00 2024\n" +
                      body.replace("FREE money", "Cheap loans").replace("Order now", "Buy today") + "\n"
                      # a body line starting "From " that is no From_ line does not split
                      "From third@best-deals-4u.example Wed Jan  3 00:00:00 2024\n" +
                      body.replace("Dear Friend", "Dear Friend\n\nFrom the desk of the president") +
                      "\n").encode("latin-1"))
    md = conf / "Maildir"
    for d in ("cur", "new", "tmp"):
        (md / d).mkdir(parents=True)
    (md / "new" / "1.host").write_bytes(HAMMY)
    (md / "cur" / "2.host:2,S").write_bytes(HAMMY.replace(b"reply-42", b"reply-43") +
                                            b"Gr\xfc\xdfe aus M\xfcnchen, caf\xe9\n")
    (md / "tmp" / "3.host").write_bytes(b"Subject: half written\n")  # never read

    r = run(conf, "learn", "--spam", mbox)
    assert r.returncode == 0, r.stderr
    assert b"3 spam messages: 3 learned" in r.stdout
    r = run(conf, "learn", "--ham", md)
    assert r.returncode == 0, r.stderr
    assert b"2 ham messages: 2 learned" in r.stdout

    out = classify(conf, mbox)
    assert [n for _, _, n in out] == [f"{mbox}:1", f"{mbox}:2", f"{mbox}:3"]
    assert all(v == "spam" for _, v, _ in out), out

    # standard input
    r = run(conf, "classify", stdin=HAMMY)
    assert r.returncode == 0
    m = LINE.match(r.stdout.decode().strip())
    assert m and m.group(2) == "ham" and m.group(3) == "-", r.stdout

    # a user moves a message out of Junk: it moves from spam to ham
    one = conf / "one.eml"
    one.write_bytes(SPAMMY)
    r = run(conf, "learn", "--spam", one)
    assert b"1 already learned" in r.stdout  # the same message as the first of the mbox
    one.write_bytes(b"Message-ID: <one@best-deals-4u.example>\n" + SPAMMY)
    r = run(conf, "learn", "--spam", one)
    assert b"1 learned" in r.stdout
    r = run(conf, "learn", "--ham", one)
    assert b"1 ham messages: 0 learned, 1 moved from spam" in r.stdout, r.stdout
    r = run(conf, "learn", "--unlearn", one)
    assert b"1 messages unlearned" in r.stdout
    r = run(conf, "learn", "--unlearn", one)
    assert b"0 messages unlearned, 1 were not learned" in r.stdout


def test_user_database_adds_to_global(conf):
    (conf / "a.eml").write_bytes(SPAMMY)
    (conf / "b.eml").write_bytes(HAMMY)
    before = classify(conf, conf / "a.eml", user="Bob@Example.TEST")[0][0]
    assert before == 0.5  # nothing trained anywhere
    r = run(conf, "learn", "--spam", "--user", "Bob@Example.TEST", conf / "a.eml")
    assert r.returncode == 0, r.stderr
    assert (conf / "data" / "bayes" / "user" / "bob@example.test.db").exists()
    assert not (conf / "data" / "bayes" / "global.db").exists()
    r = run(conf, "learn", "--ham", "--user", "bob@example.test", conf / "b.eml")
    assert r.returncode == 0, r.stderr
    assert classify(conf, conf / "a.eml", user="bob@example.test")[0][1] == "spam"
    assert classify(conf, conf / "a.eml")[0] == (0.5, "unsure", str(conf / "a.eml"))
    assert classify(conf, conf / "a.eml", user="carol@example.test")[0][0] == 0.5


def test_corrupt_database_fails_once_then_recreated(conf):
    (conf / "a.eml").write_bytes(SPAMMY)
    assert run(conf, "learn", "--spam", conf / "a.eml").returncode == 0
    db = conf / "data" / "bayes" / "global.db"
    db.write_bytes(b"\x00garbage" * 1000)
    r = run(conf, "classify", conf / "a.eml")
    assert r.returncode == 75
    assert b"corrupt token database" in r.stderr and b"recreated empty" in r.stderr, r.stderr
    assert (conf / "data" / "bayes" / "global.db.corrupt").exists()
    assert classify(conf, conf / "a.eml")[0][:2] == (0.5, "unsure")


def test_usage_and_errors(conf):
    assert run(conf, "learn", "x.eml").returncode == 64  # neither --spam nor --ham
    assert run(conf, "learn", "--spam").returncode == 64
    assert run(conf, "nosuchcommand").returncode == 64
    r = run(conf, "classify", conf / "missing.eml")
    assert r.returncode == 1 and b"missing.eml" in r.stderr
    (conf / "main.cf").write_text(f"data_directory = {conf}/data\nbayes_robx = 2\n")
    r = run(conf, "classify", "-", stdin=HAMMY)
    assert r.returncode == 78 and b"bayes_robx" in r.stderr


def test_progress_bar_on_a_terminal(conf, corpus):
    files = corpus["spam"][:30]
    master, slave = pty.openpty()
    p = subprocess.Popen([TERN_SPAM, "-c", str(conf), "learn", "--spam"] + files, stdout=slave,
                         stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    deadline = time.time() + 60
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 1)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        elif p.poll() is not None:
            break
    p.wait(timeout=60)
    os.close(master)
    assert p.returncode == 0, p.stderr.read()
    text = out.decode(errors="replace")
    assert "\r" in text and "[" in text and "30/30 files" in text and "100%" in text, text
    assert "30 spam messages: 30 learned" in text
