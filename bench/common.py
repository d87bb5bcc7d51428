"""common.py - shared pieces of the benchmark harness (bench/run and the
metric modules): command running, package installation, machine and
version facts, statistics, alternation of rounds, process memory, and the
result writer (markdown table, gnuplot PNG, `metric=...` summary lines).

Nothing here talks to the network beyond 127.0.0.1."""
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(BENCH)

# Debian packages the harness needs, with one program each that proves it is
# there. Postfix is installed with debconf "No configuration" so apt does not
# configure or start a system instance.
PACKAGES = [
    ("postfix", "/usr/sbin/postfix"),
    ("postfix", "/usr/sbin/smtp-source"),
    ("dovecot-imapd", "/usr/lib/dovecot/imap"),
    ("dovecot-pop3d", "/usr/lib/dovecot/pop3"),
    ("gnuplot-nox", "/usr/bin/gnuplot"),
]


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def sh(cmd, check=True, timeout=600, input=None, env=None, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, env=env, cwd=cwd)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r


def ensure_packages():
    """apt-get install whatever is missing (as root)."""
    missing = sorted({pkg for pkg, path in PACKAGES if not os.path.exists(path)})
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError(f"missing packages {missing}; run as root or install them")
    log(f"installing {' '.join(missing)}")
    if "postfix" in missing:
        sh(["debconf-set-selections"], input="postfix postfix/main_mailer_type select No configuration\n")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sh(["apt-get", "update"], env=env, timeout=900)
    # policy-rc.d 101 keeps apt from starting system daemons (dovecot)
    prc = "/usr/sbin/policy-rc.d"
    made = False
    if not os.path.exists(prc):
        with open(prc, "w") as f:
            f.write("#!/bin/sh\nexit 101\n")
        os.chmod(prc, 0o755)
        made = True
    try:
        sh(["apt-get", "install", "-y", "--no-install-recommends"] + missing, env=env, timeout=1800)
    finally:
        if made:
            os.unlink(prc)
    # a system dovecot started anyway would hold ports 110/143: harmless
    # (the bench uses its own ports) but not ours to stop.


# ---------------------------------------------------------------- facts

def machine_info(workdir):
    info = {}
    info["cores"] = os.cpu_count()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    info["kernel"] = platform.release()
    r = sh(["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "-T", workdir], check=False)
    info["filesystem"] = r.stdout.strip()
    src = r.stdout.split()[0] if r.stdout.split() else ""
    r = sh(["lsblk", "-dno", "NAME,ROTA,SIZE,MODEL", src], check=False) if src.startswith("/dev/") else None
    if r and r.returncode == 0:
        name, rota, *rest = (r.stdout.split() + ["", ""])[:4]
        info["disk"] = f"{src} {'rotational' if rota == '1' else 'non-rotational'} {' '.join(rest).strip()}"
    info["fsync_per_s"] = fsync_rate(workdir)
    info["loadavg_at_start"] = open("/proc/loadavg").read().split()[0]
    return info


def fsync_rate(workdir, seconds=1.0):
    """4 KB write + fsync per loop, one thread: the disk's serial fsync rate."""
    path = os.path.join(workdir, ".fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    n = 0
    t0 = time.monotonic()
    try:
        while time.monotonic() - t0 < seconds:
            os.write(fd, b"x" * 4096)
            os.fsync(fd)
            n += 1
    finally:
        os.close(fd)
        os.unlink(path)
    return round(n / (time.monotonic() - t0))


def versions(build):
    v = {}
    r = sh(["git", "-C", build, "rev-parse", "--short", "HEAD"], check=False)
    rev = r.stdout.strip() or "unknown"
    d = sh(["git", "-C", build, "status", "--porcelain", "--untracked-files=no"], check=False)
    b = sh(["git", "-C", build, "rev-parse", "--abbrev-ref", "HEAD"], check=False)
    v["tern"] = rev + ("-dirty" if d.stdout.strip() else "") + (f" ({b.stdout.strip()})" if b.stdout.strip() else "")
    r = sh(["postconf", "-dh", "mail_version"], check=False)
    v["postfix"] = r.stdout.strip() or "not installed"
    r = sh(["dovecot", "--version"], check=False)
    v["dovecot"] = r.stdout.strip() or "not installed"
    v["build"] = build
    return v


# ---------------------------------------------------------------- helpers

def median(xs):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def percentile(xs, p):
    """Nearest-rank percentile (p in 0..100)."""
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def port_free(port, host="127.0.0.1"):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port():
    for _ in range(500):
        p = random.randrange(30000, 60000)
        if port_free(p):
            return p
    raise RuntimeError("no free port")


def free_port_base(offsets=(25, 587, 465, 110, 995, 143, 993)):
    for _ in range(500):
        base = random.randrange(21000, 64000, 100)
        if all(port_free(base + o) for o in offsets):
            return base
    raise RuntimeError("no free port base")


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def wait_port(port, timeout=30, host="127.0.0.1"):
    def up():
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(up, timeout, 0.1, f"port {port}")


def count_files(d):
    """Entries in directory d (0 when missing)."""
    try:
        with os.scandir(d) as it:
            return sum(1 for _ in it)
    except FileNotFoundError:
        return 0


def count_tree(d):
    n = 0
    for _, _, files in os.walk(d):
        n += len(files)
    return n


def empty_dir(d):
    """Remove every file below d, keeping the directories."""
    for root, _, files in os.walk(d):
        for f in files:
            try:
                os.unlink(os.path.join(root, f))
            except FileNotFoundError:
                pass


def pids_where(pred):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            cmd = open(f"/proc/{d}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        cmd = [c.decode(errors="replace") for c in cmd if c]
        if cmd and pred(int(d), cmd):
            out.append(int(d))
    return out


def children_of(pids):
    """pids plus all their descendants."""
    parent = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                st = open(f"/proc/{d}/stat").read()
                parent[int(d)] = int(st[st.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    out = set(pids)
    grew = True
    while grew:
        grew = False
        for p, pp in parent.items():
            if pp in out and p not in out:
                out.add(p)
                grew = True
    return sorted(out)


def memory_kb(pids):
    """(RSS, PSS) summed over pids, in KiB."""
    rss = pss = 0
    for p in pids:
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return rss, pss


def cpu_seconds(pids):
    t = 0.0
    hz = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            st = open(f"/proc/{p}/stat").read()
            f = st[st.rindex(")") + 2:].split()
            t += (int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])) / hz
        except (OSError, ValueError, IndexError):
            pass
    return t


def alternate(rounds, trials):
    """Run trials {side: fn(round) -> value} `rounds` times, alternating which
    side goes first. Returns {side: [values]}."""
    sides = list(trials)
    out = {s: [] for s in sides}
    for r in range(rounds):
        order = sides if r % 2 == 0 else list(reversed(sides))
        for s in order:
            v = trials[s](r)
            log(f"  round {r + 1}/{rounds} {s}: {brief(v)}")
            out[s].append(v)
    return out


def brief(v):
    if isinstance(v, dict):
        return " ".join(f"{k}={fmt(x)}" for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return f"{len(v)} values, median {fmt(median(v))}"
    return fmt(v)


def fmt(v):
    if isinstance(v, float):
        if v != v:
            return "n/a"
        if abs(v) >= 100:
            return f"{v:.0f}"
        if abs(v) >= 1:
            return f"{v:.2f}"
        return f"{v:.4f}"
    return str(v)


# ---------------------------------------------------------------- results

class Report:
    """One metric's result: rows of (name, unit, better, tern values, rival
    values). Writes bench/results/<metric>.md, <metric>.png, <metric>.json and
    prints the summary lines."""

    def __init__(self, ctx, metric, title, rival, method, settings):
        self.ctx = ctx
        self.metric = metric
        self.title = title
        self.rival = rival
        self.method = method
        self.settings = settings
        self.rows = []
        self.notes = []
        self.started = time.time()

    def add(self, name, unit, better, tern_vals, rival_vals, target=None):
        t = median(tern_vals) if tern_vals else float("nan")
        r = median(rival_vals) if rival_vals else float("nan")
        ratio = t / r if r and r == r and t == t else float("nan")
        self.rows.append(dict(name=name, unit=unit, better=better, tern=t, rival=r, ratio=ratio,
                              tern_all=list(tern_vals), rival_all=list(rival_vals), target=target))

    def add_from(self, name, unit, better, res, key, target=None):
        """add() from alternate()'s result {side: [dict]}: tern against the
        other side, both read at `key`."""
        rival = next(s for s in res if s != "tern")
        self.add(name, unit, better, [x[key] for x in res["tern"]], [x[key] for x in res[rival]], target)

    def note(self, text):
        self.notes.append(text)

    def target_met(self, row):
        t = row["target"]
        if t is None or row["ratio"] != row["ratio"]:
            return ""
        kind, val = t
        if kind == "ratio>=":
            return "yes" if row["ratio"] >= val else "NO"
        if kind == "ratio<=":
            return "yes" if row["ratio"] <= val else "NO"
        if kind == "tern<=":
            return "yes" if row["tern"] <= val else "NO"
        return ""

    def target_text(self, row):
        t = row["target"]
        if t is None:
            return ""
        kind, val = t
        return {"ratio>=": f"ratio >= {val}", "ratio<=": f"ratio <= {val}", "tern<=": f"tern <= {val}"}[kind]

    def finish(self):
        ctx = self.ctx
        os.makedirs(ctx.results, exist_ok=True)
        base = os.path.join(ctx.results, self.metric)
        elapsed = time.time() - self.started
        lines = [f"# {self.title}", ""]
        lines.append(f"Run {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, {ctx.rounds} round(s)"
                     f"{' (quick mode)' if ctx.quick else ''}, {elapsed:.0f} s; "
                     f"command: `bench/run {' '.join(ctx.argv)}`")
        lines.append("")
        lines.append(f"| measure | unit | better | tern | {self.rival} | ratio tern/{self.rival} | target | met | tern rounds | {self.rival} rounds |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for row in self.rows:
            lines.append(f"| {row['name']} | {row['unit']} | {row['better']} | {fmt(row['tern'])} | {fmt(row['rival'])} | "
                         f"{fmt(row['ratio'])} | {self.target_text(row)} | {self.target_met(row)} | "
                         f"{' '.join(fmt(v) for v in row['tern_all'])} | {' '.join(fmt(v) for v in row['rival_all'])} |")
        lines.append("")
        lines.append("## Method")
        lines.append("")
        lines.append(self.method)
        if self.notes:
            lines.append("")
            lines.append("## Notes")
            lines.append("")
            for n in self.notes:
                lines.append(f"- {n}")
        lines.append("")
        lines.append("## Machine")
        lines.append("")
        for k, v in ctx.machine.items():
            lines.append(f"- {k}: {v}")
        lines.append(f"- loadavg at end: {open('/proc/loadavg').read().split()[0]}")
        lines.append("")
        lines.append("## Versions")
        lines.append("")
        for k, v in ctx.versions.items():
            lines.append(f"- {k}: {v}")
        lines.append("")
        lines.append("## Settings")
        lines.append("")
        for side, st in self.settings.items():
            lines.append(f"- {side}: " + ", ".join(f"`{k} = {v}`" for k, v in st.items()))
        lines.append("")
        with open(base + ".md", "w") as f:
            f.write("\n".join(lines))
        with open(base + ".json", "w") as f:
            json.dump(dict(metric=self.metric, title=self.title, rival=self.rival, rows=self.rows,
                           machine=ctx.machine, versions=ctx.versions, settings=self.settings,
                           rounds=ctx.rounds, quick=ctx.quick, notes=self.notes,
                           time=time.time()), f, indent=1, default=str)
        self.chart(base + ".png")
        for row in self.rows:
            key = f"{self.metric}.{row['name']}".replace(" ", "_")
            print(f"metric={key} tern={fmt(row['tern'])} rival={fmt(row['rival'])} ratio={fmt(row['ratio'])} "
                  f"unit={row['unit'].replace(' ', '_')} better={row['better']}", flush=True)
        log(f"wrote {base}.md and {base}.png")

    def chart(self, png):
        """Clustered bars, one pair per row, each row normalised to the rival
        (rival = 1), so rows with different units share one axis."""
        if not shutil.which("gnuplot") or not self.rows:
            return
        dat = png[:-4] + ".dat"
        with open(dat, "w") as f:
            for row in self.rows:
                r = row["rival"]
                t = row["ratio"] if row["ratio"] == row["ratio"] else 0
                label = f"{row['name']} ({row['better']} better)".replace('"', "'")
                f.write(f"\"{label}\" {t:.4f} {1.0 if r == r else 0:.4f}\n")
        script = f"""
set terminal pngcairo size 900,{300 + 40 * len(self.rows)} font ',10'
set output '{png}'
set title "{self.title.replace('"', "'")}: tern / {self.rival} (rival = 1)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set yrange [0:*]
set grid ytics
set xtics rotate by -20 scale 0
set key top right
plot '{dat}' using 2:xtic(1) title 'tern' lc rgb '#2a7f3f', '' using 3 title '{self.rival}' lc rgb '#888888'
"""
        r = sh(["gnuplot"], input=script, check=False)
        if r.returncode != 0:
            log(f"gnuplot failed: {r.stderr.strip()}")
        try:
            os.unlink(dat)
        except OSError:
            pass


def stop_all(*sides):
    """Stop every side of a metric; a failure to stop is logged, not raised
    (the table is still written)."""
    for side in sides:
        try:
            side.stop()
        except Exception as e:  # noqa: BLE001
            log(f"stop failed: {e}")
