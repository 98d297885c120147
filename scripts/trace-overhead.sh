#!/bin/bash
# scripts/trace-overhead.sh [--out FILE]: what GREENRUN_TRACE costs, measured with the trace on
# against off on the same library: the condition-variable ping-pong (greenrun-bench
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

# micro LABEL [TRACE]: one condvar_pingpong run; prints "micro LABEL NS_PER_OP".
micro() {
    local -a envv=(env GREENRUN_PROCS="$procs" LD_PRELOAD="$lib")
    [ -n "${2:-}" ] && envv+=(GREENRUN_TRACE="$2")
    timeout 120 "${envv[@]}" "$B/greenrun-bench" --benchmark_filter='^condvar_pingpong' \
        --benchmark_min_time=0.5 2>/dev/null |
        awk -v l="$1" '/condvar_pingpong/ { for (i = 1; i <= NF; i++) if ($i ~ /^ns_per_op=/) {
            v = $i; sub("ns_per_op=", "", v); if (v ~ /k$/) { sub("k", "", v); v *= 1000 }
            print "micro", l, v } }'
    [ -n "${2:-}" ] && rm -f "$2"
}

# echo_run LABEL [TRACE]: one echo run; prints "echo LABEL RPS SERVER_CPU_US_PER_REQ BYTES".
echo_run() {
    local -a envv=(env GREENRUN_PROCS="$procs" LD_PRELOAD="$lib")
    local port= spid= tpid i bytes=0
    [ -n "${2:-}" ] && envv+=(GREENRUN_TRACE="$2")
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
    print("echo", sys.argv[2], d["rps"], d["server_cpu_us_per_req"], sys.argv[3])
' "$tmp/client.json" "$1" "$bytes" 2>/dev/null
    [ -n "${2:-}" ] && rm -f "$2"
    rm -f "$tmp/client.json"
}

for r in $(seq "$rounds"); do
    micro off
    micro on "$tmp/micro.json"
    echo_run off
    echo_run on "$tmp/echo.json"
done >"$raw"

python3 - "$raw" "$rounds" "$secs" "$conns" "$procs" <<'EOF' | tee ${out:+"$out"}
import statistics, sys
raw, rounds, secs, conns, procs = sys.argv[1:6]
micro = {"off": [], "on": []}
echo = {"off": [], "on": []}
for line in open(raw):
    f = line.split()
    if f[0] == "micro":
        micro[f[1]].append(float(f[2]))
    elif f[0] == "echo":
        echo[f[1]].append((float(f[2]), float(f[3]), int(f[4])))

def med(xs):
    return statistics.median(xs) if xs else float("nan")

print("## Trace overhead")
print()
print("`GREENRUN_TRACE` on against off, same library, GREENRUN_PROCS=%s; median of %s "
      "interleaved rounds (`scripts/trace-overhead.sh`, measured by hand, not by `make bench`). "
      "Off, each event site is one load and a branch not taken." % (procs, rounds))
print()
print("| Workload | off | on | on/off | trace written |")
print("|---|---|---|---|---|")
m_off, m_on = med(micro["off"]), med(micro["on"])
print("| condvar ping-pong, ns/op | %.0f | %.0f | %.2fx | |" % (m_off, m_on, m_on / m_off))
r_off = med([e[0] for e in echo["off"]])
r_on = med([e[0] for e in echo["on"]])
c_off = med([e[1] for e in echo["off"]])
c_on = med([e[1] for e in echo["on"]])
mb = med([e[2] / 1e6 / (int(secs) + 1) for e in echo["on"]])
print("| echo, %s conns, req/s | %.0f | %.0f | %.2fx | %.0f MB/s |" % (conns, r_off, r_on,
                                                                    r_on / r_off, mb))
print("| echo, server CPU µs/req | %.2f | %.2f | %.2fx | |" % (c_off, c_on, c_on / c_off))
print()
print("Runs: micro %d off, %d on; echo %d off, %d on (a run whose client failed or whose "
      "server ran without the library is left out)." % (len(micro["off"]), len(micro["on"]),
                                                        len(echo["off"]), len(echo["on"])))
EOF
