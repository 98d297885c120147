#!/bin/bash
# scripts/gc-bench.sh [--out FILE]: the leak check's benchmarks (GREENRUN_GC=leak), greenrun-bench
# workloads run ROUNDS interleaved rounds (default 3); every number is the median.
#   - the allocation fast path (malloc_fastpath, 64-byte malloc+free pairs): native, greenrun
#     with GREENRUN_GC=off, with GREENRUN_GC=leak, and natively under valgrind
#     --leak-check=full (memcheck's own allocator and leak check), in ns per pair;
#   - report generation (gc_report/N): one greenrun_gc() on a heap of N live objects with
#     1,000 lost ones from ten stacks;
#   - mark throughput (gc_mark): a linked list of 1,000,000 32-byte nodes, greenrun's check
#     and Debian's bdwgc (libgc.so.1, GC_gcollect) in the same process.
# Prints a Markdown section (bench-report.py carries bench/results/gc.md into
# docs/benchmarks.md); --out writes it to FILE too. make bench runs it (group gc).
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
out=
[ "${1:-}" = --out ] && out=$2
rounds=${ROUNDS:-3}
B=$root/build/bench
lib=$root/build/libgreenrun.so

make -s -C "$root" build/libgreenrun.so >/dev/null || exit 2
make -s -C "$root" -f bench/bench.mk build/bench/greenrun-bench >/dev/null || exit 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run NAME FILTER PREFIX...: one greenrun-bench process; its JSON goes to $tmp/NAME.rROUND.json.
run() {
    local name=$1 filter=$2
    shift 2
    timeout -k 5 600 "$@" "$B/greenrun-bench" --benchmark_filter="$filter" \
        --benchmark_min_time=0.2 --benchmark_out="$tmp/$name.r$round.json" \
        --benchmark_out_format=json >"$tmp/$name.r$round.log" 2>&1 ||
        echo "gc-bench: $name failed in round $round (log: $(tail -n 1 "$tmp/$name.r$round.log"))" >&2
}

fast='^malloc_fastpath/'
for round in $(seq "$rounds"); do
    run native "$fast" env -u LD_PRELOAD
    run off "$fast" env GREENRUN_GC=off "LD_PRELOAD=$lib"
    run leak "$fast" env GREENRUN_GC=leak "LD_PRELOAD=$lib"
    run valgrind "$fast" valgrind -q --leak-check=full
    run gc "^gc_" env GREENRUN_GC=leak "LD_PRELOAD=$lib"
done

python3 - "$tmp" "$rounds" "$out" <<'EOF'
import json, os, statistics, sys

tmp, rounds, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
NOTES = """`malloc_fastpath` runs under Google Benchmark, about 20 frames deep in code without frame
pointers (the benchmark binary, Debian's libbenchmark), so each leak-mode record is
libunwind's walk of the whole stack: valgrind/leak is lowest there (memcheck records 12
frames by default, greenrun 24); a short stack, or a program built with
`-fno-omit-frame-pointer` (recorded by a frame-pointer walk), costs less (docs/design.md,
"Cost"). bdwgc marks with every CPU (its parallel marker); the leak check marks on one
thread."""

def val(name, bench, counter):
    """Median over the rounds of counter in the benchmark whose name starts with bench."""
    vals = []
    for r in range(1, rounds + 1):
        try:
            with open(os.path.join(tmp, "%s.r%d.json" % (name, r))) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        for b in data.get("benchmarks", []):
            if b["name"].startswith(bench + "/") and "error_occurred" not in b and counter in b:
                vals.append(b[counter])
    return statistics.median(vals) if vals else None

def fmt(v, spec="%.1f"):
    return "failed" if v is None else spec % v

def ratio(a, b):
    return "" if a is None or b is None or b == 0 else "%.1fx" % (a / b)

lines = ["## Leak check (GREENRUN_GC=leak)", "",
         "`scripts/gc-bench.sh` (make bench, group gc), %d interleaved round(s), medians. "
         "Every allocation in leak mode records its stack: frame pointers where every frame "
         "keeps one, else libunwind (runtime/gc.c)." % rounds, ""]
n, o, l, v = (val(c, "malloc_fastpath", "ns_per_op") for c in ("native", "off", "leak", "valgrind"))
lines += ["| malloc+free, 64 B | native | GREENRUN_GC=off | leak | valgrind --leak-check=full "
          "| leak/off | valgrind/leak |", "|---|---|---|---|---|---|---|",
          "| ns per pair | %s | %s | %s | %s | %s | %s |" % (
              fmt(n), fmt(o), fmt(l), fmt(v), ratio(l, o), ratio(v, l)), ""]
lines += ["| Report (greenrun_gc), live objects | wall ms | pause ms |", "|---|---|---|"]
for size in ("100000", "1000000"):
    t = val("gc", "gc_report/" + size, "ns_per_op")
    lines.append("| %s | %s | %s |" % (
        size, fmt(None if t is None else t / 1e6), fmt(val("gc", "gc_report/" + size, "pause_ms"))))
lines.append("")
g, bd = val("gc", "gc_mark", "greenrun_mb_s"), val("gc", "gc_mark", "bdwgc_mb_s")
lines += ["| Mark, 1,000,000 linked 32-byte nodes (32 MB) | MB/s | ms |", "|---|---|---|",
          "| greenrun leak check (pause: stop, mark, tally) | %s | %s |" % (
              fmt(g, "%.0f"), fmt(val("gc", "gc_mark", "greenrun_pause_ms"))),
          "| bdwgc GC_gcollect (Debian libgc1, same process) | %s | %s |" % (
              fmt(bd, "%.0f"), fmt(val("gc", "gc_mark", "bdwgc_ms"))),
          ""]
lines += [NOTES, ""]
text = "\n".join(lines)
print(text)
if out:
    with open(out, "w") as f:
        f.write(text + "\n")
EOF
