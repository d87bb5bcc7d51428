"""test_maps.py - the tern-map and newaliases commands, run as a user would:
builds, queries (-q KEY, -q -), listings (-s), exit codes and file:line
errors. TERN_BUILD names the build tree (set by `make check`)."""
import os
import subprocess

import pytest

BUILD = os.environ.get("TERN_BUILD") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
TERN_MAP = os.path.join(BUILD, "cli", "tern-map")
NEWALIASES = os.path.join(BUILD, "cli", "newaliases")

pytestmark = pytest.mark.skipif(not os.access(TERN_MAP, os.X_OK),
                                reason="tern-map not built in " + BUILD)


def run(*args, stdin=None):
    return subprocess.run(list(args), input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture
def conf(tmp_path):
    (tmp_path / "main.cf").write_text("# test instance\n")
    return tmp_path


def test_build_query_list(conf):
    src = conf / "access"
    src.write_text("# comment\nUser@Example.COM  OK\nspammer.test REJECT no\n  thanks\n")
    r = run(TERN_MAP, "-c", str(conf), "hash:" + str(src))
    assert r.returncode == 0, r.stderr
    assert (conf / "access.db").exists()

    r = run(TERN_MAP, "-c", str(conf), "-q", "user@example.com", "hash:" + str(src))
    assert (r.returncode, r.stdout) == (0, "OK\n")
    r = run(TERN_MAP, "-c", str(conf), "-q", "SPAMMER.TEST", "hash:" + str(src))
    assert (r.returncode, r.stdout) == (0, "REJECT no thanks\n")
    r = run(TERN_MAP, "-c", str(conf), "-q", "nobody", "hash:" + str(src))
    assert (r.returncode, r.stdout) == (1, "")

    r = run(TERN_MAP, "-c", str(conf), "-q", "-", "hash:" + str(src),
            stdin="nobody\nspammer.test\n\nuser@example.com\n")
    assert r.returncode == 0
    assert r.stdout == "spammer.test REJECT no thanks\nuser@example.com OK\n"

    r = run(TERN_MAP, "-c", str(conf), "-s", "hash:" + str(src))
    assert r.returncode == 0
    assert sorted(r.stdout.splitlines()) == ["spammer.test REJECT no thanks", "user@example.com OK"]


def test_default_type_and_other_tables(conf):
    (conf / "main.cf").write_text("default_database_type = btree\n")
    src = conf / "t"
    src.write_text("b 2\na 1\n")
    r = run(TERN_MAP, "-c", str(conf), str(src))
    assert r.returncode == 0, r.stderr
    r = run(TERN_MAP, "-c", str(conf), "-s", "btree:" + str(src))
    assert r.stdout == "a 1\nb 2\n"
    r = run(TERN_MAP, "-c", str(conf), "-q", "a", str(src))  # bare name: btree too
    assert (r.returncode, r.stdout) == (0, "1\n")

    nets = conf / "nets"
    nets.write_text("192.0.2.0/24 inside\n2001:db8::/32 v6\n")
    r = run(TERN_MAP, "-c", str(conf), "-q", "192.0.2.9", "cidr:" + str(nets))
    assert (r.returncode, r.stdout) == (0, "inside\n")
    r = run(TERN_MAP, "-c", str(conf), "-q", "a", "inline:{a=first}", "static:second")
    assert r.stdout == "first\n"
    r = run(TERN_MAP, "-c", str(conf), "-q", "zz", "inline:{a=first}", "static:second")
    assert r.stdout == "second\n"
    r = run(TERN_MAP, "-c", str(conf), "cidr:" + str(nets))  # checked, nothing built
    assert r.returncode == 0, r.stderr


def test_errors_and_exit_codes(conf):
    src = conf / "bad"
    src.write_text("good value\nlonely\n")
    r = run(TERN_MAP, "-c", str(conf), "hash:" + str(src))
    assert r.returncode == 1
    assert "%s:2: expected format: key whitespace value" % src in r.stderr
    assert not (conf / "bad.db").exists()

    r = run(TERN_MAP, "-c", str(conf), "-q", "x", "hash:" + str(conf / "missing"))
    assert r.returncode == 75
    assert "missing.db" in r.stderr
    r = run(TERN_MAP, "-c", str(conf), "-q", "x", "fail:down")
    assert r.returncode == 75

    re_src = conf / "re"
    re_src.write_text("/ok/ fine\n/(/ broken\n")
    r = run(TERN_MAP, "-c", str(conf), "-q", "ok", "regexp:" + str(re_src))
    assert r.returncode == 75
    assert "%s:2: bad regular expression" % re_src in r.stderr

    assert run(TERN_MAP, "-c", str(conf)).returncode == 64
    assert run(TERN_MAP, "-c", str(conf), "-q", "x", "-s", "static:y").returncode == 64
    assert run(TERN_MAP, "-c", str(conf / "nonexistent"), "static:y").returncode == 78
    (conf / "main.cf").write_text("this is not a setting\n")
    r = run(TERN_MAP, "-c", str(conf), "-q", "x", "static:y")
    assert r.returncode == 78
    assert "main.cf:1" in r.stderr


def test_newaliases(conf):
    (conf / "aliases").write_text(
        "# aliases\nMAILER-DAEMON: postmaster\npostmaster: root\n"
        "staff: ann, \"|/usr/bin/logger -t staff\",\n  :include:/etc/tern/staff\n")
    r = run(NEWALIASES, "-c", str(conf))
    assert r.returncode == 0, r.stderr
    db = "hash:" + str(conf / "aliases")
    r = run(TERN_MAP, "-c", str(conf), "-q", "mailer-daemon", db)
    assert (r.returncode, r.stdout) == (0, "postmaster\n")
    r = run(TERN_MAP, "-c", str(conf), "-q", "Staff", db)
    assert r.stdout == "ann, \"|/usr/bin/logger -t staff\", :include:/etc/tern/staff\n"

    # errors name file:line and keep the old database
    (conf / "aliases").write_text("root: admin\nbroken\nx: \"unterminated\n")
    r = run(NEWALIASES, "-c", str(conf))
    assert r.returncode == 1
    assert "%s:2: expected format: name: value" % (conf / "aliases") in r.stderr
    assert "%s:3: unterminated quoted string" % (conf / "aliases") in r.stderr
    r = run(TERN_MAP, "-c", str(conf), "-q", "postmaster", db)
    assert (r.returncode, r.stdout) == (0, "root\n")

    # alias_database names the tables to build
    (conf / "other").write_text("a: b\n")
    (conf / "main.cf").write_text("alias_database = btree:$config_directory/other\n")
    r = run(NEWALIASES, "-c", str(conf), "-v")
    assert r.returncode == 0, r.stderr
    r = run(TERN_MAP, "-c", str(conf), "-q", "a", "btree:" + str(conf / "other"))
    assert r.stdout == "b\n"
    assert run(NEWALIASES, "-c", str(conf), "extra").returncode == 64
