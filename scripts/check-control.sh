#!/bin/bash
# scripts/check-control.sh: greenrun's commands against a running program (issue 12 item 4).
#
# Usage: scripts/check-control.sh [BUILD_DIR]   (default build; needs BUILD_DIR/greenrun and
#        BUILD_DIR/libgreenrun.so)
#
# Starts tests/control/target.c under the launcher with the blocking profile on, waits for its
# "ready", then checks: `greenrun ps` lists it; `greenrun dump PID` shows its threads with their
# states and functions, on the client's stdout and not the program's stderr; `greenrun report
# PID` has the raw read no hook saw, named by its function; `greenrun top PID -n 2` prints rates;
# the socket's directory is the user's, mode 0700; a process not under greenrun is refused and
# not signalled; and after SIGTERM (the program exits through exit()) the socket is gone.
# Prints "control: ok" or the failed check, and exits 0 or 1.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
case $build in /*) ;; *) build=$root/$build ;; esac
launcher=$build/greenrun
tmp=$(mktemp -d /tmp/greenrun-check-control.XXXXXX)
pid=
other=
cleanup() {
    [ -n "$pid" ] && { kill -KILL "$pid"; wait "$pid"; } 2>/dev/null
    [ -n "$other" ] && { kill -KILL "$other"; wait "$other"; } 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
    echo "control: FAILED: $*" >&2
    for f in "$tmp"/*.txt; do
        [ -f "$f" ] && { echo "--- $(basename "$f")"; head -60 "$f"; } >&2
    done
    exit 1
}

cc -std=gnu11 -O1 -g -pthread -o "$tmp/target" "$root/tests/control/target.c" ||
    fail "cannot build tests/control/target.c"
# A shell without job control starts background jobs with SIGQUIT ignored, and a program
# that ignores SIGQUIT cannot be asked for its socket: give the target the default action.
GREENRUN_DEBUG=blocking env --default-signal=QUIT "$launcher" -- "$tmp/target" \
    > "$tmp/stdout.txt" 2> "$tmp/stderr.txt" &
pid=$!
for _ in $(seq 100); do
    grep -q ready "$tmp/stdout.txt" 2>/dev/null && break
    sleep 0.1
done
grep -q ready "$tmp/stdout.txt" || fail "the target did not start"

"$launcher" ps > "$tmp/ps.txt" || fail "greenrun ps failed"
grep -Eq "^ *$pid +[0-9]+ +target" "$tmp/ps.txt" || fail "greenrun ps does not list $pid"

"$launcher" dump "$pid" > "$tmp/dump.txt" 2>&1 || fail "greenrun dump $pid failed"
for fn in waits_for_mutex waits_on_cond reads_pipe sleeps_long reads_raw; do
    grep -q "$fn" "$tmp/dump.txt" || fail "the dump does not name $fn"
done
# The raw reader is in a call no hook saw: to the scheduler it runs; the dump unwinds it from
# the kernel's record of the call.
grep -A1 '"rawread" \[running' "$tmp/dump.txt" | grep -q "asleep in the kernel in read" ||
    fail "the dump does not show rawread asleep in read"
for name in mutexwaiter condwaiter piperead sleeper rawread; do
    grep -q "$name" "$tmp/dump.txt" || fail "the dump does not name the threads called $name"
done
[ "$(grep -c waits_for_mutex "$tmp/dump.txt")" -ge 4 ] || fail "fewer than 4 mutex waiters"
grep -q waits_on_cond "$tmp/stderr.txt" && fail "the dump went to the program's stderr"

# The profile records the raw read once sysmon has seen it asleep twice, 1 ms apart.
for _ in $(seq 50); do
    "$launcher" report "$pid" > "$tmp/report.txt" 2>&1 || fail "greenrun report $pid failed"
    grep -q "reads_raw" "$tmp/report.txt" && break
    sleep 0.1
done
grep -q "syscall 0 (read)" "$tmp/report.txt" || fail "the report has no unseen read"
grep -q "reads_raw" "$tmp/report.txt" || fail "the report does not name reads_raw"

"$launcher" top "$pid" -n 2 -d 0.2 > "$tmp/top.txt" 2>&1 || fail "greenrun top $pid failed"
grep -Eq "switches [0-9]+/s" "$tmp/top.txt" || fail "greenrun top printed no rates"
grep -Eq "threads \(Gs\): 1[0-9] live" "$tmp/top.txt" || fail "greenrun top's count of threads"

dir=/tmp/greenrun-$(id -u)
[ "$(stat -c '%a %u %F' "$dir")" = "700 $(id -u) directory" ] || fail "$dir is not 0700 and ours"
[ -S "$dir/$pid.sock" ] || fail "no socket $dir/$pid.sock"

sleep 60 &
other=$!
if "$launcher" dump "$other" > "$tmp/other.txt" 2>&1; then
    fail "greenrun dump of a process without greenrun succeeded"
fi
grep -q "does not run under greenrun" "$tmp/other.txt" || fail "no reason given for $other"
kill -0 "$other" 2>/dev/null || fail "the process without greenrun was signalled"

target=$pid
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "the target exited with $rc"
[ -e "$dir/$target.sock" ] && fail "the socket outlived the program"
echo "control: ok"
