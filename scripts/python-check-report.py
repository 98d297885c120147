#!/usr/bin/env python3
"""scripts/python-check-report.py: the report of scripts/python-check.sh.

Usage: python-check-report.py OUT [WRK_ARGS]

Reads OUT/http.tsv (one line per http.server run: config, round, requests/s, p50, p99, errors,
VmHWM kB, preload mapped, note, error kinds) and OUT/modules.tsv (one line per test module run:
module, config, exit status, wall s, peak RSS kB) with each module run's `-v` log
(OUT/MOD-CFG.log) and, when the run finished, its JUnit XML (OUT/MOD-CFG.xml). Prints:

  - the http.server table: mean requests/s, errors and peak RSS per configuration, and the
    ratios of each preload configuration to native and of greenrun to system;
  - the test module table: result, tests run, failures, errors, skips, wall time, peak RSS;
  - every test case whose status differs from the native run's, with the failure's last
    traceback line and where in the test it failed; a test that started but never printed a
    status (the module hung or crashed in it) is "no result", with the start of the thread
    dump regrtest's --timeout wrote;
  - per module, the test cases that took the most extra time compared with native.

Statuses come from the `-v` lines ("name (id) ... ok"), which survive a hang; a test whose
subtests failed counts as failed. Only the standard library is used.
"""

import os
import re
import statistics
import sys
import xml.etree.ElementTree as ET

CONFIGS = ("native", "system", "greenrun")
# Worse statuses win when a test reports more than once (subtests, then the test itself).
RANK = {"ok": 0, "skipped": 0, "expected failure": 0, "unexpected success": 1,
        "FAIL": 2, "ERROR": 2, "no result": 3}
STATUS_RE = re.compile(r"(ok|FAIL|ERROR|skipped\b.*|expected failure|unexpected success)$")
DESC_RE = re.compile(r"^\s*(\w+) \(([\w.]+)\)(.*)$")
BLOCK_RE = re.compile(r"^(FAIL|ERROR): (\w+) \(([\w.]+)\)")
TIMEOUT_RE = re.compile(r"Timeout \(\d+:\d\d:\d\d\)!.*")


def test_key(name, ident):
    """The id regrtest uses: module.Class.test; setUpClass and the like keep their class."""
    return ident if ident.endswith("." + name) else ident + "." + name


def short_status(s):
    return "skipped" if s.startswith("skipped") else s


def parse_log(path):
    """Return (statuses {id: status}, failures {id: [text]}, summary dict) of a -v log."""
    statuses, failures = {}, {}
    summary = {"ran": None, "result": None, "timeout": None}
    try:
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return statuses, failures, summary

    def record(key, status):
        status = short_status(status)
        old = statuses.get(key)
        if old is None or old == "no result" or RANK[status] >= RANK[old]:
            statuses[key] = status

    current, pending = None, False
    i = 0
    while i < len(lines):
        line = lines[i]
        m = BLOCK_RE.match(line)
        if m and i > 0 and lines[i - 1].startswith("=" * 70):
            # printErrors: "FAIL: name (id)", a dashed line, the traceback, a blank line.
            key = test_key(m.group(2), m.group(3))
            j = i + 2
            body = []
            while j < len(lines) and not lines[j].startswith("=" * 70) and \
                    not lines[j].startswith("-" * 70):
                body.append(lines[j])
                j += 1
            failures.setdefault(key, []).append("\n".join([line] + body).rstrip())
            i = j
            continue
        if summary["timeout"] is None and TIMEOUT_RE.search(line):
            # faulthandler's dump, often on the line of the test it interrupted.
            summary["timeout"] = "\n".join([TIMEOUT_RE.search(line).group(0)] + lines[i + 1:i + 25])
        if line.startswith("Ran ") and " test" in line:
            summary["ran"] = line
        if line.startswith("Tests result:"):
            summary["result"] = line.split(":", 1)[1].strip()
        m = DESC_RE.match(line)
        if m and not line.startswith(("FAIL:", "ERROR:")):
            key = test_key(m.group(1), m.group(2))
            rest = m.group(3)
            if key not in statuses:
                statuses[key] = "no result"
            current = key
            if " ... " in rest:
                tail = rest.rsplit(" ... ", 1)[1].strip()
                sm = STATUS_RE.search(tail)
                if sm:
                    record(key, sm.group(1))
                    pending = False
                else:
                    pending = True
            else:
                pending = True  # a docstring line follows: "first line ... status"
        elif current is not None and pending:
            # The docstring line ("first line ... ok"), or the status on a line of its own
            # after output the test wrote itself.
            tail = line.rsplit(" ... ", 1)[1] if " ... " in line else line
            sm = STATUS_RE.fullmatch(tail.strip())
            if sm:
                record(current, sm.group(1))
                pending = False
        i += 1
    return statuses, failures, summary


def parse_xml(path):
    """Return {id: seconds} from regrtest's JUnit XML, or {} when there is none."""
    times = {}
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return times
    for tc in root.iter("testcase"):
        name, t = tc.get("name"), tc.get("time")
        if name and t:
            key = name.split(" ", 1)[0]
            times[key] = times.get(key, 0.0) + float(t)
    return times


def ran_seconds(summary):
    """The seconds of unittest's "Ran N tests in S s" line, or None."""
    m = re.search(r"in ([\d.]+)s", summary["ran"] or "")
    return float(m.group(1)) if m else None


def read_tsv(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except OSError:
        return []


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def ratio(a, b):
    return f"{a / b:.2f}x" if a is not None and b else "-"


def failure_summary(texts):
    """One line from a failure block: where in the test file, and the exception line."""
    where, last = "", ""
    for text in texts:
        body = []
        for ln in text.splitlines()[1:]:
            if ln in ("Stdout:", "Stderr:"):
                break  # the test's output, captured for the JUnit XML, follows
            if ln.strip() and not ln.startswith("-" * 70):
                body.append(ln)
        for ln in body:
            m = re.match(r'\s*File "([^"]+)", line (\d+), in (\w+)', ln)
            if m and "/test/" in m.group(1):
                where = f"{os.path.basename(m.group(1))}:{m.group(2)} in {m.group(3)}"
        if body:
            last = body[-1].strip()
        if where or last:
            break
    return f"{where}: {last}" if where else last


def http_report(out, wrk_args):
    rows = read_tsv(os.path.join(out, "http.tsv"))
    if not rows:
        return []
    lines = [f"http.server (python3 -m http.server, 127.0.0.1) under wrk {wrk_args}",
             f"  {'config':<9} {'runs':>4} {'req/s':>9} {'p50':>9} {'p99':>9} {'errors':>7} "
             f"{'VmHWM kB':>9}  notes"]
    mean = {}
    for cfg in CONFIGS:
        mine = [r for r in rows if r[0] == cfg]
        if not mine:
            continue
        rps = [num(r[2]) for r in mine if num(r[2]) is not None]
        hwm = [num(r[6]) for r in mine if num(r[6]) is not None]
        errs = sum(int(r[5]) for r in mine if r[5].isdigit())
        kinds = {}
        for r in mine:
            for kind_n in r[9].split(",") if len(r) > 9 and r[9] else []:
                kind, n = kind_n.rsplit(" ", 1)
                kinds[kind] = kinds.get(kind, 0) + int(n)
        notes = "; ".join(sorted({r[8] for r in mine if len(r) > 8 and r[8]}))
        if kinds:
            notes = ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + \
                (f"; {notes}" if notes else "")
        if cfg != "native" and any(r[7] != "yes" for r in mine):
            notes = (notes + "; " if notes else "") + "preload not mapped in a server!"
        mean[cfg] = (statistics.mean(rps) if rps else None,
                     statistics.mean(hwm) if hwm else None)
        p50 = "/".join(r[3] for r in mine)
        p99 = "/".join(r[4] for r in mine)
        r_txt = f"{mean[cfg][0]:.0f}" if mean[cfg][0] is not None else "failed"
        h_txt = f"{mean[cfg][1]:.0f}" if mean[cfg][1] is not None else "-"
        lines.append(f"  {cfg:<9} {len(mine):>4} {r_txt:>9} {p50:>9} {p99:>9} {errs:>7} "
                     f"{h_txt:>9}  {notes}")
    lines.append("  (req/s and VmHWM: means over the runs; p50/p99: each run's)")
    nat = mean.get("native", (None, None))
    for cfg in ("system", "greenrun"):
        if cfg in mean:
            lines.append(f"  {cfg}/native: requests/s {ratio(mean[cfg][0], nat[0])}, "
                         f"peak RSS {ratio(mean[cfg][1], nat[1])}")
    if "system" in mean and "greenrun" in mean:
        g, s = mean["greenrun"], mean["system"]
        lines.append(f"  greenrun/system: requests/s {ratio(g[0], s[0])}, "
                     f"peak RSS {ratio(g[1], s[1])}")
    return lines + [""]


def module_report(out):
    rows = read_tsv(os.path.join(out, "modules.tsv"))
    if not rows:
        return []
    lines = ["CPython test modules (python3 -m test -v MODULE, one process per module)",
             f"  {'module':<15} {'config':<9} {'exit':>6} {'result':<8} {'ran':>5} {'fail':>5} "
             f"{'error':>5} {'skip':>5} {'no res':>6} {'wall s':>7} {'x nat':>6} "
             f"{'peak kB':>8} {'x nat':>6}"]
    diff_lines, slow_lines = [], []
    modules = []
    for r in rows:
        if r[0] not in modules:
            modules.append(r[0])
    for mod in modules:
        runs = {r[1]: r for r in rows if r[0] == mod}
        parsed = {cfg: parse_log(os.path.join(out, f"{mod}-{cfg}.log")) for cfg in runs}
        times = {cfg: parse_xml(os.path.join(out, f"{mod}-{cfg}.xml")) for cfg in runs}
        nat = runs.get("native")
        for cfg in CONFIGS:
            if cfg not in runs:
                continue
            r = runs[cfg]
            st, _, summ = parsed[cfg]
            counts = {k: sum(1 for v in st.values() if v == k)
                      for k in ("FAIL", "ERROR", "skipped", "no result")}
            ran = len(st)
            if summ["result"]:
                result = summ["result"]
            elif r[2] == "124" or summ["timeout"]:
                result = "TIMEOUT"  # timeout(1) or regrtest's own --timeout ended it
            else:
                result = "CRASH" if r[2].startswith("signal") else "none"
            lines.append(
                f"  {mod:<15} {cfg:<9} {r[2]:>6} {result:<8} {ran:>5} {counts['FAIL']:>5} "
                f"{counts['ERROR']:>5} {counts['skipped']:>5} {counts['no result']:>6} "
                f"{r[3]:>7} {ratio(num(r[3]), num(nat[3]) if nat else None):>6} "
                f"{r[4]:>8} {ratio(num(r[4]), num(nat[4]) if nat else None):>6}")
        if "native" not in parsed:
            continue
        nat_st = parsed["native"][0]
        keys = sorted(set().union(*(p[0].keys() for p in parsed.values())))
        others = [c for c in CONFIGS if c in parsed and c != "native"]
        # A run that ended early (a hang, a crash) never reached the rest of the module: those
        # tests are counted in one line, not listed one by one.
        cut_short = {c: 0 for c in parsed}
        for key in keys:
            got = {c: parsed[c][0].get(key, "not run") for c in parsed}
            for c in parsed:
                if got[c] == "not run" and got["native"] != "not run":
                    cut_short[c] += 1
                    got[c] = got["native"]
            if all(got[c] == got["native"] for c in others):
                continue
            worse = [c for c in others if RANK.get(got[c], 0) > RANK.get(got["native"], 0)]
            kind = "WORSE under " + ", ".join(worse) if worse else "differs"
            diff_lines.append(f"  {key}  [{kind}]")
            diff_lines.append("      " + "; ".join(f"{c}: {got[c]}" for c in CONFIGS if c in got))
            for c in worse:
                texts = parsed[c][1].get(key)
                if texts:
                    diff_lines.append(f"      {c}: {failure_summary(texts)}")
                elif got[c] == "no result" and parsed[c][2]["timeout"]:
                    dump = parsed[c][2]["timeout"].splitlines()
                    diff_lines.append(f"      {c}: hung; regrtest's thread dump starts:")
                    diff_lines.extend("        " + ln for ln in dump[:12])
        for c in others:
            if cut_short[c]:
                diff_lines.append(f"  {mod} under {c}: {cut_short[c]} test cases that ran natively "
                                  "never started (the run ended before them)")
        # Where the time went: the test cases' own time against unittest's total (the rest is
        # class and module fixtures and the runner), then the largest per-test increases.
        own = [f"{c} {sum(times[c].values()):.2f}/{ran_seconds(parsed[c][2]):.2f}"
               for c in CONFIGS if times.get(c) and ran_seconds(parsed[c][2]) is not None]
        if own:
            slow_lines.append(f"  {mod}: seconds in test cases/unittest total: " + ", ".join(own))
        if times.get("native"):
            for c in others:
                if not times.get(c):
                    continue
                deltas = sorted(((t - times["native"].get(k, 0.0), k, t)
                                 for k, t in times[c].items() if k in times["native"]),
                                reverse=True)[:5]
                deltas = [d for d in deltas if d[0] >= 0.2]
                if deltas:
                    slow_lines.append(f"  {mod} under {c}: " + ", ".join(
                        f"{k.rsplit('.', 2)[-2]}.{k.rsplit('.', 1)[-1]} "
                        f"{times['native'][k]:.2f}->{t:.2f}s" for d, k, t in deltas))
    lines.append("  (ran/fail/error/skip/no res: test cases from the -v log; no res: started, "
                 "never finished; x nat: ratio to native)")
    lines.append("")
    lines.append("Test cases whose status differs from the native run:")
    lines.extend(diff_lines or ["  none"])
    lines.append("")
    lines.append("Time per module, and the largest per-test slowdowns against native "
                 "(JUnit XML times, >= 0.2 s):")
    lines.extend(slow_lines or ["  none"])
    return lines


def main():
    if len(sys.argv) < 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = sys.argv[1]
    wrk_args = sys.argv[2] if len(sys.argv) > 2 else ""
    lines = http_report(out, wrk_args) + module_report(out)
    print("\n".join(lines) if lines else "python-check: nothing was run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
