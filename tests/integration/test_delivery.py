"""Delivery: the qmgr and local-delivery with real clients. Mail is submitted
with Python's smtplib and read back with Python's mailbox (Maildir, mbox)
and email (delivery status notifications as multipart/report): virtual
users in maildirs, +tag addressing, an mbox whose body has a "From " line,
aliases to users, files and commands, virtual aliases, .forward and the
spool for system users (root only: a throwaway account), notices for
failures, delays, expiry and success (NOTIFY, RET), double bounces,
Delivered-To loops, the spam folder, and deferred mail shown by mailq and
delivered after postqueue -f."""
import email
import email.policy
import mailbox
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import wait_for
from deliverytest import (add_vmailbox, dsn_fields, dsns, maildir_messages, mailq, message, set_aliases,
                          service_pid, shared_dir, submit, subjects, wait_maildir, wait_queue_empty)

FAST = {"queue_run_delay": "1s", "minimal_backoff_time": "1s", "maximal_backoff_time": "2s",
        "transport_retry_time": "2s"}


_started = []


@pytest.fixture(autouse=True)
def show_logs(make_instance):
    """The instances' maillog, shown by pytest when a test fails."""
    _started.clear()
    yield
    for inst in _started:
        print(f"---- {inst.dir}/log/maillog\n{inst.log()}")


def started(make_instance, settings=None, before_start=None):
    cf = dict(FAST)
    cf.update(settings or {})
    inst = make_instance(main_cf=cf)
    if before_start:
        before_start(inst)
    inst.start()
    _started.append(inst)
    return inst


def test_maildir_and_tag(make_instance):
    inst = started(make_instance)
    submit(inst, "bob@example.test", ["alice@example.test"], message("to alice"))
    submit(inst, "bob@example.test", ["bob+lists@example.test"], message("tagged", to="bob+lists@example.test"))
    got = wait_maildir(inst.maildir("alice"), 1)
    m = got[0]
    assert m["Subject"] == "to alice"
    assert m["Return-Path"] == "<bob@example.test>"
    assert m["Delivered-To"] == "alice@example.test"
    assert m.get_payload() == "Hello.\n"
    # user+tag is delivered to user, with the tag kept in Delivered-To
    tagged = wait_maildir(inst.maildir("bob"), 1)
    assert tagged[0]["Subject"] == "tagged"
    assert tagged[0]["Delivered-To"] == "bob+lists@example.test"
    # the maildir belongs to mail_owner and the queue is empty afterwards
    if os.geteuid() == 0:
        st = os.stat(os.path.join(inst.maildir("alice"), "new"))
        assert st.st_uid == pwd.getpwnam("tern").pw_uid
    wait_queue_empty(inst)
    inst.wait_log(r"tern/qmgr\[\d+\]: [0-9A-Z]{10}: to=<alice@example.test>, relay=local, delay=[0-9.]+, "
                  r"dsn=2\.0\.0, status=sent")
    inst.wait_log(r"tern/qmgr\[\d+\]: [0-9A-Z]{10}: removed")


def test_mbox_round_trip_with_from_line(make_instance):
    def prepare(inst):
        add_vmailbox(inst, "carol@example.test", "carol@example.test.mbox")
    inst = started(make_instance, before_start=prepare)
    body = "First line.\nFrom the start of a line, this must not split the mailbox.\n>From quoted already.\nEnd.\n"
    submit(inst, "bob@example.test", ["carol@example.test"], message("mbox one", body=body, to="carol@example.test"))
    submit(inst, "bob@example.test", ["carol@example.test"], message("mbox two", to="carol@example.test"))
    path = os.path.join(inst.dir, "mail", "carol@example.test.mbox")

    def read():
        if not os.path.exists(path):
            return None
        box = mailbox.mbox(path, create=False)
        msgs = list(box)
        return msgs if len(msgs) >= 2 else None
    msgs = wait_for(read, 30, what="two messages in the mbox")
    assert len(msgs) == 2  # the "From " line did not start a third message
    assert subjects(msgs) == ["mbox one", "mbox two"]
    one = [m for m in msgs if m["Subject"] == "mbox one"][0]
    text = one.get_payload()
    # mboxo quoting: the line is there, quoted once more by the writer
    assert "From the start of a line, this must not split the mailbox.\n" in text
    assert text.endswith("End.\n")
    assert one.get_from().startswith("bob@example.test ")


def test_aliases_users_files_commands(make_instance):
    inst = started(make_instance)
    work = shared_dir(inst, "work")
    set_aliases(inst, f"team: alice@example.test, bob@example.test, \"|cat > {work}/cmd.out\", {work}/file.mbox\n"
                      "staff: team\n")
    submit(inst, "carol@example.org", ["staff@localhost"], message("to staff", sender="carol@example.org",
                                                                    to="staff@localhost"))
    a = wait_maildir(inst.maildir("alice"), 1)
    b = wait_maildir(inst.maildir("bob"), 1)
    assert a[0]["Subject"] == b[0]["Subject"] == "to staff"
    assert a[0]["Delivered-To"] == "alice@example.test"
    out = wait_for(lambda: os.path.exists(f"{work}/cmd.out") and open(f"{work}/cmd.out").read(), 20,
                   what="the command's output")
    assert "Subject: to staff" in out and "Return-Path: <carol@example.org>" in out
    # the command ran as default_privs, never as root
    if os.geteuid() == 0:
        assert os.stat(f"{work}/cmd.out").st_uid == pwd.getpwnam("nobody").pw_uid
    box = wait_for(lambda: os.path.exists(f"{work}/file.mbox") and list(mailbox.mbox(f"{work}/file.mbox")), 20,
                   what="the file delivery")
    assert box[0]["Subject"] == "to staff"
    inst.wait_log(r"[0-9A-Z]{10}: to=<staff@localhost>, relay=local, .*status=sent \(expanded to 4 destinations")


def test_virtual_alias(make_instance):
    def prepare(inst):
        with open(os.path.join(inst.dir, "valias"), "w") as f:
            f.write("sales@example.test alice@example.test, bob@example.test\n")
        inst.set_main_cf({"virtual_alias_maps": f"texthash:{inst.dir}/valias"})
    inst = started(make_instance, before_start=prepare)
    submit(inst, "carol@example.org", ["sales+q1@example.test"], message("sales", to="sales+q1@example.test"))
    a = wait_maildir(inst.maildir("alice"), 1)
    b = wait_maildir(inst.maildir("bob"), 1)
    assert a[0]["Subject"] == b[0]["Subject"] == "sales"
    # the unmatched extension travels along
    assert a[0]["Delivered-To"] == "alice+q1@example.test"


def test_failed_command_bounces_with_dsn(make_instance):
    inst = started(make_instance)
    set_aliases(inst, 'broken: "|echo no such mailbox here; exit 67"\n')
    submit(inst, "bob@example.test", ["broken@localhost"], message("will bounce", to="broken@localhost"),
           mail_options=["RET=HDRS", "ENVID=env-42"])
    got = wait_maildir(inst.maildir("bob"), 1)
    reports = dsns(got)
    assert len(reports) == 1
    r = reports[0]
    assert r.get_param("report-type") == "delivery-status"
    assert r["Subject"] == "Undelivered Mail Returned to Sender"
    assert r["Auto-Submitted"] == "auto-replied"
    # bounces go out with the null sender
    assert got[0]["Return-Path"] == "<>"
    per_msg, per_rcpt = dsn_fields(r)
    assert per_msg["reporting-mta"] == "dns; mail.example.test"
    assert per_msg["original-envelope-id"] == "env-42"
    assert len(per_rcpt) == 1
    assert per_rcpt[0]["final-recipient"] == "rfc822; broken@localhost"
    assert per_rcpt[0]["action"] == "failed"
    assert per_rcpt[0]["status"] == "5.1.1"
    assert "no such mailbox here" in per_rcpt[0]["diagnostic-code"]
    # RET=HDRS: the headers come back, not the body
    parts = [p.get_content_type() for p in r.walk()]
    assert "text/rfc822-headers" in parts and "message/rfc822" not in parts
    hdrs = [p for p in r.walk() if p.get_content_type() == "text/rfc822-headers"][0].get_payload()
    assert "Subject: will bounce" in hdrs and "Hello." not in hdrs
    wait_queue_empty(inst)


def test_full_mailbox_bounces(make_instance):
    inst = started(make_instance, {"mailbox_size_limit": "3000", "bounce_size_limit": "1000"})
    submit(inst, "bob@example.test", ["alice@example.test"], message("fits", body="x" * 60 + "\n"))
    big = message("really too big", body=("y" * 70 + "\n") * 60)
    submit(inst, "bob@example.test", ["alice@example.test"], big)
    got = wait_maildir(inst.maildir("bob"), 1)
    r = dsns(got)[0]
    _, per_rcpt = dsn_fields(r)
    assert per_rcpt[0]["status"] == "5.2.2"
    assert per_rcpt[0]["action"] == "failed"
    # over bounce_size_limit: only the headers come back, and the text says so
    types = [p.get_content_type() for p in r.walk()]
    assert "text/rfc822-headers" in types and "message/rfc822" not in types
    assert "too large to be returned in full" in r.get_payload()[0].get_payload()
    assert subjects(maildir_messages(inst.maildir("alice"))) == ["fits"]


def test_bounce_returns_the_whole_message(make_instance):
    inst = started(make_instance)
    set_aliases(inst, 'broken: "|exit 1"\n')
    submit(inst, "bob@example.test", ["broken@localhost"], message("give it back", body="The body.\n"))
    got = wait_maildir(inst.maildir("bob"), 1)
    r = dsns(got)[0]
    returned = [p for p in r.walk() if p.get_content_type() == "message/rfc822"]
    assert returned, [p.get_content_type() for p in r.walk()]
    orig = returned[0].get_payload()[0]
    assert orig["Subject"] == "give it back"
    assert orig.get_payload() == "The body.\n"
    _, per_rcpt = dsn_fields(r)
    assert per_rcpt[0]["status"] == "5.3.0"


def test_double_bounce_goes_to_postmaster_then_is_dropped(make_instance):
    inst = started(make_instance)
    set_aliases(inst, 'broken: "|exit 67"\n')
    # a failing notice (null sender): the postmaster (alice, per tern init's aliases) gets a copy
    submit(inst, "", ["broken@localhost"], message("notice that fails", to="broken@localhost"))
    got = wait_maildir(inst.maildir("alice"), 1)
    r = dsns(got)[0]
    assert r["Subject"] == "Postmaster Copy: Undelivered Mail"
    assert got[0]["Return-Path"].startswith("<double-bounce@")
    # and when the postmaster copy cannot be delivered either, it is dropped
    inst.set_main_cf({"2bounce_notice_recipient": "broken@localhost"})
    inst.tern("reload")
    time.sleep(1)
    submit(inst, "", ["broken@localhost"], message("second notice that fails", to="broken@localhost"))
    inst.wait_log(r"undeliverable postmaster notice dropped \(double bounce\)", timeout=30)
    wait_queue_empty(inst)
    assert len(maildir_messages(inst.maildir("alice"))) == 1


def test_success_notice(make_instance):
    inst = started(make_instance)
    submit(inst, "bob@example.test", ["alice@example.test"], message("confirm"), rcpt_options=["NOTIFY=SUCCESS"])
    wait_maildir(inst.maildir("alice"), 1)
    got = wait_maildir(inst.maildir("bob"), 1)
    r = dsns(got)[0]
    assert r["Subject"] == "Successful Mail Delivery Report"
    _, per_rcpt = dsn_fields(r)
    assert per_rcpt[0]["action"] == "delivered"
    assert per_rcpt[0]["status"] == "2.0.0"
    # NOTIFY=NEVER: a failure is silent
    set_aliases(inst, 'broken: "|exit 67"\n')
    submit(inst, "bob@example.test", ["broken@localhost"], message("quiet", to="broken@localhost"),
           rcpt_options=["NOTIFY=NEVER"])
    inst.wait_log(r"to=<broken@localhost>, relay=local, .*status=bounced", timeout=30)
    wait_queue_empty(inst)
    time.sleep(1)
    assert len(maildir_messages(inst.maildir("bob"))) == 1


def test_delivered_to_loop(make_instance):
    inst = started(make_instance)
    submit(inst, "bob@example.test", ["alice@example.test"],
           message("looping", extra="Delivered-To: alice@example.test\n"))
    got = wait_maildir(inst.maildir("bob"), 1)
    _, per_rcpt = dsn_fields(dsns(got)[0])
    assert per_rcpt[0]["status"] == "5.4.6"
    assert "loop" in per_rcpt[0]["diagnostic-code"]
    assert maildir_messages(inst.maildir("alice")) == []


def test_spam_goes_to_junk(make_instance):
    inst = started(make_instance)
    submit(inst, "bob@example.test", ["alice@example.test"], message("spammy", extra="X-Spam-Flag: YES\n"))
    submit(inst, "bob@example.test", ["alice@example.test"], message("hammy", extra="X-Spam-Flag: NO\n"))
    junk = wait_maildir(inst.maildir("alice"), 1, folder="Junk")
    assert junk[0]["Subject"] == "spammy"
    inbox = wait_maildir(inst.maildir("alice"), 1)
    assert subjects(inbox) == ["hammy"]
    assert os.path.exists(os.path.join(inst.maildir("alice"), ".Junk", "maildirfolder"))


def test_deferred_shown_by_mailq_then_flushed(make_instance):
    # retries far apart: only the flush brings it back
    inst = started(make_instance, {"minimal_backoff_time": "1h", "maximal_backoff_time": "2h",
                                   "queue_run_delay": "1h"})
    work = shared_dir(inst, "work")
    script = os.path.join(work, "flaky.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\nif [ -e {work}/ready ]; then cat > {work}/flaky.out; exit 0; fi\n"
                "echo mailbox not ready yet; exit 75\n")
    os.chmod(script, 0o755)
    set_aliases(inst, f'flaky: "|{script}"\n')
    submit(inst, "bob@example.test", ["flaky@localhost"], message("later", to="flaky@localhost"))
    inst.wait_log(r"to=<flaky@localhost>, relay=local, .*dsn=4\.3\.0, status=deferred", timeout=30)
    q = wait_for(lambda: "flaky@localhost" in mailq(inst) and mailq(inst), 20, what="mailq listing")
    assert "mailbox not ready yet" in q, q
    assert "exited with status 75" in q, q
    open(f"{work}/ready", "w").close()
    time.sleep(1.5)
    assert not os.path.exists(f"{work}/flaky.out")  # not retried on its own
    inst.tool("postqueue", "-f")
    out = wait_for(lambda: os.path.exists(f"{work}/flaky.out") and open(f"{work}/flaky.out").read(), 20,
                   what="delivery after the flush")
    assert "Subject: later" in out
    wait_queue_empty(inst)


def queue_ids(inst):
    return [l[:10] for l in mailq(inst).splitlines() if re.match(r"^[0-9A-Z]{10}[*!#]?\s", l)]


def test_flush_one_message_and_site(make_instance):
    inst = started(make_instance, {"minimal_backoff_time": "1h", "maximal_backoff_time": "2h",
                                   "queue_run_delay": "1h"})
    work = shared_dir(inst, "work")
    script = os.path.join(work, "gate.sh")
    with open(script, "w") as f:
        f.write(f"#!/bin/sh\n[ -e {work}/open ] || {{ echo closed; exit 75; }}\ncat >> {work}/gate.out\n")
    os.chmod(script, 0o755)
    set_aliases(inst, f'gate: "|{script}"\n')
    submit(inst, "bob@example.test", ["gate@localhost"], message("gated one", to="gate@localhost"))
    submit(inst, "bob@example.test", ["gate@localhost"], message("gated two", to="gate@localhost"))
    ids = wait_for(lambda: len(queue_ids(inst)) == 2 and mailq(inst).count("closed") == 2 and queue_ids(inst), 30,
                   what="two deferred messages")
    open(f"{work}/open", "w").close()
    # one message by its queue ID
    inst.tool("postqueue", "-i", ids[0])
    wait_for(lambda: os.path.exists(f"{work}/gate.out"), 20, what="delivery after postqueue -i")
    wait_for(lambda: queue_ids(inst) == [ids[1]], 20, what="only the other one left")
    # the rest by site (ETRN's flush)
    inst.tool("postqueue", "-s", "localhost")
    wait_queue_empty(inst)
    assert open(f"{work}/gate.out").read().count("Subject: gated") == 2
    # an unknown ID is an error
    assert inst.tool("postqueue", "-i", "0000000000", check=False).returncode != 0


def test_forward_to_another_domain_makes_a_new_message(make_instance):
    def prepare(inst):
        with open(os.path.join(inst.dir, "transport"), "w") as f:
            f.write("elsewhere.test local:\n")
        inst.set_main_cf({"transport_maps": f"texthash:{inst.dir}/transport"})
    inst = started(make_instance, before_start=prepare)
    # fwd goes to another domain (a new queue file); there, friend is an alias for alice
    set_aliases(inst, "fwd: friend@elsewhere.test, bob@example.test\nfriend: alice@example.test\n")
    submit(inst, "bob@example.test", ["fwd@localhost"], message("via elsewhere", to="fwd@localhost"),
           rcpt_options=["NOTIFY=SUCCESS,FAILURE"])
    a = wait_maildir(inst.maildir("alice"), 1)
    assert a[0]["Subject"] == "via elsewhere"
    # the forwarded copy says where it went through, and keeps the sender
    assert "fwd@localhost" in a[0].get_all("Delivered-To")
    assert a[0]["Return-Path"] == "<bob@example.test>"
    # bob got the copy and, as he asked, a success notice saying "expanded"
    got = wait_maildir(inst.maildir("bob"), 2)
    assert "via elsewhere" in subjects(got)
    _, per_rcpt = dsn_fields(dsns(got)[0])
    assert per_rcpt[0]["action"] == "expanded"
    inst.wait_log(r"to=<fwd@localhost>, relay=local, .*status=sent \(expanded to 2 destinations, 1 delivered here, "
                  r"forwarded as [0-9A-Z]{10}")
    wait_queue_empty(inst)


def test_delay_warning_then_expiry(make_instance):
    inst = started(make_instance, {"delay_warning_time": "1s", "maximal_queue_lifetime": "4s"})
    set_aliases(inst, 'stuck: "|echo try again later; exit 75"\n')
    submit(inst, "bob@example.test", ["stuck@localhost"], message("stuck", to="stuck@localhost"))
    got = wait_maildir(inst.maildir("bob"), 2, timeout=40)
    reports = dsns(got)
    kinds = sorted(dsn_fields(r)[1][0]["action"] for r in reports)
    assert kinds == ["delayed", "failed"]
    delayed = [r for r in reports if dsn_fields(r)[1][0]["action"] == "delayed"][0]
    assert delayed["Subject"].startswith("Delayed Mail")
    assert "will-retry-until" in dsn_fields(delayed)[1][0]
    failed = [r for r in reports if dsn_fields(r)[1][0]["action"] == "failed"][0]
    assert dsn_fields(failed)[1][0]["status"] == "5.3.0"
    assert "expired" in dsn_fields(failed)[1][0]["diagnostic-code"]
    wait_queue_empty(inst)


def test_reload_while_delivering(make_instance):
    inst = started(make_instance)
    work = shared_dir(inst, "work")
    set_aliases(inst, f'slow: "|sleep 1; cat >> {work}/slow.out"\n')
    for i in range(6):
        submit(inst, "bob@example.test", ["slow@localhost"], message("slow %d" % i, to="slow@localhost"))
    inst.wait_log(r"to=<slow@localhost>, relay=local, .*status=sent", timeout=30)
    old = inst.services()["qmgr"][0]
    inst.tern("reload")
    # the old qmgr finishes what it holds, the new one takes the rest
    wait_for(lambda: inst.services().get("qmgr") and inst.services()["qmgr"][0] != old, 20, what="new qmgr")
    wait_queue_empty(inst, 60)
    out = wait_for(lambda: open(f"{work}/slow.out").read().count("Subject: slow") >= 6 and open(f"{work}/slow.out").read(),
                   30, what="all six")
    assert sorted(set(l for l in out.splitlines() if l.startswith("Subject: slow"))) == \
        ["Subject: slow %d" % i for i in range(6)]


def test_postsuper_delete_of_an_active_message(make_instance):
    inst = started(make_instance)
    work = shared_dir(inst, "work")
    set_aliases(inst, f'slow: "|sleep 2; cat > /dev/null; exit 75"\n')
    submit(inst, "bob@example.test", ["slow@localhost"], message("doomed", to="slow@localhost"))
    active = os.path.join(inst.dir, "queue", "active")
    qid = wait_for(lambda: os.listdir(active) and os.listdir(active)[0], 20, what="the message in active/")
    # postsuper -d removes even a file the qmgr holds; the qmgr then drops it
    r = inst.tool("postsuper", "-d", qid)
    assert r.returncode == 0, r.stderr
    inst.wait_log(qid + r": deleted by the administrator", timeout=30)
    wait_queue_empty(inst)
    assert not any(qid in files for _, _, files in os.walk(os.path.join(inst.dir, "queue")))


def test_deliverby(make_instance):
    inst = started(make_instance)
    set_aliases(inst, 'stuck: "|echo not yet; exit 75"\n')
    # mode N: a delay notice when the time is up, delivery goes on
    submit(inst, "bob@example.test", ["stuck@localhost"], message("by notify", to="stuck@localhost"),
           mail_options=["BY=2;N"])
    got = wait_maildir(inst.maildir("bob"), 1, timeout=30)
    _, per_rcpt = dsn_fields(dsns(got)[0])
    assert per_rcpt[0]["action"] == "delayed"
    # mode R: returned when the time is up
    submit(inst, "bob@example.test", ["stuck@localhost"], message("by return", to="stuck@localhost"),
           mail_options=["BY=3;R"])
    got = wait_maildir(inst.maildir("bob"), 2, timeout=30)
    failed = [r for r in dsns(got) if dsn_fields(r)[1][0]["action"] == "failed"]
    assert len(failed) == 1
    assert dsn_fields(failed[0])[1][0]["status"] == "5.4.7"
    assert "DELIVERBY" in dsn_fields(failed[0])[1][0]["diagnostic-code"]


# ---- system users (root only: a throwaway account)

@pytest.fixture
def system_user():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd")
    name = "tdl%05d" % random.randrange(100000)
    home = f"/tmp/{name}-home"
    subprocess.run(["useradd", "--create-home", "--home-dir", home, "--shell", "/bin/sh", name], check=True,
                   capture_output=True)
    os.chmod(home, 0o755)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", "--remove", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_system_user_spool_and_forward(make_instance, system_user):
    user = system_user.pw_name
    spool = {}

    def prepare(inst):
        spool["dir"] = shared_dir(inst, "spool")
        inst.set_main_cf({"mail_spool_directory": spool["dir"]})
    inst = started(make_instance, before_start=prepare)
    submit(inst, "bob@example.test", [f"{user}+news@localhost"], message("to the spool", to=f"{user}@localhost"))
    path = os.path.join(spool["dir"], user)
    box = wait_for(lambda: os.path.exists(path) and list(mailbox.mbox(path)), 30, what="spool delivery")
    assert box[0]["Subject"] == "to the spool"
    assert box[0]["Delivered-To"] == f"{user}+news@localhost"
    assert os.stat(path).st_uid == system_user.pw_uid  # written as the user
    # .forward: a copy to alice, one kept (\user), and a command run as the user
    out = os.path.join(system_user.pw_dir, "filter.out")
    fwd = os.path.join(system_user.pw_dir, ".forward")
    with open(fwd, "w") as f:
        f.write(f"\\{user}, alice@example.test, \"|cat > {out}\"\n")
    os.chown(fwd, system_user.pw_uid, system_user.pw_gid)
    submit(inst, "bob@example.test", [f"{user}@localhost"], message("forwarded", to=f"{user}@localhost"))
    a = wait_maildir(inst.maildir("alice"), 1)
    assert a[0]["Subject"] == "forwarded"
    wait_for(lambda: len(list(mailbox.mbox(path))) == 2, 20, what="the kept copy")
    wait_for(lambda: os.path.exists(out) and "Subject: forwarded" in open(out).read(), 20, what="the filter")
    assert os.stat(out).st_uid == system_user.pw_uid


def test_system_user_home_maildir(make_instance, system_user):
    inst = started(make_instance, {"home_mailbox": "Maildir/"})
    submit(inst, "bob@example.test", [f"{system_user.pw_name}@localhost"], message("home maildir"))
    md = os.path.join(system_user.pw_dir, "Maildir")
    got = wait_maildir(md, 1)
    assert got[0]["Subject"] == "home maildir"
    assert os.stat(os.path.join(md, "new")).st_uid == system_user.pw_uid


# ---- mailbox workers: one process per recipient identity, reused

def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def proc_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    return -1


@pytest.fixture
def two_system_users():
    if os.geteuid() != 0 or not shutil.which("useradd"):
        pytest.skip("needs root and useradd")
    made = []
    try:
        for _ in range(2):
            name = "tdw%05d" % random.randrange(100000)
            home = f"/tmp/{name}-home"
            subprocess.run(["useradd", "--create-home", "--home-dir", home, "--shell", "/bin/sh", name],
                           check=True, capture_output=True)
            os.chmod(home, 0o755)
            made.append(pwd.getpwnam(name))
        yield made
    finally:
        for u in made:
            subprocess.run(["userdel", "--remove", u.pw_name], capture_output=True)
            shutil.rmtree(u.pw_dir, ignore_errors=True)


def test_mailbox_workers_switch_users_and_are_replaced(make_instance, two_system_users):
    """One process slot: deliveries alternate between two users, so the idle
    worker of one makes room for the other; workers are replaced after
    local_delivery_worker_max_use deliveries, a killed idle worker is
    noticed, and idle workers exit after local_delivery_worker_idle_time.
    Every file is owned by its recipient."""
    a, b = two_system_users
    inst = started(make_instance, {"home_mailbox": "Maildir/", "local_delivery_process_limit": "1",
                                   "local_delivery_worker_max_use": "2",
                                   "local_delivery_worker_idle_time": "3s"})
    for k in range(6):
        u = (a, b)[k % 2]
        submit(inst, "bob@example.test", [f"{u.pw_name}@localhost"], message(f"to {u.pw_name} #{k}"))
    for u in (a, b):
        md = os.path.join(u.pw_dir, "Maildir")
        got = wait_maildir(md, 3)
        assert sorted(subjects(got)) == sorted(f"to {u.pw_name} #{k}" for k in range(6) if (a, b)[k % 2] == u)
        for name in os.listdir(os.path.join(md, "new")):
            assert os.stat(os.path.join(md, "new", name)).st_uid == u.pw_uid
    # at most one worker, running as one of the two users
    local = service_pid(inst, "local")
    kids = children(local)
    assert len(kids) <= 1
    for k in kids:
        assert proc_uid(k) in (a.pw_uid, b.pw_uid)
    # kill the idle worker behind the agent's back: the next delivery works
    if kids:
        os.kill(kids[0], signal.SIGKILL)
    submit(inst, "bob@example.test", [f"{a.pw_name}@localhost"], message("after the kill"))
    got = wait_maildir(os.path.join(a.pw_dir, "Maildir"), 4)
    assert "after the kill" in subjects(got)
    # idle workers go away
    wait_for(lambda: not children(local), 15, what="idle workers exit")
    assert "status=deferred" not in inst.log()  # the idle kill cost no delivery
