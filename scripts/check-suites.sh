#!/bin/sh
# scripts/check-suites.sh BIN_DIR NAME=LIB:LOG_DIR[:DEBUG]...: run the whole suite
# (tests/run.sh) over the same test binaries once per library, each run with its logs in its
# own LOG_DIR; DEBUG, when given, is added to GREENRUN_DEBUG of its green runs (SUITE_DEBUG).
#
# Every run goes to the end even when an earlier one failed. Each run's own last line stays
# tests/run.sh's "N passed, N failed"; then one line per run and the total, as
# "N passed, N failed", are printed last. Exit status 1 if any run failed.
set -u
[ $# -ge 2 ] || { echo "usage: $0 BIN_DIR NAME=LIB:LOG_DIR..." >&2; exit 2; }
bin_dir=$1
shift
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
summary=
total_pass=0
total_fail=0
status=0
for run in "$@"; do
    name=${run%%=*}
    rest=${run#*=}
    lib=${rest%%:*}
    rest=${rest#*:}
    log_dir=${rest%%:*}
    debug=
    [ "$log_dir" = "$rest" ] || debug=${rest#*:}
    echo "== suite $name: $lib${debug:+, GREENRUN_DEBUG=$debug} (logs in $log_dir)"
    LOG_DIR=$log_dir SUITE_DEBUG=$debug "$root/tests/run.sh" "$bin_dir" "$lib" | tee "$tmp"
    # tee hides run.sh's status; its last line carries the counts.
    last=$(tail -n 1 "$tmp")
    pass=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
    fail=$(echo "$last" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
    if [ -z "$pass" ] || [ -z "$fail" ]; then
        echo "check-suites: $name: tests/run.sh ended without its summary line" >&2
        pass=0
        fail=1
    fi
    [ "$fail" -eq 0 ] || status=1
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
    summary="$summary$name: $pass passed, $fail failed
"
done
echo "== suites"
printf '%s' "$summary"
echo "$total_pass passed, $total_fail failed"
exit $status
