#!/usr/bin/python3
"""run_checks.py - `make check` driver: runs the Catch2 unit tests and the
pytest integration suite, then prints one summary whose last line is
"N passed, N failed". Exit status 1 when anything failed.

Environment: TERN_CHECK_ONLY=unit|integration|fuzz (or several, comma
separated) limits the run; TERN_PYTEST_ARGS adds pytest arguments (e.g.
"-k smtpd"); TERN_INTEGRATION_TESTS names the files of tests/integration to
run (space separated; default all); TERN_FUZZ_SECONDS sets how long each
libFuzzer target runs (default 10; 0 skips fuzzing).
Fuzz targets are built and run only when clang++ is installed."""
import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET


def junit_counts(path):
    """(passed, failed, skipped) from a JUnit XML file."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, FileNotFoundError):
        return None
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    passed = failed = skipped = 0
    for s in suites:
        for case in s.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
            elif case.find("skipped") is not None:
                skipped += 1
            else:
                passed += 1
    return passed, failed, skipped


def run(cmd, timeout, env=None):
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    try:
        return subprocess.run(cmd, timeout=timeout, env=env).returncode
    except subprocess.TimeoutExpired:
        print(f"!! timed out after {timeout}s: {cmd[0]}", flush=True)
        return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--src", required=True)
    a = ap.parse_args()
    only_env = os.environ.get("TERN_CHECK_ONLY", "")
    wanted = {p.strip() for p in only_env.split(",") if p.strip()}

    def part(name):
        return not wanted or name in wanted
    total_pass = total_fail = total_skip = 0
    rows = []
    tmp = tempfile.mkdtemp(prefix="tern-check-")

    if part("unit"):
        xml = os.path.join(tmp, "unit.xml")
        rc = run([os.path.join(a.build, "tests/unit/unit_tests"), "-r", "junit", "-o", xml], 900)
        c = junit_counts(xml)
        if c is None:
            c = (0, 1, 0)
        elif rc != 0 and c[1] == 0:
            c = (c[0], 1, c[2])  # crashed or timed out after writing results
        rows.append(("unit", c))

    if part("integration"):
        xml = os.path.join(tmp, "integration.xml")
        env = dict(os.environ)
        env["TERN_BUILD"] = a.build
        env["TERN_SRC"] = a.src
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        cmd = ["/usr/bin/python3", "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider",
               "--timeout=600", f"--junitxml={xml}"]
        files = env.get("TERN_INTEGRATION_TESTS", "").split()
        cmd += [os.path.join(a.src, "tests/integration", f) for f in files] or [os.path.join(a.src, "tests/integration")]
        cmd += shlex.split(env.get("TERN_PYTEST_ARGS", ""))
        rc = run(cmd, 3600, env)
        c = junit_counts(xml)
        if c is None:
            c = (0, 1, 0)
        elif rc not in (0, 5) and c[1] == 0:
            c = (c[0], 1, c[2])
        rows.append(("integration", c))

    fuzz_secs = int(os.environ.get("TERN_FUZZ_SECONDS", "5"))
    if part("fuzz") and fuzz_secs > 0:
        import shutil
        if shutil.which("clang++"):
            out = os.path.join(a.build, "tests", "fuzz", "out")
            rc = run(["sh", os.path.join(a.src, "tests/fuzz/build.sh"), a.src, out], 1800)
            if rc != 0:
                rows.append(("fuzz", (0, 1, 0)))
            else:
                print(f"+ running each fuzz target for {fuzz_secs}s", flush=True)
                r = subprocess.run(["sh", os.path.join(a.src, "tests/fuzz/run_all.sh"), a.src, out, str(fuzz_secs)],
                                   capture_output=True, text=True, timeout=3600)
                print(r.stdout, end="", flush=True)
                p = sum(1 for l in r.stdout.splitlines() if l.startswith("fuzz ") and l.endswith(" ok"))
                f = sum(1 for l in r.stdout.splitlines() if l.startswith("fuzz ") and " FAILED" in l)
                rows.append(("fuzz", (p, f, 0)))
        else:
            print("fuzz: clang++ not installed; fuzz targets skipped", flush=True)

    print("")
    print("== summary ==")
    for name, (p, f, s) in rows:
        print(f"{name:12s} {p} passed, {f} failed, {s} skipped")
        total_pass += p
        total_fail += f
        total_skip += s
    print(f"{total_pass} passed, {total_fail} failed", flush=True)
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
