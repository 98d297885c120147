#!/bin/bash
# scripts/hogs.sh [-n N] [-t SECONDS] [--] [COMMAND [ARGS...]]
#
# Run COMMAND (default: make test) with N CPU-burning processes beside it (default 3), then
# stop them; exit with COMMAND's status. On a 2-CPU machine three busy loops leave each test
# process well under one CPU, as a shared CI machine does, so a test that only passes on an
# idle machine fails here. Examples:
#     scripts/hogs.sh                                   # the whole suite (make test), loaded
#     TESTS="io_pipe sem" scripts/hogs.sh tests/run.sh  # two tests, loaded
#
# Each hog is `sh -c 'while :; do :; done'` under `timeout SECONDS` (default 1800), so a hog
# outlives this script by at most that long even if the script is killed with SIGKILL. The
# script stops the hogs by their process ids on exit and on SIGINT, SIGTERM and
# SIGHUP. Nothing else changes: no sysctl, no limit, no priority (the hogs and COMMAND run at
# the same nice value as the caller).

set -u

n=3
secs=1800
while [ $# -gt 0 ]; do
    case $1 in
    -n) n=$2; shift 2 ;;
    -t) secs=$2; shift 2 ;;
    --) shift; break ;;
    -*) echo "usage: $0 [-n N] [-t SECONDS] [--] [COMMAND [ARGS...]]" >&2; exit 2 ;;
    *) break ;;
    esac
done
if [ $# -eq 0 ]; then
    set -- make test
fi
case $n$secs in
*[!0-9]*) echo "$0: -n and -t take whole numbers" >&2; exit 2 ;;
esac

pids=()
cmd=

stop_hogs() {
    local p
    for p in "${pids[@]}"; do
        # timeout passes the signal on to its busy loop and exits.
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${pids[@]}"; do
        wait "$p" 2>/dev/null
    done
    pids=()
}

# on_signal SIG STATUS: pass SIG on to COMMAND, stop the hogs, exit with STATUS.
on_signal() {
    [ -n "$cmd" ] && kill -"$1" "$cmd" 2>/dev/null
    stop_hogs
    exit "$2"
}

trap 'stop_hogs' EXIT
trap 'on_signal INT 130' INT
trap 'on_signal TERM 143' TERM
trap 'on_signal HUP 129' HUP

for ((i = 0; i < n; i++)); do
    timeout "$secs" sh -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
    pids+=($!)
done
echo "hogs: $n CPU-burning processes (pids ${pids[*]}, at most ${secs}s each) beside: $*"

# COMMAND runs in the background so that a signal runs the trap at once (bash runs traps only
# between foreground commands); wait returns early on a signal. It keeps this script's stdin.
"$@" <&0 &
cmd=$!
wait "$cmd"
rc=$?
cmd=
stop_hogs
echo "hogs: stopped; exit status $rc"
exit $rc
