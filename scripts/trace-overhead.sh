#!/bin/bash
# scripts/trace-overhead.sh [--out FILE]: what GREENRUN_TRACE and the blocking profile
# (GREENRUN_DEBUG=blocking) cost, each measured against both off on the same library: the condition-variable ping-pong (greenrun-bench
# condvar_pingpong, two threads switching) and the echo server (bench/echo_server.c under
# greenrun, bench/echo_client.c native, 127.0.0.1 only). ROUNDS interleaved rounds (default 5);
# every number is the median. Prints a Markdown section (bench-report.py carries
# bench/results/trace-overhead.md into docs/benchmarks.md); --out writes it to FILE too.
#
# Environment: ROUNDS (5), ECHO_SECONDS (3), CONNS (50), PROCS (2). The trace files go to a
# temporary directory on the same file system as /tmp and are removed after each run.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
out=
[ "${1:-}" = --out ] && out=$2
rounds=${ROUNDS:-5}
secs=${ECHO_SECONDS:-3}
conns=${CONNS:-50}
procs=${PROCS:-2}
B=$root/build/bench
lib=$root/build/libgreenrun.so

make -s -C "$root" build/libgreenrun.so >/dev/null || exit 2
make -s -C "$root" -f bench/bench.mk build/bench/echo-server build/bench/echo-client \
    build/bench/greenrun-bench >/dev/null || exit 2
tmp=$(mktemp -d)
raw=$tmp/raw
trap 'rm -rf "$tmp"' EXIT

# env_for LABEL [TRACE]: the environment of a run: off, on (the trace, into TRACE) or prof (the
# blocking profile recorded and printed at exit).
env_for() {
    envv=(env -u GREENRUN_DEBUG GREENRUN_PROCS="$procs" LD_PRELOAD="$lib")
    [ -n "${2:-}" ] && envv+=(GREENRUN_TRACE="$2")
    [ "$1" = prof ] && envv+=(GREENRUN_DEBUG=blocking)
}

# micro LABEL [TRACE]: one condvar_pingpong run; prints "micro LABEL ROUND NS_PER_OP".
micro() {
    local -a envv
    env_for "$@"
    timeout 120 "${envv[@]}" "$B/greenrun-bench" --benchmark_filter='^condvar_pingpong' \
        --benchmark_min_time=0.5 2>/dev/null |
        awk -v l="$1" -v r="$round" '/condvar_pingpong/ { for (i = 1; i <= NF; i++)
            if ($i ~ /^ns_per_op=/) { v = $i; sub("ns_per_op=", "", v)
                if (v ~ /k$/) { sub("k", "", v); v *= 1000 }
                print "micro", l, r, v } }'
    [ -n "${2:-}" ] && rm -f "$2"
}

# echo_run LABEL [TRACE]: one echo run; prints "echo LABEL ROUND RPS SERVER_CPU_US_PER_REQ
# BYTES".
echo_run() {
    local -a envv
    local port= spid= tpid i bytes=0
    env_for "$@"
    timeout 60 "${envv[@]}" "$B/echo-server" -p 0 >"$tmp/server.out" 2>/dev/null &
    tpid=$!
    for i in $(seq 100); do
        port=$(awk '/^port /{ print $2; exit }' "$tmp/server.out" 2>/dev/null)
        [ -n "$port" ] && break
        sleep 0.1
    done
    spid=$(pgrep -P "$tpid")
    if [ -n "$port" ] && [ -n "$spid" ]; then
        timeout $((secs + 30)) "$B/echo-client" -p "$port" -c "$conns" -d "$secs" -w 1 \
            -P "$spid" >"$tmp/client.json" 2>/dev/null
    fi
    [ -n "$spid" ] && kill "$spid" 2>/dev/null
    wait "$tpid" 2>/dev/null
    [ -n "${2:-}" ] && [ -f "$2" ] && bytes=$(stat -c %s "$2")
    python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
if d.get("ok") and d.get("server_preloaded") == "libgreenrun":
    print("echo", sys.argv[2], sys.argv[4], d["rps"], d["server_cpu_us_per_req"], sys.argv[3])
' "$tmp/client.json" "$1" "$bytes" "$round" 2>/dev/null
    [ -n "${2:-}" ] && rm -f "$2"
    rm -f "$tmp/client.json"
}

for round in $(seq "$rounds"); do
    micro off
    micro on "$tmp/micro.json"
    micro prof
    echo_run off
    echo_run on "$tmp/echo.json"
    echo_run prof
done >"$raw"

python3 - "$raw" "$rounds" "$secs" "$conns" "$procs" <<'EOF' | tee ${out:+"$out"}
import statistics, sys
raw, rounds, secs, conns, procs = sys.argv[1:6]
runs = {}  # (workload, label) -> {round: values}
for line in open(raw):
    f = line.split()
    runs.setdefault((f[0], f[1]), {})[f[2]] = [float(x) for x in f[3:]]

def med(work, label, i):
    xs = [v[i] for v in runs.get((work, label), {}).values()]
    return statistics.median(xs) if xs else float("nan")

def ratio(work, i, label="on"):
    # Median of the per-round on/off ratios: a round's runs are neighbours in time, so the
    # load other processes put on the machine cancels better than in a ratio of medians.
    off, on = runs.get((work, "off"), {}), runs.get((work, label), {})
    rs = [on[r][i] / off[r][i] for r in on if r in off and off[r][i] > 0]
    return (statistics.median(rs) if rs else float("nan")), len(rs)

print("## Trace and blocking-profile overhead")
print()
print("`GREENRUN_TRACE` on against off, same library, GREENRUN_PROCS=%s, %s interleaved "
      "rounds (`scripts/trace-overhead.sh`, measured by hand, not by `make bench`): the "
      "columns are medians, on/off the median of each round's ratio. Off, each event site is "
      "one load and a branch not taken. The blocking profile (`GREENRUN_DEBUG=blocking`) is "
      "measured the same way, against the same off runs; its target is under 3%% on the echo "
      "server, the trace's under 15%%." % (procs, rounds))
print()
print("| Workload | off | on | on/off | rounds | trace written |")
print("|---|---|---|---|---|---|")
r, n = ratio("micro", 0)
print("| condvar ping-pong, ns/op | %.0f | %.0f | %.2fx | %d | |" % (
    med("micro", "off", 0), med("micro", "on", 0), r, n))
r, n = ratio("echo", 0)
sizes = [v[2] / 1e6 / (int(secs) + 1) for v in runs.get(("echo", "on"), {}).values()]
print("| echo, %s conns, req/s | %.0f | %.0f | %.2fx | %d | %.0f MB/s |" % (
    conns, med("echo", "off", 0), med("echo", "on", 0), r, n,
    statistics.median(sizes) if sizes else float("nan")))
r, n = ratio("echo", 1)
print("| echo, server CPU µs/req | %.2f | %.2f | %.2fx | %d | |" % (
    med("echo", "off", 1), med("echo", "on", 1), r, n))
print()
print("| Workload | off | profile on | on/off | rounds |")
print("|---|---|---|---|---|")
r, n = ratio("micro", 0, "prof")
print("| condvar ping-pong, ns/op | %.0f | %.0f | %.2fx | %d |" % (
    med("micro", "off", 0), med("micro", "prof", 0), r, n))
r, n = ratio("echo", 0, "prof")
print("| echo, %s conns, req/s | %.0f | %.0f | %.2fx | %d |" % (
    conns, med("echo", "off", 0), med("echo", "prof", 0), r, n))
r, n = ratio("echo", 1, "prof")
print("| echo, server CPU µs/req | %.2f | %.2f | %.2fx | %d |" % (
    med("echo", "off", 1), med("echo", "prof", 1), r, n))
EOF
