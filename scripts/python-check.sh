#!/usr/bin/env bash
# scripts/python-check.sh: real, unmodified CPython programs natively and under greenrun.
#
# Usage: scripts/python-check.sh [--http-only | --tests-only] [--out DIR] [LIB]
#        environment: PYTHON (default /usr/bin/python3, Debian's), WRK_ARGS (default
#        "-t2 -c50 -d10s"), HTTP_ROUNDS (default 2), MODULES (default "test_threading
#        test_queue test_socket"), MODULE_TIMEOUT (seconds per module run, default 600),
#        IGNORE_TESTS (regrtest -i patterns, space-separated; default below), PRELOAD_CONFIGS
#        (the preload configurations to run beside native; default "system greenrun")
#
# Three configurations, each its own process:
#   native     no preload
#   system     LD_PRELOAD=LIB GREENRUN_MALLOC=system (glibc's malloc)
#   greenrun   LD_PRELOAD=LIB, GREENRUN_MALLOC unset (the default allocator)
# LIB defaults to build/libgreenrun.so. Other GREENRUN_* variables of the caller (PROCS,
# STACK) pass through to both preload configurations. Before using a preload configuration
# the script checks, with GREENRUN_DEBUG=banner and `PYTHON -c pass`, that the library loads
# and accepts the configuration; a configuration that does not is reported and left out.
#
# 1. `PYTHON -m http.server` (ThreadingHTTPServer: a thread per request) serving a 2 KB file
#    from a temporary directory, bound to 127.0.0.1 on a free port, loaded by
#    `wrk WRK_ARGS --latency` for HTTP_ROUNDS rounds (configuration order rotated each round).
#    Reported: requests/s, p50 and p99 latency, errors (wrk's socket errors plus non-2xx/3xx
#    responses), and the server's peak RSS: VmHWM from /proc/PID/status read just before the
#    server is stopped. Every server is stopped by its pid (TERM, then KILL after 5 s).
# 2. CPython's own test modules (Debian package libpython3.11-testsuite), one
#    `PYTHON -m test -v --junit-xml F MODULE` process per module and configuration, under
#    `timeout MODULE_TIMEOUT`; regrtest's own --timeout (30 s less) dumps every thread's
#    Python traceback into the log first when a module hangs. Resources stay at regrtest's
#    default (none: no network). Wall time and peak RSS come from GNU time (`/usr/bin/time
#    -v`, package time); its peak RSS is the largest single process of the run, normally the
#    regrtest process itself (the tests' child interpreters are smaller). The same measure is
#    used for every configuration. Per test case, the status printed by `-v` (kept even when a
#    module hangs) is compared with the native run's; per-test times come from the XML.
#    Left out everywhere by default: test_socket's ThreadedVSOCKSocketStreamTest, which hangs
#    natively in a VM that has a vsock device but no host listening (its accept never returns).
#
# Logs and the report (report.txt, also printed) go to DIR (default build/python-check).
# Loopback only; no sysctl or limit is changed. Exit status: 0 when the run completed (test
# differences and slowness are reported, not failed), 2 when it could not run at all.
set -u

cd "$(dirname "$0")/.." || exit 2

PYTHON=${PYTHON:-/usr/bin/python3}
WRK_ARGS=${WRK_ARGS:--t2 -c50 -d10s}
HTTP_ROUNDS=${HTTP_ROUNDS:-2}
MODULES=${MODULES:-test_threading test_queue test_socket}
MODULE_TIMEOUT=${MODULE_TIMEOUT:-600}
IGNORE_TESTS=${IGNORE_TESTS-*ThreadedVSOCKSocketStreamTest*}
OUT=build/python-check
do_http=1
do_tests=1

while [ $# -gt 0 ]; do
    case $1 in
    --http-only) do_tests=0 ;;
    --tests-only) do_http=0 ;;
    --out) OUT=$2; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 0 ;;
    -*) echo "python-check: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
[ $# -le 1 ] || { echo "python-check: one LIB at most (try --help)" >&2; exit 2; }
lib=${1:-build/libgreenrun.so}

die() {
    echo "python-check: $*" >&2
    exit 2
}

[ -f "$lib" ] || die "$lib not found (run make first)"
lib=$(realpath "$lib")
[ -x "$PYTHON" ] || die "$PYTHON not found"
case $MODULE_TIMEOUT in
'' | *[!0-9]*) die "MODULE_TIMEOUT must be a number of seconds" ;;
esac
[ "$MODULE_TIMEOUT" -ge 60 ] || die "MODULE_TIMEOUT must be at least 60"
if [ $do_http -eq 1 ] && ! command -v wrk >/dev/null 2>&1; then
    echo "python-check: wrk not installed (scripts/deps.sh bench): skipping the HTTP part" >&2
    do_http=0
fi
if [ $do_tests -eq 1 ] && ! "$PYTHON" -c 'import test.test_threading' >/dev/null 2>&1; then
    echo "python-check: CPython's test modules are missing (package libpython3.11-testsuite," \
        "scripts/deps.sh bench): skipping the test modules" >&2
    do_tests=0
fi
TIME=/usr/bin/time
[ -x "$TIME" ] || TIME=
[ -n "$TIME" ] || echo "python-check: /usr/bin/time missing (package time): no peak RSS" \
    "for the test modules" >&2

mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(realpath "$OUT")
# Only the files of an earlier run go: DIR may hold other things.
rm -f "$OUT"/http-*-*.log "$OUT"/http-*-*.wrk "$OUT"/http.tsv "$OUT"/modules.tsv \
    "$OUT"/report.txt "$OUT"/test_*-*.log "$OUT"/test_*-*.xml "$OUT"/test_*-*.time

www=$(mktemp -d)
server_pid=
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null
        wait "$server_pid" 2>/dev/null
    fi
    rm -rf "$www"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The environment changes of each configuration, as arguments for env(1).
config_env() {
    case $1 in
    native) echo "-u GREENRUN_MALLOC" ;;
    system) echo "LD_PRELOAD=$lib GREENRUN_MALLOC=system" ;;
    greenrun) echo "-u GREENRUN_MALLOC LD_PRELOAD=$lib" ;;
    esac
}

# Keep only the preload configurations whose library loads, is active and takes the settings.
configs="native"
for c in ${PRELOAD_CONFIGS:-system greenrun}; do
    case $c in
    system | greenrun) ;;
    *) die "PRELOAD_CONFIGS: '$c' is not a configuration (accepted: system, greenrun)" ;;
    esac
    # shellcheck disable=SC2046
    msg=$(env $(config_env "$c") GREENRUN_DEBUG=banner "$PYTHON" -c pass 2>&1 >/dev/null)
    if grep -q '^greenrun: active' <<<"$msg"; then
        configs="$configs $c"
    else
        echo "python-check: leaving out '$c': the preload is not active: ${msg:-no banner}" >&2
    fi
done
echo "python-check: $("$PYTHON" -VV | head -n 1) ($PYTHON); library $lib" \
    "(sha256 $(sha256sum "$lib" | cut -c1-16)); configurations: $configs"

# ---- 1. http.server under wrk ----

free_port() {
    "$PYTHON" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# Stop the server by its pid: TERM, then KILL after 5 s.
stop_server() {
    kill "$server_pid" 2>/dev/null
    for _ in $(seq 50); do
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null
    wait "$server_pid" 2>/dev/null
    server_pid=
}

# http_run CONFIG ROUND: one server, one wrk run; appends a line to http.tsv.
http_run() {
    local cfg=$1 round=$2 port log wrk_out hwm rps p50 p99 errs kinds active alive
    port=$(free_port) || die "cannot find a free port"
    log=$OUT/http-$cfg-$round.log
    wrk_out=$OUT/http-$cfg-$round.wrk
    # shellcheck disable=SC2046
    (cd "$www" && exec env $(config_env "$cfg") "$PYTHON" -m http.server "$port" \
        --bind 127.0.0.1) >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    if ! kill -0 "$server_pid" 2>/dev/null; then
        wait "$server_pid" 2>/dev/null
        server_pid=
        printf '%s\t%s\tfailed\t-\t-\t-\t-\t-\tserver died at start, see %s\t\n' "$cfg" \
            "$round" "$log" >>"$OUT/http.tsv"
        return
    fi
    active=no
    grep -q libgreenrun "/proc/$server_pid/maps" 2>/dev/null && active=yes
    # shellcheck disable=SC2086
    timeout 120 wrk $WRK_ARGS --latency "http://127.0.0.1:$port/index.html" >"$wrk_out" 2>&1
    hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$server_pid/status" 2>/dev/null)
    if kill -0 "$server_pid" 2>/dev/null; then
        stop_server
        alive=yes
    else
        wait "$server_pid" 2>/dev/null
        server_pid=
        alive=no
    fi
    rps=$(awk '/^Requests\/sec/ {print $2}' "$wrk_out")
    p50=$(awk '$1 == "50%" {print $2}' "$wrk_out")
    p99=$(awk '$1 == "99%" {print $2}' "$wrk_out")
    errs=$(awk '/Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10}
                /Non-2xx or 3xx/ {n += $NF} END {print n + 0}' "$wrk_out")
    kinds=$(awk '/Socket errors/ {
                     gsub(",", "")
                     for (i = 3; i < 11; i += 2)
                         if ($(i + 1) > 0) k = k (k == "" ? "" : ",") $i " " $(i + 1)
                 }
                 /Non-2xx or 3xx/ && $NF > 0 {k = k (k == "" ? "" : ",") "non-2xx/3xx " $NF}
                 END {print k}' "$wrk_out")
    local note=
    [ "$alive" = yes ] || note="server died during the run, see $log"
    [ -n "$rps" ] || note="${note:+$note; }no wrk result, see $wrk_out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$cfg" "$round" "${rps:-failed}" \
        "${p50:--}" "${p99:--}" "$errs" "${hwm:--}" "$active" "$note" "$kinds" >>"$OUT/http.tsv"
}

if [ $do_http -eq 1 ]; then
    head -c 1536 /dev/urandom | base64 >"$www/index.html"   # 2 KB
    echo "python-check: http.server under wrk $WRK_ARGS, $HTTP_ROUNDS round(s)"
    read -ra order <<<"$configs"
    for round in $(seq "$HTTP_ROUNDS"); do
        for cfg in "${order[@]}"; do
            http_run "$cfg" "$round"
            tail -n 1 "$OUT/http.tsv" | awk -F'\t' '{
                printf "  %-9s round %s: %s req/s, %s errors, VmHWM %s kB %s\n",
                    $1, $2, $3, $6, $7, $9 }'
        done
        order=("${order[@]:1}" "${order[0]}")   # rotate
    done
fi

# ---- 2. CPython's test modules ----

if [ $do_tests -eq 1 ]; then
    ignore=()
    set -f   # the patterns are regrtest's, not the shell's
    for p in $IGNORE_TESTS; do
        ignore+=(-i "$p")
    done
    set +f
    echo "python-check: CPython test modules ($MODULES), timeout ${MODULE_TIMEOUT}s each"
    for mod in $MODULES; do
        for cfg in $configs; do
            base=$OUT/$mod-$cfg
            start=$(date +%s.%N)
            # regrtest writes a few files into the current directory: run it in a scratch one.
            # shellcheck disable=SC2046
            (cd "$www" && exec ${TIME:+"$TIME" -v -o "$base.time"} \
                timeout -k 10 "$MODULE_TIMEOUT" env $(config_env "$cfg") "$PYTHON" -m test \
                -v --timeout $((MODULE_TIMEOUT - 30)) --junit-xml "$base.xml" "${ignore[@]}" \
                "$mod") >"$base.log" 2>&1 </dev/null
            rc=$?
            end=$(date +%s.%N)
            if [ -n "$TIME" ]; then
                rc=$(awk -F': ' '/^\tExit status/ {print $2}' "$base.time")
                sig=$(awk '/Command terminated by signal/ {print $NF}' "$base.time")
                [ -z "$sig" ] || rc="signal $sig"
            fi
            wall=$(awk -v a="$start" -v b="$end" 'BEGIN {printf "%.2f", b - a}')
            rss=-
            [ -n "$TIME" ] && rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' \
                "$base.time")
            printf '%s\t%s\t%s\t%s\t%s\n' "$mod" "$cfg" "${rc:-?}" "$wall" "${rss:--}" \
                >>"$OUT/modules.tsv"
            printf '  %-15s %-9s exit %s, %s s, peak RSS %s kB\n' "$mod" "$cfg" "${rc:-?}" \
                "$wall" "${rss:--}"
        done
    done
fi

echo
"$PYTHON" scripts/python-check-report.py "$OUT" "$WRK_ARGS" | tee "$OUT/report.txt"
