#!/usr/bin/env python3
"""scripts/bench-report.py: turn the runs of scripts/bench.sh into greenrun's benchmark report.

Usage: bench-report.py --raw build/bench/raw-full --out bench/results [--docs docs/benchmarks.md]

Reads the run manifest (RAW/runs.tsv), the JSON each run wrote, and RAW/env.txt; takes the
median of every metric over the rounds; and writes OUT/latest.json (everything, including each
run), OUT/latest.md (tables of absolute numbers and ratios, and which targets are met),
OUT/latest.png (gnuplot, scripts/plot-bench.gp), and with --docs the same page for docs/.

A configuration whose run failed (its own check, a crash, a timeout, a preload that did not
load) is shown as "failed: <reason>", never as a number. Only the standard library is used.

System calls per operation come from the runs themselves (syscalls_per_op, counted by the
benchmark drivers, bench/main.cc and bench/go/micro/main.go); the FS-switch path of a greenrun
run is the one its banner names in the run's log ("switches with wrfsbase|arch_prctl").
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

CONFIGS = ("native", "greenrun", "go", "jemalloc", "mimalloc", "gr-system", "gr-1p",
           "gr-1p-prctl")
PRELOAD_LIB = {"greenrun": "libgreenrun", "gr-system": "libgreenrun", "gr-1p": "libgreenrun",
               "gr-1p-prctl": "libgreenrun", "jemalloc": "libjemalloc",
               "mimalloc": "libmimalloc", "native": None}
# The configurations that preload greenrun, whose banner names the FS-switch path.
GREENRUN_CONFIGS = ("greenrun", "gr-system", "gr-1p", "gr-1p-prctl")
# The group "switch": yield_pingpong with GREENRUN_PROCS=1, two G-to-G switches per round trip.
SWITCH_CONFIGS = (("gr-1p", "greenrun's choice"), ("gr-1p-prctl", "arch_prctl forced"))
SWITCHES_PER_ROUND_TRIP = 2
# The allocator configurations, in the order of the report's columns, and their headers.
ALLOC_CONFIGS = (("native", "glibc"), ("jemalloc", "jemalloc"), ("mimalloc", "mimalloc"),
                 ("greenrun", "greenrun"), ("gr-system", "gr-system"))

# The thread-pool and database-shaped servers (issue 13): group, name in the targets.
SERVER_GROUPS = (("pool", "thread-pool server"), ("db", "database-shaped server"))

MICRO = [
    ("create_join", "pthread_create + pthread_join", "go func + channel receive"),
    ("condvar_pingpong", "mutex + condvar round trip", "unbuffered channel round trip"),
    ("sem_pingpong", "sem_post/sem_wait round trip", "channel (cap 1) round trip"),
    ("pipe_pingpong", "8-byte round trip over two pipes", "os.Pipe"),
    ("socketpair_pingpong", "8-byte round trip over a socketpair", "net.FileConn"),
    ("yield_pingpong", "turn hand-off, waiter calls sched_yield", "runtime.Gosched"),
    ("mutex_uncontended", "lock + unlock, one thread", "sync.Mutex"),
    ("mutex_contended", "lock + increment + unlock, 4 threads", "sync.Mutex"),
    ("rwlock_readmostly", "4 threads, 1 write in 64", "sync.RWMutex"),
    ("timedwait_expire", "16 threads, 100 µs timed waits that expire", "select + timer"),
]
MALLOC = [
    ("malloc_fastpath", "malloc(64) + free at once, one thread: the fast path"),
    ("malloc_local", "free + malloc in a 4096-block window, one thread"),
    ("malloc_cross", "one thread mallocs, another frees (batches of 256)"),
    ("larson/2", "server churn: 2 lanes of 5000 blocks (16 B-1 KiB); free + malloc; every "
     "10,000 operations the thread hands its blocks to a new thread and exits"),
    ("larson/8", "the same with 8 lanes (more threads than CPUs)"),
    ("prodcons", "2 producers, 2 consumers, one queue of 64-block batches: remote frees"),
    ("fragmentation", "blocks of 16-256 B, a random 90% freed, holes refilled with 257-768 B; "
     "per malloc or free"),
    ("realloc_growth", "2 threads x 16 buffers grown to 1 MiB by doubling or by 1-8 KiB steps; "
     "per realloc"),
    ("large_blocks", "2 threads x 8 live blocks of 64 KiB-4 MiB, every page written; "
     "per free + malloc"),
]


# ---------------------------------------------------------------------------------------------
# Reading the runs.

def read_env(raw):
    env = {}
    with open(os.path.join(raw, "env.txt")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def read_json(path):
    if not path or path == "-" or not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def numeric(d):
    return {k: v for k, v in d.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def switch_path(row):
    """The FS-switch path greenrun's banner names in a run's log (a server's, for echo)."""
    log = row["log"]
    if row["kind"] == "echo" and row["out"].endswith(".json"):
        log = row["out"][:-len(".json")] + ".server.log"
    try:
        with open(log, errors="replace") as f:
            head = f.read(65536)
    except OSError:
        return None
    for line in head.splitlines():
        if line.startswith("greenrun: active") and "switches with " in line:
            return line.split("switches with ", 1)[1].split()[0]
    return None


def parse_run(row):
    """Returns (state, reason, metrics, extra); state is ok, failed or skipped."""
    rc, kind, cfg, note = row["rc"], row["kind"], row["config"], row["note"]
    if rc == "skip":
        return "skipped", note, {}, {}
    doc = read_json(row["out"])    # already joined to the raw directory by read_runs()
    err, metrics, extra = None, {}, {}
    lib = PRELOAD_LIB.get(cfg)
    if kind in ("gbench", "gobench"):
        bench = None
        if isinstance(doc, dict):
            runs = [b for b in doc.get("benchmarks", [])
                    if b.get("run_type", "iteration") == "iteration"]
            bench = runs[0] if runs else None
        if bench is not None and bench.get("error_occurred"):
            err = bench.get("error_message") or "error reported"
        elif bench is not None:
            metrics = numeric(bench)
            if bench.get("label"):
                extra["label"] = bench["label"]
        if isinstance(doc, dict) and doc.get("context", {}).get("syscall_counting"):
            extra["syscall_counting"] = doc["context"]["syscall_counting"]
        if kind == "gbench" and isinstance(doc, dict) and lib:
            mapped = doc.get("context", {}).get("preloaded", "")
            if lib not in mapped:
                err = err or "%s was not mapped in the process (preload not active)" % lib
    elif isinstance(doc, dict):
        if doc.get("ok") is False:
            err = doc.get("error") or "error reported"
        elif doc.get("ok"):
            metrics = numeric(doc)
            extra = {k: v for k, v in doc.items() if isinstance(v, str)}
            mapped = doc.get("server_preloaded", doc.get("preloaded"))
            if lib and mapped is not None and lib not in mapped:
                err = "%s was not mapped in the process (preload not active)" % lib
    if cfg in GREENRUN_CONFIGS and rc != "skip":
        path = switch_path(row)
        if path:
            extra["switch_path"] = path
    if rc != "0":
        if note.startswith("server") or not err:
            reason = note or "exit status %s" % rc
        else:
            reason = err
        return "failed", reason, {}, extra
    if err:
        return "failed", err, {}, extra
    if not metrics:
        return "failed", "no result in the run's output", {}, extra
    return "ok", "", metrics, extra


def read_runs(raw):
    rows = []
    with open(os.path.join(raw, "runs.tsv")) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            fields = line.rstrip("\n").split("\t")
            fields += [""] * (len(header) - len(fields))
            row = dict(zip(header, fields))
            for key in ("out", "log"):
                if row[key] and row[key] != "-":
                    row[key] = os.path.join(raw, row[key])
            rows.append(row)
    return rows


def aggregate(rows):
    """results[group][workload][config] = entry with status, median, per-run samples."""
    results = {}
    for row in rows:
        state, reason, metrics, extra = parse_run(row)
        group, workload = row["group"], row["workload"]
        if group == "blocked":
            metrics.setdefault("target", float(workload))
            workload = "blocked"
        entry = results.setdefault(group, {}).setdefault(workload, {}).setdefault(
            row["config"], {"runs": []})
        entry["runs"].append({"round": int(row["round"]), "state": state, "reason": reason,
                              "seconds": float(row["seconds"] or 0), "metrics": metrics,
                              **({"info": extra} if extra else {})})
    for group in results.values():
        for configs in group.values():
            for entry in configs.values():
                runs = entry["runs"]
                ok = [r for r in runs if r["state"] == "ok"]
                failed = [r for r in runs if r["state"] == "failed"]
                skipped = [r for r in runs if r["state"] == "skipped"]
                if failed:
                    why = failed[0]["reason"]
                    if len(failed) < len(runs):
                        why = "%s (in %d of %d runs)" % (why, len(failed), len(runs))
                    entry["status"] = "failed: " + why
                elif skipped and not ok:
                    entry["status"] = "skipped: " + skipped[0]["reason"]
                else:
                    entry["status"] = "ok"
                entry["ok_runs"] = len(ok)
                keys = sorted({k for r in ok for k in r["metrics"]})
                entry["median"] = {k: statistics.median([r["metrics"][k] for r in ok
                                                         if k in r["metrics"]])
                                   for k in keys}
    return results


# ---------------------------------------------------------------------------------------------
# The machine.

def run_cmd(args):
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0] if out.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError, IndexError):
        return ""


def read_first(path, key=None, sep=":"):
    try:
        with open(path) as f:
            for line in f:
                if key is None:
                    return line.strip()
                if line.startswith(key):
                    return line.split(sep, 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def machine_info():
    flags = read_first("/proc/cpuinfo", "flags")
    mem_kb = read_first("/proc/meminfo", "MemTotal").split()
    pkgs = {}
    for pkg in ("libbenchmark-dev", "libjemalloc2", "libmimalloc2.0", "golang-go", "gnuplot-nox"):
        v = run_cmd(["dpkg-query", "-W", "-f", "${Version}", pkg])
        if v:
            pkgs[pkg] = v
    return {
        "cpu": read_first("/proc/cpuinfo", "model name"),
        "cpus": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "virtualized": " hypervisor" in " " + flags,
        "memory_gib": round(int(mem_kb[0]) / 1048576, 1) if mem_kb else None,
        "kernel": platform.release(),
        "os": read_first("/etc/os-release", "PRETTY_NAME", "="),
        "cc": run_cmd(["cc", "--version"]),
        "go": run_cmd(["go", "version"]),
        "python": platform.python_version(),
        "packages": pkgs,
        "sysctl": {
            "kernel.pid_max": read_first("/proc/sys/kernel/pid_max"),
            "kernel.threads-max": read_first("/proc/sys/kernel/threads-max"),
            "vm.max_map_count": read_first("/proc/sys/vm/max_map_count"),
            "net.core.somaxconn": read_first("/proc/sys/net/core/somaxconn"),
        },
    }


# ---------------------------------------------------------------------------------------------
# Formatting.

def fmt_ns(v):
    if v is None:
        return "-"
    if v < 10:
        return "%.2f ns" % v
    if v < 1e3:
        return "%.1f ns" % v
    if v < 1e6:
        return "%.2f µs" % (v / 1e3)
    if v < 1e9:
        return "%.2f ms" % (v / 1e6)
    return "%.2f s" % (v / 1e9)


def fmt_us(v):
    return "-" if v is None else fmt_ns(v * 1e3)


def fmt_int(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_kib(v):
    if v is None:
        return "-"
    if v >= 1024 * 1024:
        return "%.2f GiB" % (v / 1048576)
    return "%.1f MiB" % (v / 1024)


def fmt_calls(v):
    """System calls per operation: three decimals, and never "-0.000"."""
    if v is None:
        return "-"
    text = "%.3f" % v
    return "0.000" if text == "-0.000" else text


def round_calls(v):
    """A count as the report shows it (three decimals), which the targets compare."""
    return round(v, 3) + 0.0


def fmt_ratio(a, b):
    if a is None or b is None or b == 0:
        return "-"
    return "%.2fx" % (a / b)


def short(status, width=70):
    s = status.replace("|", "/").replace("\n", " ")
    return s if len(s) <= width else s[:width - 1] + "…"


class View:
    """Lookups into the aggregated results."""

    def __init__(self, results, env):
        self.results = results
        # Every gr-system run skipped for one reason, which the page states once.
        skip = env.get("gr_system_skipped")
        self.grsys_skip = "skipped: " + skip if skip else None

    def entry(self, group, workload, cfg):
        return self.results.get(group, {}).get(workload, {}).get(cfg)

    def status(self, group, workload, cfg):
        e = self.entry(group, workload, cfg)
        if not e:
            return "not run"
        if e["status"] == self.grsys_skip:
            return "skipped (the library does not take GREENRUN_MALLOC)"
        return e["status"]

    def val(self, group, workload, cfg, metric):
        e = self.entry(group, workload, cfg)
        if not e or e["status"] != "ok":
            return None
        return e["median"].get(metric)

    def runs_info(self, key, group=None, workload=None, configs=CONFIGS):
        """{value: runs} of one info key over the runs that match (all when None)."""
        seen = {}
        for g, workloads in self.results.items():
            if group is not None and g != group:
                continue
            for w, cfgs in workloads.items():
                if workload is not None and w != workload:
                    continue
                for c, e in cfgs.items():
                    if c not in configs:
                        continue
                    for r in e["runs"]:
                        x = r.get("info", {}).get(key)
                        if x:
                            seen[x] = seen.get(x, 0) + 1
        return seen

    def path(self, group, workload, cfg):
        """The FS-switch path of an entry's runs: a name, "a/b" when they differ, or None."""
        paths = self.runs_info("switch_path", group, workload, (cfg,))
        return "/".join(sorted(paths)) if paths else None

    def calls_cell(self, group, workload, cfg):
        """System calls per operation, "not counted" (with the reason in the footnote) or -."""
        e = self.entry(group, workload, cfg)
        if not e or e["status"] != "ok":
            return "-"
        if "syscalls_per_op" not in e["median"]:
            return "not counted"
        return fmt_calls(e["median"]["syscalls_per_op"])

    def not_counted(self):
        """Why system calls were not counted somewhere: the runs' own reasons."""
        why = set(x for x in self.runs_info("syscall_counting") if x.startswith("unavailable"))
        why |= set(x for x in self.runs_info("label") if x.startswith("syscalls not counted"))
        return sorted(why)

    def cell(self, group, workload, cfg, metric, fmt):
        e = self.entry(group, workload, cfg)
        if not e:
            return "-"
        if e["status"] != "ok":
            return short(self.status(group, workload, cfg))
        return fmt(e["median"].get(metric))


# ---------------------------------------------------------------------------------------------
# Targets.

def evaluate_targets(v, env):
    quick = env.get("mode") == "quick"
    sleepers = "sleepers/%s" % max(int(x) for x in env.get("sleepers", "10000").split())
    conns_all = [int(x) for x in env.get("echo_conns", "5000").split()]
    conns = str(max([c for c in conns_all if c <= 5000] or conns_all))
    blocked_target = int(env.get("blocked", "1000000"))
    has_alloc = env.get("greenrun_allocator") == "yes"
    targets = []

    def why(key, metric):
        status = v.status(*key)
        return "ran, but without %s" % metric if status == "ok" else status

    def add(name, metric, unit, gr_key, ref_key, gr, ref, ok_fn, bound, note=""):
        missing = []
        if gr is None:
            missing.append("greenrun " + why(gr_key, metric))
        if ref is None and ref_key is not None:
            missing.append("%s %s" % (ref_key[2], why(ref_key, metric)))
        if missing:
            met = False
            status = "NOT met (not measured: %s)" % "; ".join(missing)
        else:
            met = bool(ok_fn(gr, ref))
            status = "met" if met else "NOT met"
        if note:
            status += " - " + note
        targets.append({"target": name, "group": gr_key[0], "metric": metric, "unit": unit,
                        "greenrun": gr, "reference": ref,
                        "bound": bound, "met": met, "status": status})

    g = ("micro", "create_join", "greenrun")
    r = ("micro", "create_join", "go")
    add("create+join at most Go's time", "time per create+join", "ns", g, r,
        v.val(*g, "ns_per_op"), v.val(*r, "ns_per_op"), lambda a, b: a <= b, "≤ 1.00x Go")
    g = ("micro", "condvar_pingpong", "greenrun")
    r = ("micro", "condvar_pingpong", "go")
    add("condvar ping-pong at most 1.2x Go's channel ping-pong", "time per round trip", "ns",
        g, r,
        v.val(*g, "ns_per_op"), v.val(*r, "ns_per_op"), lambda a, b: a <= 1.2 * b,
        "≤ 1.20x Go")
    g = ("micro", sleepers, "greenrun")
    r = ("micro", sleepers, "go")
    nsleep = fmt_int(int(sleepers.split("/")[1]))
    add("%s sleepers' wall time at most Go's" % nsleep, "wall time from release",
        "ms", g, r, v.val(*g, "wall_ms"), v.val(*r, "wall_ms"), lambda a, b: a <= b, "≤ 1.00x Go")
    add("%s sleepers: mean 1 ms sleep under 1.1 ms" % nsleep,
        "mean sleep", "us", g, None, v.val(*g, "mean_sleep_us"), None,
        lambda a, b: a < 1100, "< 1100 µs")
    g = ("micro", "cpu_latency", "greenrun")
    r = ("micro", "cpu_latency", "native")
    add("64 CPU-bound threads on the Ps: a new thread runs within 50 ms of its creation",
        "slowest first run of 16 probes", "ms", g, r, v.val(*g, "start_max_ms"),
        v.val(*r, "start_max_ms"), lambda a, b: a <= 50, "≤ 50 ms")
    add("64 CPU-bound threads on the Ps: the main thread's 50 ms sleep returns within 20 ms",
        "latest of 16 sleeps", "ms", g, r, v.val(*g, "sleep_late_max_ms"),
        v.val(*r, "sleep_late_max_ms"), lambda a, b: a <= 20, "≤ 20 ms")
    add("64 CPU-bound threads on the Ps: a thread woken by a timer runs within 2 ms p99",
        "1 ms ticks' lateness, p99", "ms", g, r, v.val(*g, "tick_late_p99_ms"),
        v.val(*r, "tick_late_p99_ms"), lambda a, b: a <= 2, "≤ 2 ms")
    g = ("micro", "mutex_contended", "greenrun")
    r = ("micro", "mutex_contended", "go")
    add("contended mutex (4 threads) at most Go's", "time per lock+unlock", "ns", g, r,
        v.val(*g, "ns_per_op"), v.val(*r, "ns_per_op"), lambda a, b: a <= b, "≤ 1.00x Go")
    g = ("echo", conns, "greenrun")
    r = ("echo", conns, "go")
    nconns = fmt_int(int(conns))
    add("echo at %s connections: server CPU per request at most Go's" % nconns,
        "server CPU per request", "us", g, r, v.val(*g, "server_cpu_us_per_req"),
        v.val(*r, "server_cpu_us_per_req"), lambda a, b: a <= b, "≤ 1.00x Go")
    starved = v.val(*g, "starved_conns") or 0
    add("echo at %s connections: p99 latency at most Go's" % nconns, "p99 latency", "us", g, r,
        v.val(*g, "lat_p99_us"), v.val(*r, "lat_p99_us"), lambda a, b: a <= b and not starved,
        "≤ 1.00x Go, no connection starved",
        "%s of %s connections completed no request in the window (oldest request in flight: "
        "%s), so the p99 of completed requests hides them" % (
            fmt_int(starved), nconns, fmt_us(v.val(*g, "oldest_inflight_us")))
        if starved else "")
    add("echo at %s connections: fairness at least Go's" % nconns,
        "min/max requests per connection", "ratio", g, r, v.val(*g, "fairness_minmax"),
        v.val(*r, "fairness_minmax"), lambda a, b: a >= b, "≥ Go")
    g = ("blocked", "blocked", "greenrun")
    r = ("blocked", "blocked", "go")
    held = v.val(*g, "held")
    stopped = ""
    if held is not None and held < blocked_target:
        for run in v.entry(*g)["runs"]:
            stopped = run.get("info", {}).get("stopped_by", stopped)
    go_held = v.val(*r, "held")
    add("%s blocked threads at 8 KB RSS each or less" % fmt_int(blocked_target),
        "threads held; RSS per thread (reference: Go)", "blocked", g, None,
        None if held is None else (held, v.val(*g, "rss_per_thread_bytes")),
        None if go_held is None else (go_held, v.val(*r, "rss_per_thread_bytes")),
        lambda a, b: a[0] >= blocked_target and a[1] <= 8192, "≥ %s held, ≤ 8192 B each"
        % fmt_int(blocked_target), "creation stopped by " + stopped if stopped else "")
    no_alloc = "" if has_alloc else "greenrun has no allocator yet: its runs used glibc malloc"
    rows = alloc_rows(v)
    for ref, bound, metric_i, what in (
            ("jemalloc", 1.00, 0, "time at most jemalloc's"),
            ("mimalloc", 1.10, 0, "time within 10% of mimalloc's"),
            ("jemalloc", 1.00, 1, "peak RSS at most jemalloc's")):
        add_all(targets, v, rows, "allocator workloads: greenrun's %s, on every one" % what,
                "time per operation (echo_alloc: server CPU per request)" if metric_i == 0
                else "peak RSS (echo_alloc: the server's)",
                ref, metric_i, bound, has_alloc, no_alloc)
    g = ("malloc", "malloc_fastpath", "greenrun")
    add("malloc+free fast path under 20 ns", "time per malloc(64)+free", "ns", g, None,
        v.val(*g, "ns_per_op"), None, lambda a, b: has_alloc and a < 20, "< 20 ns", no_alloc)
    g = ("micro", "create_join", "greenrun")
    r = ("micro", "create_join", "gr-system")
    add("thread churn no slower than with glibc malloc", "time per create+join", "ns", g, r,
        v.val(*g, "ns_per_op"), v.val(*r, "ns_per_op"), lambda a, b: has_alloc and a <= b,
        "≤ 1.00x gr-system", no_alloc)
    g = ("echo", conns, "greenrun")
    r = ("echo", conns, "gr-system")
    add("echo at %s connections no slower than with glibc malloc" % nconns,
        "server CPU per request", "us", g, r, v.val(*g, "server_cpu_us_per_req"),
        v.val(*r, "server_cpu_us_per_req"), lambda a, b: has_alloc and a <= b,
        "≤ 1.00x gr-system", no_alloc)
    add_calls_targets(v, add, targets)
    add_server_targets(v, env, add)
    only = only_groups(env)
    if only:
        targets = [t for t in targets if t.get("group") in only]
    if quick:
        for t in targets:
            t["status"] += " [quick sizes]"
    return targets


def only_groups(env):
    """The groups a run limited itself to with --only, or None when it ran them all."""
    only = env.get("only", "")
    return set(only.split(",")) if only else None


def server_keys(v, env, group):
    """The connection counts of a server group: those the run asked for, else those it has."""
    keys = env.get("%s_conns" % group, "").split() or list(v.results.get(group, {}))
    return sorted(set(keys), key=int)


def add_server_targets(v, env, add):
    """Issue 13's server targets: greenrun's req/s at least native's, CPU/req at most native's."""
    for group, what in SERVER_GROUPS:
        for conns in server_keys(v, env, group):
            g = (group, conns, "greenrun")
            r = (group, conns, "native")
            n = fmt_int(int(conns))
            add("%s at %s connections: requests/s at least native's" % (what, n),
                "requests per second", "rps", g, r, v.val(*g, "rps"), v.val(*r, "rps"),
                lambda a, b: a >= b, "≥ 1.00x native")
            add("%s at %s connections: server CPU per request at most native's" % (what, n),
                "server CPU per request", "us", g, r, v.val(*g, "server_cpu_us_per_req"),
                v.val(*r, "server_cpu_us_per_req"), lambda a, b: a <= b, "≤ 1.00x native")


def add_calls_targets(v, add, targets):
    """The system-call targets (issue 13), compared at the report's three decimals."""

    def calls(group, workload, cfg, per=1):
        x = v.val(group, workload, cfg, "syscalls_per_op")
        return None if x is None else round_calls(x / per)

    def fs(group, workload):
        path = v.path(group, workload, "greenrun")
        return "greenrun switched with %s" % path if path else "greenrun's path: no banner"

    g = ("micro", "create_join", "greenrun")
    add("create+join: 0 system calls in the steady state", "system calls per create+join",
        "calls", g, None, calls(*g), None, lambda a, b: a <= 0, "0.000", fs(*g[:2]))
    # A G-to-G switch on each FS path: the group "switch" (GREENRUN_PROCS=1), per switch.
    ran = {}
    for cfg, _ in SWITCH_CONFIGS:
        path = v.path("switch", "yield_pingpong", cfg)
        if path and "/" not in path and (path not in ran or ran[path][1] is None):
            ran[path] = (cfg, calls("switch", "yield_pingpong", cfg, SWITCHES_PER_ROUND_TRIP))
    for path, what, bound, ok in (("wrfsbase", "0 system calls", "0.000", lambda a: a <= 0),
                                  ("arch_prctl", "exactly 1 system call", "1.000",
                                   lambda a: a == 1)):
        name = "G-to-G switch with %s: %s" % (path, what)
        metric = "system calls per switch (yield_pingpong, 1 P: 2 switches per round trip)"
        if path in ran:
            cfg, x = ran[path]
            add(name, metric, "calls", ("switch", "yield_pingpong", cfg), None, x, None,
                lambda a, b, ok=ok: ok(a), bound, "run %s" % cfg)
            continue
        seen = v.runs_info("switch_path", "switch", "yield_pingpong")
        reason = ("no run switched with %s (the runs' banners: %s)" % (
            path, ", ".join(sorted(seen))) if seen else "no greenrun run of the switch group")
        if path == "wrfsbase" and seen:
            reason += "; the CPU or kernel does not offer FSGSBASE"
        targets.append({"target": name, "group": "switch", "metric": metric, "unit": "calls",
                        "greenrun": None,
                        "reference": None, "bound": bound, "met": False,
                        "status": "NOT met (not measured: %s)" % reason})
    for workload, what, metric in (
            ("condvar_pingpong", "condvar ping-pong", "system calls per round trip"),
            ("sem_pingpong", "semaphore ping-pong", "system calls per round trip"),
            ("yield_pingpong", "sched_yield hand-off", "system calls per round trip"),
            ("timedwait_expire", "expiring timed wait", "system calls per wait")):
        g = ("micro", workload, "greenrun")
        r = ("micro", workload, "go")
        add("%s: system calls at most Go's" % what, metric, "calls", g, r, calls(*g),
            calls(*r), lambda a, b: a <= b, "≤ Go", fs(*g[:2]))


def alloc_rows(v):
    """The allocator workloads: (label, group, workload, time metric, peak RSS metric)."""
    rows = [(name, "malloc", name, "ns_per_op", "peak_rss_kb") for name, _ in MALLOC]
    for conns in sorted(v.results.get("echo_alloc", {}), key=int):
        rows.append(("echo_alloc/%s" % conns, "echo_alloc", conns, "server_cpu_us_per_req",
                     "server_peak_rss_kb"))
    return rows


def add_all(targets, v, rows, name, metric, ref, metric_i, bound, has_alloc, no_alloc):
    """One target over every allocator workload: greenrun / ref at most bound on each."""
    ratios, missing = [], []
    for label, group, workload, *metrics in rows:
        m = metrics[metric_i]
        g, r = v.val(group, workload, "greenrun", m), v.val(group, workload, ref, m)
        if g is None or r is None:
            who = "greenrun" if g is None else ref
            missing.append("%s: %s %s" % (label, who, v.status(group, workload, who)))
        elif r > 0:
            ratios.append((g / r, label))
    over = sorted((x for x in ratios if x[0] > bound), reverse=True)
    worst = max(ratios) if ratios else None
    met = has_alloc and not missing and not over and bool(ratios)
    if missing:
        status = "NOT met (not measured: %s)" % "; ".join(missing)
    elif met:
        status = "met"
    else:
        status = "NOT met"
    if over:
        status += " - over on %d of %d: %s" % (len(over), len(ratios), ", ".join(
            "%s %.2fx" % (label, x) for x, label in over))
    if no_alloc:
        status += " - " + no_alloc
    targets.append({"target": name, "group": "malloc", "metric": metric, "unit": "worst",
                    "greenrun": worst,
                    "reference": None, "bound": "≤ %.2fx %s on all %d" % (bound, ref, len(rows)),
                    "met": met, "status": status})


def fmt_unit(x, unit):
    if x is None:
        return "-"
    if unit == "worst":
        return "worst %.2fx (%s)" % x
    if unit == "blocked":
        return "%s held, %s B/thread" % (fmt_int(x[0]), fmt_int(x[1]))
    if unit == "ns":
        return fmt_ns(x)
    if unit == "us":
        return fmt_us(x)
    if unit == "ms":
        return fmt_us(x * 1e3)
    if unit == "calls":
        return fmt_calls(x)
    if unit == "rps":
        return fmt_int(x)
    return "%.3f" % x


def target_row(t):
    gr, ref = t["greenrun"], t["reference"]
    ratio = "-"
    if isinstance(gr, (int, float)) and isinstance(ref, (int, float)) and ref:
        ratio = "%.2fx" % (gr / ref)
    return "| %s | %s | %s | %s | %s | %s | **%s** |" % (
        t["target"], t["metric"], fmt_unit(gr, t["unit"]), fmt_unit(ref, t["unit"]), ratio,
        t["bound"], short(t["status"], 200))


# ---------------------------------------------------------------------------------------------
# The page.

def render(v, env, machine, targets, chart_path):
    quick = env.get("mode") == "quick"
    out = []
    w = out.append
    date = env.get("started_utc", "?")
    w("# greenrun benchmarks")
    w("")
    w("Generated by `%s` (scripts/bench.sh, then scripts/bench-report.py) on %s. "
      "Do not edit by hand: rerun the command." % (env.get("command", "make bench"),
                                                     date.replace("T", " ").replace("Z", " UTC")))
    w("")
    if quick:
        w("> **Quick mode**: one round and reduced sizes (sleepers %s, echo %s connections, "
          "%s blocked threads, allocator workloads at scale %s, echo_alloc %s connections). "
          "For development only; the numbers the README quotes come from `make bench`." % (
              env.get("sleepers"), env.get("echo_conns"), fmt_int(int(env.get("blocked", 0))),
              env.get("alloc_scale", "?"), env.get("echo_alloc_conns", "?")))
        w("")
    pk = machine.get("packages", {})
    w("**Machine**: %s, %s CPUs%s, %s GiB RAM; %s, Linux %s; %s; Go %s; libbenchmark %s; "
      "jemalloc %s; mimalloc %s." % (machine["cpu"], machine["cpus"],
                                     " (virtual machine)" if machine["virtualized"] else "",
                                     machine["memory_gib"], machine["os"], machine["kernel"],
                                     machine["cc"], machine["go"].replace("go version ", ""),
                                     pk.get("libbenchmark-dev", "?"), pk.get("libjemalloc2", "?"),
                                     pk.get("libmimalloc2.0", "?")))
    w("Limits: kernel.pid_max %s, vm.max_map_count %s, net.core.somaxconn %s." % (
        machine["sysctl"]["kernel.pid_max"], machine["sysctl"]["vm.max_map_count"],
        machine["sysctl"]["net.core.somaxconn"]))
    w("")
    gr = env.get("greenrun_so") or ""
    w("**Runs**: %s interleaved round(s), configuration order rotated each round; every "
      "number is the median over the rounds. greenrun: %s, GREENRUN_PROCS %s; allocator: %s. "
      "Commit %s%s." % (env.get("rounds"),
                        ("`%s` (sha256 %s, snapshot taken at the start)" % (
                            env.get("greenrun_lib", "build/libgreenrun.so"),
                            env.get("greenrun_so_sha256", "?")))
                        if gr else "**not available** (%s)" % env.get("greenrun_missing"),
                        env.get("greenrun_procs"),
                        "greenrun's own" if env.get("greenrun_allocator") == "yes"
                        else "glibc's (greenrun does not provide malloc yet)",
                        env.get("git_commit"),
                        " with local changes" if env.get("git_dirty") == "yes" else ""))
    if env.get("loadavg_start"):
        w("**Load average** of the machine (1, 5 and 15 minutes) when the runs started: %s; "
          "when they ended: %s. Other processes' load takes CPU from the runs, and it can take "
          "more from a runtime with one OS thread per CPU (greenrun, Go) than from a server "
          "with a thread per connection or per worker: compare runs at similar loads." % (env["loadavg_start"],
                                             env.get("loadavg_end", "?")))
    paths = v.runs_info("switch_path", configs=("greenrun", "gr-system"))
    w("**FS switch** (the thread pointer installed on a G-to-G switch), as greenrun's banner "
      "named it in the runs: %s." % (
          "; ".join("%s in %d run(s)" % (p, n) for p, n in sorted(paths.items())) if paths
          else "no greenrun run printed its banner"))
    w("")
    if chart_path:
        w("![benchmark chart](%s)" % chart_path)
        w("")

    met = sum(1 for t in targets if t["met"])
    w("## Targets")
    w("")
    w("%d of %d targets met." % (met, len(targets)))
    w("")
    w("| Target | Metric | greenrun | Reference | Ratio | Needs | Status |")
    w("|---|---|---|---|---|---|---|")
    for t in targets:
        w(target_row(t))
    w("")
    w("The targets on system calls compare the counts as the report shows them, at three "
      "decimals (0.000: fewer than one call in 2,000 operations); each greenrun count is that "
      "of runs on the FS-switch path its status names.")
    w("")

    w("## Micro benchmarks")
    w("")
    w("Wall-clock time per operation (median; lower is better) and, beside it, system calls "
      "per operation in the steady state (median; every thread of the process). The Go "
      "column runs the Go counterpart named in the second column.")
    w("")
    w("| Workload | Operation (Go counterpart) | native | greenrun | Go | greenrun/native "
      "| greenrun/Go | syscalls/op native | syscalls/op greenrun | syscalls/op Go |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for name, what, gowhat in MICRO:
        cells = [v.cell("micro", name, c, "ns_per_op", fmt_ns)
                 for c in ("native", "greenrun", "go")]
        calls = [v.calls_cell("micro", name, c) for c in ("native", "greenrun", "go")]
        g = v.val("micro", name, "greenrun", "ns_per_op")
        w("| %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, what, gowhat, cells[0], cells[1], cells[2],
            fmt_ratio(g, v.val("micro", name, "native", "ns_per_op")),
            fmt_ratio(g, v.val("micro", name, "go", "ns_per_op")), calls[0], calls[1],
            calls[2]))
    w("")
    w("System calls per operation are counted by each run itself, in the same process as its "
      "times but not while they are measured: after the timed iterations, a count pass opens "
      "a counter of the kernel's raw_syscalls:sys_enter tracepoint (perf_event_open, no "
      "hardware counters needed) on every thread listed in /proc/self/task, inherited by the "
      "threads created later, so greenrun's OS threads, which exist before the workload "
      "starts, are counted as well as Go's. The pass calls the workload once with one "
      "operation per thread and once with a full batch (twice the usual one, or what takes "
      "about 0.2 s), and divides the difference of the two calls' counts by the difference "
      "of their operations: process start-up, Google Benchmark's calibration runs and the "
      "workload's own setup (starting its threads, opening its fds) are not in it, and every "
      "system call of the operations is, whichever thread makes it (a runtime's monitor and "
      "idle threads included). Unlike times, these counts do not depend on the speed of the "
      "machine: they compare across machines, except that some paths depend on timing "
      "(whether a waiter has gone to sleep in the kernel before it is woken), which the "
      "fractional counts show. greenrun's counts also depend on its FS-switch path: with "
      "arch_prctl every switch to another G is one system call, with wrfsbase none (see the "
      "FS switch line above and the next section). Three decimals; 0.000 means fewer than "
      "one call in 2,000 operations.")
    w("")
    missing = v.not_counted()
    if missing:
        w("Not counted: %s." % "; ".join(short(x, 160) for x in missing))
        w("")

    w("## G-to-G switch")
    w("")
    w("yield_pingpong with GREENRUN_PROCS=1: both threads share one P, so every round trip "
      "is exactly two G-to-G switches (each sched_yield switches to the other thread). One "
      "run takes the FS-switch path greenrun chooses, one forces arch_prctl "
      "(GREENRUN_DEBUG=fs=arch_prctl); the banner of each run names the path it used.")
    w("")
    w("| Run | FS switch (banner) | syscalls per round trip | syscalls per switch "
      "| time per round trip | time per switch |")
    w("|---|---|---|---|---|---|")
    for c, what in SWITCH_CONFIGS:
        e = v.entry("switch", "yield_pingpong", c)
        if not e:
            continue
        path = v.path("switch", "yield_pingpong", c) or "no banner"
        if e["status"] != "ok":
            w("| %s (%s) | %s | %s | | | |" % (
                c, what, path, short(v.status("switch", "yield_pingpong", c))))
            continue
        m = e["median"]
        x, t = m.get("syscalls_per_op"), m.get("ns_per_op")
        w("| %s (%s) | %s | %s | %s | %s | %s |" % (
            c, what, path, v.calls_cell("switch", "yield_pingpong", c),
            fmt_calls(None if x is None else x / SWITCHES_PER_ROUND_TRIP), fmt_ns(t),
            fmt_ns(None if t is None else t / SWITCHES_PER_ROUND_TRIP)))
    w("")

    w("## Timers")
    w("")
    w("Sleepers: N threads (goroutines in Go) released at once, each sleeping 10 times for "
      "1 ms; wall time from the release to the last wake-up. Timed waits: 16 threads "
      "repeatedly wait 100 µs on a condvar nobody signals (Go: select on a timer).")
    w("")
    w("| Workload | Config | Wall time | Mean | Overshoot | p50 | p99 | Max |")
    w("|---|---|---|---|---|---|---|---|")
    sleeper_keys = sorted((k for k in v.results.get("micro", {}) if k.startswith("sleepers/")),
                          key=lambda k: int(k.split("/")[1]))
    for key in sleeper_keys:
        for c in ("native", "greenrun", "go"):
            e = v.entry("micro", key, c)
            if not e:
                continue
            if e["status"] != "ok":
                w("| %s | %s | %s | | | | | |" % (key, c, short(e["status"])))
                continue
            m = e["median"]
            w("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                key, c, fmt_us(m.get("wall_ms", 0) * 1e3), fmt_us(m.get("mean_sleep_us")),
                fmt_us(m.get("overshoot_us")), fmt_us(m.get("p50_sleep_us")),
                fmt_us(m.get("p99_sleep_us")), fmt_us(m.get("max_sleep_us"))))
    for c in ("native", "greenrun", "go"):
        e = v.entry("micro", "timedwait_expire", c)
        if not e:
            continue
        if e["status"] != "ok":
            w("| timedwait_expire | %s | %s | | | | | |" % (c, short(e["status"])))
            continue
        m = e["median"]
        w("| timedwait_expire | %s | %s per wait | %s | %s | | | min %s |" % (
            c, fmt_ns(m.get("ns_per_op")), fmt_us(m.get("mean_wait_us")),
            fmt_us(m.get("overshoot_us")), fmt_us(m.get("min_wait_us"))))
    w("")

    w("### Promptness under CPU-bound load")
    w("")
    w("cpu_latency (bench/wl_latency.c): 64 threads compute without end (malloc, memset, free "
      "and their own arithmetic) while the main thread runs 16 rounds of creating a probe "
      "thread and sleeping 50 ms, and a ticker sleeps 1 ms over and over. Start: a probe's "
      "first run after pthread_create; late: how long after its deadline a sleep returned. "
      "The reference column of its targets is native.")
    w("")
    w("| Config | Start p50 | Start max | Sleep late max | Tick late p50 | Tick late p99 "
      "| Tick late max |")
    w("|---|---|---|---|---|---|---|")
    for c in ("native", "greenrun", "go"):
        e = v.entry("micro", "cpu_latency", c)
        if not e:
            continue
        if e["status"] != "ok":
            w("| %s | %s | | | | | |" % (c, short(e["status"])))
            continue
        m = e["median"]
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            c, *(fmt_us(None if m.get(k) is None else m[k] * 1e3) for k in (
                "start_p50_ms", "start_max_ms", "sleep_late_max_ms", "tick_late_p50_ms",
                "tick_late_p99_ms", "tick_late_max_ms"))))
    w("")

    w("## Allocator")
    w("")
    w("Each allocator workload runs in five configurations, each its own process: glibc (the "
      "native run), jemalloc and mimalloc (Debian's libjemalloc2 and libmimalloc2.0, "
      "LD_PRELOADed alone), greenrun (the run under the preload: %s) and gr-system (greenrun "
      "with GREENRUN_MALLOC=system: greenrun's scheduler over glibc malloc%s). The workloads "
      "are in bench/wl_malloc.c; all but the first three run exactly one iteration (operation "
      "counts at scale %s), so every configuration does the same work. Peak RSS is the "
      "process's VmHWM at the end (the benchmark binary's own few MiB included, the same in "
      "every configuration)." % (
          "greenrun's allocator" if env.get("greenrun_allocator") == "yes"
          else "greenrun has no allocator yet, so that run uses glibc malloc",
          "; **skipped**: %s" % env["gr_system_skipped"] if env.get("gr_system_skipped")
          else "", env.get("alloc_scale", "1")))
    w("")
    cfgs = [c for c, _ in ALLOC_CONFIGS]
    heads = " | ".join(h for _, h in ALLOC_CONFIGS)
    w("Time per operation (median; lower is better):")
    w("")
    w("| Workload | What | %s | greenrun/jemalloc | greenrun/mimalloc | greenrun/glibc |" % heads)
    w("|---|---|%s---|---|---|" % ("---|" * len(cfgs)))
    for name, what in MALLOC:
        g = v.val("malloc", name, "greenrun", "ns_per_op")
        w("| %s | %s | %s | %s | %s | %s |" % (
            name, what, " | ".join(v.cell("malloc", name, c, "ns_per_op", fmt_ns) for c in cfgs),
            fmt_ratio(g, v.val("malloc", name, "jemalloc", "ns_per_op")),
            fmt_ratio(g, v.val("malloc", name, "mimalloc", "ns_per_op")),
            fmt_ratio(g, v.val("malloc", name, "native", "ns_per_op"))))
    w("")
    w("Peak RSS (VmHWM; lower is better):")
    w("")
    w("| Workload | %s | greenrun/jemalloc | greenrun/mimalloc | greenrun/glibc |" % heads)
    w("|---|%s---|---|---|" % ("---|" * len(cfgs)))
    for name, _ in MALLOC:
        g = v.val("malloc", name, "greenrun", "peak_rss_kb")
        w("| %s | %s | %s | %s | %s |" % (
            name, " | ".join(v.cell("malloc", name, c, "peak_rss_kb", fmt_kib) for c in cfgs),
            fmt_ratio(g, v.val("malloc", name, "jemalloc", "peak_rss_kb")),
            fmt_ratio(g, v.val("malloc", name, "mimalloc", "peak_rss_kb")),
            fmt_ratio(g, v.val("malloc", name, "native", "peak_rss_kb"))))
    w("")
    w("Fragmentation, the memory kept: live is what the program holds after the third phase "
      "(the sizes it asked for); RSS growth is VmRSS then minus VmRSS at the start; their "
      "ratio is the allocator's overhead, pages pinned by the 10% that survived included.")
    w("")
    w("| Config | Live | RSS growth | RSS growth / live |")
    w("|---|---|---|---|")
    for c, head in ALLOC_CONFIGS:
        e = v.entry("malloc", "fragmentation", c)
        if not e:
            continue
        if e["status"] != "ok":
            w("| %s | %s | | |" % (head, short(v.status("malloc", "fragmentation", c), 90)))
            continue
        m = e["median"]
        w("| %s | %s | %s | %s |" % (head, fmt_kib(m.get("live_kb")),
                                      fmt_kib(m.get("rss_after_kb")),
                                      fmt_ratio(m.get("rss_after_kb"), m.get("live_kb"))))
    w("")
    w("echo_alloc: the echo benchmark's client against `echo-server -a`, a thread per "
      "connection that mallocs its 16 KiB read buffer and passes every message through seven "
      "heap objects of varying sizes (request, copy, four fragments, response); %s s warm-up, "
      "%s s measured. CPU and peak RSS are the server's." % (
          env.get("echo_warmup"), env.get("echo_seconds")))
    w("")
    w("| Conns | Server | req/s | CPU µs/req | p50 | p99 | starved conns | peak RSS "
      "| CPU/req vs jemalloc | CPU/req vs mimalloc |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for key in sorted(v.results.get("echo_alloc", {}), key=int):
        for c, head in ALLOC_CONFIGS:
            e = v.entry("echo_alloc", key, c)
            if not e:
                continue
            if e["status"] != "ok":
                w("| %s | %s | %s | | | | | | | |" % (
                    key, head, short(v.status("echo_alloc", key, c), 90)))
                continue
            m = e["median"]
            cpu = m.get("server_cpu_us_per_req")
            w("| %s | %s | %s | %.2f | %s | %s | %s | %s | %s | %s |" % (
                key, head, fmt_int(m.get("rps")), cpu if cpu is not None else float("nan"),
                fmt_us(m.get("lat_p50_us")), fmt_us(m.get("lat_p99_us")),
                fmt_int(m.get("starved_conns")), fmt_kib(m.get("server_peak_rss_kb")),
                fmt_ratio(cpu, v.val("echo_alloc", key, "jemalloc", "server_cpu_us_per_req")),
                fmt_ratio(cpu, v.val("echo_alloc", key, "mimalloc", "server_cpu_us_per_req"))))
    w("")
    w("Thread churn and echo with greenrun's allocator against greenrun over glibc malloc "
      "(gr-system), the same scheduler: create_join's time per create+join, and the echo "
      "server's CPU per request and peak RSS.")
    w("")
    w("| Benchmark | greenrun | gr-system | greenrun/gr-system | peak RSS greenrun "
      "| peak RSS gr-system |")
    w("|---|---|---|---|---|---|")
    w("| create_join | %s | %s | %s | %s | %s |" % (
        v.cell("micro", "create_join", "greenrun", "ns_per_op", fmt_ns),
        v.cell("micro", "create_join", "gr-system", "ns_per_op", fmt_ns),
        fmt_ratio(v.val("micro", "create_join", "greenrun", "ns_per_op"),
                  v.val("micro", "create_join", "gr-system", "ns_per_op")),
        v.cell("micro", "create_join", "greenrun", "peak_rss_kb", fmt_kib),
        v.cell("micro", "create_join", "gr-system", "peak_rss_kb", fmt_kib)))
    for key in sorted(v.results.get("echo", {}), key=int):
        w("| echo %s conns (CPU/req) | %s | %s | %s | %s | %s |" % (
            key, v.cell("echo", key, "greenrun", "server_cpu_us_per_req", fmt_us),
            v.cell("echo", key, "gr-system", "server_cpu_us_per_req", fmt_us),
            fmt_ratio(v.val("echo", key, "greenrun", "server_cpu_us_per_req"),
                      v.val("echo", key, "gr-system", "server_cpu_us_per_req")),
            v.cell("echo", key, "greenrun", "server_peak_rss_kb", fmt_kib),
            v.cell("echo", key, "gr-system", "server_peak_rss_kb", fmt_kib)))
    w("")

    w("## Echo server")
    w("")
    w("A thread-per-connection echo server (bench/echo_server.c; Go: a goroutine per "
      "connection) driven by one epoll client thread (bench/echo_client.c) over 127.0.0.1: "
      "each connection sends a 64-byte request and waits for its echo, %s s warm-up, %s s "
      "measured. Server CPU is utime+stime of the server process over the window. Fairness is "
      "the fewest requests any connection completed divided by the most (1.0 = even); a "
      "starved connection completed none in the window, which the latency percentiles (over "
      "completed requests) cannot show. Jain's index is also in latest.json. Peak OS threads "
      "and RSS (VmHWM) are the server's."
      % (env.get("echo_warmup"), env.get("echo_seconds")))
    w("")
    w("| Conns | Server | req/s | CPU µs/req | p50 | p99 | mean | per-conn min–max "
      "| starved conns | fairness | peak OS threads | peak RSS |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|")
    echo_keys = sorted(v.results.get("echo", {}), key=int)
    for key in echo_keys:
        for c in ("native", "greenrun", "gr-system", "go"):
            e = v.entry("echo", key, c)
            if not e:
                continue
            if e["status"] != "ok":
                w("| %s | %s | %s | | | | | | | | | |" % (key, c,
                                                       short(v.status("echo", key, c), 90)))
                continue
            m = e["median"]
            w("| %s | %s | %s | %.2f | %s | %s | %s | %s–%s | %s | %.2f | %s | %s |" % (
                key, c, fmt_int(m.get("rps")), m.get("server_cpu_us_per_req", float("nan")),
                fmt_us(m.get("lat_p50_us")), fmt_us(m.get("lat_p99_us")),
                fmt_us(m.get("lat_mean_us")), fmt_int(m.get("conn_min")),
                fmt_int(m.get("conn_max")), fmt_int(m.get("starved_conns")),
                m.get("fairness_minmax", 0),
                fmt_int(m.get("server_peak_threads")), fmt_kib(m.get("server_peak_rss_kb"))))
    w("")
    w("| Conns | req/s greenrun/native | req/s greenrun/Go | CPU/req greenrun/native "
      "| CPU/req greenrun/Go | p99 greenrun/native | p99 greenrun/Go |")
    w("|---|---|---|---|---|---|---|")
    for key in echo_keys:
        row = [key]
        for metric in ("rps", "server_cpu_us_per_req", "lat_p99_us"):
            g = v.val("echo", key, "greenrun", metric)
            cells = []
            for ref in ("native", "go"):
                starved = (v.val("echo", key, "greenrun", "starved_conns") or 0) + \
                    (v.val("echo", key, ref, "starved_conns") or 0)
                if metric == "lat_p99_us" and starved:
                    cells.append("- (starved conns)")
                else:
                    cells.append(fmt_ratio(g, v.val("echo", key, ref, metric)))
            row += cells
        w("| " + " | ".join(row) + " |")
    w("")

    render_servers(v, env, w)

    w("## Blocked threads")
    w("")
    w("The most threads one process holds blocked in pthread_cond_wait (Go: goroutines blocked "
      "on a channel), created with default attributes, and the RSS each adds (VmRSS growth / "
      "threads). Creation stops at the target, when pthread_create fails, after a %s s "
      "creation budget, or when the machine's MemAvailable falls under 2 GiB; \"Stopped by\" "
      "says which. Native runs at a safe %s threads because of kernel.pid_max; greenrun and Go "
      "aim at %s." % (env.get("blocked_budget_s", "?"),
                      fmt_int(int(env.get("native_blocked", 0))),
                      fmt_int(int(env.get("blocked", 0)))))
    w("")
    w("| Config | Target | Held | RSS per thread | OS threads | Peak RSS | Create | Release+join "
      "| Stopped by |")
    w("|---|---|---|---|---|---|---|---|---|")
    for c in ("native", "greenrun", "go"):
        e = v.entry("blocked", "blocked", c)
        if not e:
            continue
        if e["status"] != "ok":
            w("| %s | | %s | | | | | | |" % (c, short(e["status"], 90)))
            continue
        m = e["median"]
        stop = ""
        for r in e["runs"]:
            stop = r.get("info", {}).get("stopped_by", stop)
        w("| %s | %s | %s | %s B | %s | %s | %.2f s | %.2f s | %s |" % (
            c, fmt_int(m.get("target")), fmt_int(m.get("held")),
            fmt_int(m.get("rss_per_thread_bytes")), fmt_int(m.get("os_threads")),
            fmt_kib(m.get("vm_hwm_kb")), m.get("create_s", 0), m.get("release_join_s", 0),
            stop))
    w("")

    # scripts/trace-overhead.sh measures GREENRUN_TRACE by hand, scripts/gc-bench.sh the leak
    # check (make bench's group gc): their sections are carried over.
    for name in ("trace-overhead.md", "gc.md"):
        md = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench", "results",
                          name)
        if os.path.exists(md):
            with open(md) as f:
                w(f.read().rstrip("\n"))
            w("")

    w("## Notes")
    w("")
    w("- Native runs stay within kernel.pid_max (%s): native thread counts are capped at %s, "
      "the native echo server at %s connections, the native blocked-thread run at %s. "
      "Those cells say \"skipped\"; no sysctl or ulimit was changed." % (
          machine["sysctl"]["kernel.pid_max"], env.get("native_max_threads"),
          env.get("native_max_conns"), env.get("native_blocked")))
    w("- A configuration that crashed, timed out, failed its own correctness check (counts, "
      "payloads, a wait that ended early) or ran without its preload is shown as "
      "\"failed: reason\" and never as a number.")
    w("- Times are wall-clock (Google Benchmark manual time measured by the workload around "
      "its timed region with CLOCK_MONOTONIC; setup of helper threads is not timed).")
    w("- The same C workloads (bench/*.c) run natively and under LD_PRELOAD; the Go versions "
      "live in bench/go/. Rerun everything with `%s` (this run took %s min); "
      "`make bench-quick` is the one-minute subset." % (
          env.get("command", "make bench"),
          "%.0f" % (float(env.get("runs_seconds", 0)) / 60)))
    w("- Debian's libbenchmark warns that it was built as DEBUG; that affects only Google "
      "Benchmark's own bookkeeping, not the timed regions, which the workloads measure.")
    w("- Raw numbers, every run and the machine description: bench/results/latest.json.")
    w("")
    return "\n".join(out)


def render_servers(v, env, w):
    """The thread-pool and database-shaped servers: absolute numbers, then ratios to native."""
    w("## Thread-pool and database-shaped servers")
    w("")
    w("Two servers shaped like the ones issue 13 measured, each run natively, under greenrun "
      "and as a Go counterpart, driven by the echo benchmark's client (one epoll thread, "
      "closed loop, 64-byte requests, %s s warm-up, %s s measured) over 127.0.0.1." % (
          env.get("echo_warmup"), env.get("echo_seconds")))
    w("")
    w("- **pool** (bench/pool_server.c; Go: bench/go/pool): an acceptor thread puts every "
      "connection on a work queue, a mutex, a condition variable and a ring of descriptors; "
      "%s worker threads take connections off it, wait for the next request with poll() and "
      "a 100 ms timeout, read it with recv(), echo it with send() and put the keep-alive "
      "connection back at the queue's tail (an idle one too, when poll times out). Every "
      "request goes through the queue's lock and condvar and one poll, recv and send. Go: "
      "goroutines, sync.Mutex and sync.Cond, a read deadline for the poll." % (
          env.get("pool_workers", "64")))
    w("- **db** (bench/db_server.c; Go: bench/go/db): a thread per connection waits for a "
      "request with poll() (1 s timeout), reads its 64 bytes with recv() and runs a small "
      "transaction: the transaction table's raw futex lock at begin and end, one of the "
      "buffer pool's 8 page frames (a mutex and a condvar: with more connections than "
      "frames, transactions wait), a page latch (a raw futex lock) across a 4 KiB pread() of "
      "the page and, for a write, a pwrite() of the row and group commit (the log mutex, a "
      "condvar wait until the log writer thread has written the record with pwrite()). "
      "%s%% of the requests are writes. The client checks every returned row byte for byte "
      "(bench/dbproto.h). Go has no raw futex for programs: its latches are sync.Mutex." % (
          env.get("db_write_pct", "10")))
    w("")
    w("Server CPU is the server process's utime+stime (/proc/PID/stat) over the measured "
      "window, divided by the requests completed in it. Run only these groups with "
      "`scripts/bench.sh --quick --only pool,db` (about 20 s; the report goes to "
      "build/bench/results-only/).")
    w("")
    groups = [(g, what) for g, what in SERVER_GROUPS if v.results.get(g)]
    if not groups:
        w("Not run in this report.")
        w("")
        return
    w("| Server | Conns | Config | req/s | CPU µs/req | p50 | p99 | starved conns | fairness "
      "| peak OS threads |")
    w("|---|---|---|---|---|---|---|---|---|---|")
    for group, _ in groups:
        for key in server_keys(v, env, group):
            for c in ("native", "greenrun", "go"):
                e = v.entry(group, key, c)
                if not e:
                    continue
                if e["status"] != "ok":
                    w("| %s | %s | %s | %s | | | | | | |" % (
                        group, key, c, short(v.status(group, key, c), 90)))
                    continue
                m = e["median"]
                w("| %s | %s | %s | %s | %.2f | %s | %s | %s | %.2f | %s |" % (
                    group, key, c, fmt_int(m.get("rps")),
                    m.get("server_cpu_us_per_req", float("nan")), fmt_us(m.get("lat_p50_us")),
                    fmt_us(m.get("lat_p99_us")), fmt_int(m.get("starved_conns")),
                    m.get("fairness_minmax", 0), fmt_int(m.get("server_peak_threads"))))
    w("")
    w("| Server | Conns | req/s greenrun/native | req/s Go/native | CPU/req greenrun/native "
      "| CPU/req Go/native | p99 greenrun/native |")
    w("|---|---|---|---|---|---|---|")
    for group, _ in groups:
        for key in server_keys(v, env, group):
            row = [group, key]
            for metric in ("rps", "server_cpu_us_per_req"):
                native = v.val(group, key, "native", metric)
                row += [fmt_ratio(v.val(group, key, c, metric), native)
                        for c in ("greenrun", "go")]
            row.append(fmt_ratio(v.val(group, key, "greenrun", "lat_p99_us"),
                                 v.val(group, key, "native", "lat_p99_us")))
            w("| " + " | ".join(row) + " |")
    w("")


# ---------------------------------------------------------------------------------------------
# The chart.

def write_chart(v, raw, png, title, has_greenrun):
    micro_dat = os.path.join(raw, "plot-micro.dat")
    echo_dat = os.path.join(raw, "plot-echo.dat")

    def num(x):
        return "?" if x is None else "%.6g" % x

    with open(micro_dat, "w") as f:
        f.write("# workload native greenrun go (ns per operation)\n")
        for name, _, _ in MICRO:
            f.write('"%s" %s\n' % (name, " ".join(num(v.val("micro", name, c, "ns_per_op"))
                                                 for c in ("native", "greenrun", "go"))))
    starved_any = False
    with open(echo_dat, "w") as f:
        f.write("# conns rps(native greenrun go) p99_us(native greenrun go)\n")
        for key in sorted(v.results.get("echo", {}), key=int):
            vals = [v.val("echo", key, c, "rps") for c in ("native", "greenrun", "go")]
            for c in ("native", "greenrun", "go"):
                if v.val("echo", key, c, "starved_conns"):
                    starved_any = True
                    vals.append(None)
                else:
                    vals.append(v.val("echo", key, c, "lat_p99_us"))
            f.write('"%s" %s\n' % (key, " ".join(num(x) for x in vals)))
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "plot-bench.gp")
    label = "greenrun"
    if not has_greenrun:
        title += " - greenrun: no data (its runs failed)"
    p99note = " - no bar: connections starved" if starved_any else ""
    expr = "micro='%s'; echo='%s'; out='%s'; title='%s'; grlabel='%s'; p99note='%s'" % (
        micro_dat, echo_dat, png, title.replace("'", ""), label, p99note)
    try:
        res = subprocess.run(["gnuplot", "-e", expr, script], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return "gnuplot could not run: %s" % e
    if res.returncode != 0 or not os.path.exists(png):
        return "gnuplot failed: %s" % res.stderr.strip()[-300:]
    return None


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw", required=True, help="directory written by scripts/bench.sh")
    ap.add_argument("--out", required=True, help="where latest.{json,md,png} go")
    ap.add_argument("--docs", help="also write the page here (full runs)")
    args = ap.parse_args()

    env = read_env(args.raw)
    rows = read_runs(args.raw)
    results = aggregate(rows)
    v = View(results, env)
    # The machine is described once, at the first rendering of a run, and kept with its data.
    machine_path = os.path.join(args.raw, "machine.json")
    machine = read_json(machine_path)
    if not isinstance(machine, dict):
        machine = machine_info()
        with open(machine_path, "w") as f:
            json.dump(machine, f, indent=1)
    targets = evaluate_targets(v, env)
    os.makedirs(args.out, exist_ok=True)

    png = os.path.join(args.out, "latest.png")
    if os.path.exists(png):
        os.remove(png)
    has_greenrun = any(e.get("status") == "ok" for g in results.values() for w in g.values()
                       for c, e in w.items() if c == "greenrun")
    title = "greenrun benchmarks, %s (%s, %s CPUs)" % (
        env.get("started_utc", "").split("T")[0], env.get("mode"), machine["cpus"])
    only = only_groups(env)
    if only and not {"micro", "echo"} <= only:
        chart_err = "the chart needs the micro and echo groups, and --only left one out"
    else:
        chart_err = write_chart(v, args.raw, os.path.abspath(png), title, has_greenrun)
    if chart_err:
        print("bench-report: no chart: " + chart_err, file=sys.stderr)

    doc = {
        "schema": 1,
        "generated_utc": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "run": env,
        "machine": machine,
        "targets": targets,
        "targets_met": sum(1 for t in targets if t["met"]),
        "targets_total": len(targets),
        "results": results,
        "chart": None if chart_err else "latest.png",
    }
    with open(os.path.join(args.out, "latest.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False, default=list)
        f.write("\n")
    page = render(v, env, machine, targets, None if chart_err else "latest.png")
    with open(os.path.join(args.out, "latest.md"), "w") as f:
        f.write(page)
    if args.docs:
        rel = os.path.relpath(os.path.join(args.out, "latest.png"),
                              os.path.dirname(os.path.abspath(args.docs)) or ".")
        docs_page = render(v, env, machine, targets, None if chart_err else rel)
        os.makedirs(os.path.dirname(os.path.abspath(args.docs)), exist_ok=True)
        with open(args.docs, "w") as f:
            f.write(docs_page)
    met = doc["targets_met"]
    print("bench-report: %s/latest.{json,md%s}%s; targets met: %d of %d" % (
        args.out, "" if chart_err else ",png", " and " + args.docs if args.docs else "",
        met, len(targets)))
    for t in targets:
        print("  %-70s %s" % (t["target"], t["status"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
