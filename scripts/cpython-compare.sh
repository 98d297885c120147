#!/usr/bin/env bash
# scripts/cpython-compare.sh: CPython's own test modules, natively and under greenrun, case by
# case, several rounds; lists every test case that passes natively and not under greenrun.
#
# Usage: scripts/cpython-compare.sh [--rounds N] [--out DIR] [LIB]
#        environment: MODULES (default below), MODULE_TIMEOUT (seconds per module run, default
#        900), IGNORE_TESTS, PYTHON (as scripts/python-check.sh)
#
# Each round is one `scripts/python-check.sh --tests-only` run with two configurations, native
# and greenrun (LD_PRELOAD=LIB, greenrun's allocator), into DIR/rN (default
# build/cpython-compare/rN); scripts/cpython-compare-report.py then reads every round's -v logs
# and prints, per module, the cases that passed natively in a round and did not pass under
# greenrun in the same round (failed, errored, hung or never ran), with the rounds they did
# so in. The last line is "N cases pass natively, M of them fail under greenrun". Exit status
# 0 when M is 0, 1 otherwise, 2 on a usage or set-up error.
#
# Not part of `make test`: a round takes 15-25 minutes on two CPUs. Needs the Debian package
# libpython3.11-testsuite (scripts/deps.sh bench installs it).
set -u

cd "$(dirname "$0")/.." || exit 2

rounds=3
out=build/cpython-compare
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) rounds=$2; shift ;;
    --out) out=$2; shift ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 0 ;;
    -*) echo "cpython-compare: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) break ;;
    esac
    shift
done
case $rounds in
'' | *[!0-9]* | 0) echo "cpython-compare: --rounds: '$rounds' is not a positive number" >&2
    exit 2 ;;
esac
lib=${1:-build/libgreenrun.so}
[ -f "$lib" ] || { echo "cpython-compare: $lib not found (run make first)" >&2; exit 2; }

export MODULES=${MODULES:-test_threading test_time test_subprocess test_signal test_socket \
test_selectors test_asyncio}
export MODULE_TIMEOUT=${MODULE_TIMEOUT:-900}
export PRELOAD_CONFIGS=greenrun

mkdir -p "$out" || exit 2
for r in $(seq "$rounds"); do
    echo "cpython-compare: round $r of $rounds"
    scripts/python-check.sh --tests-only --out "$out/r$r" "$lib" >"$out/r$r.log" 2>&1
    rc=$?
    [ $rc -le 1 ] || { echo "cpython-compare: round $r failed to run (see $out/r$r.log)" >&2
        exit 2; }
    grep -E '^  test_' "$out/r$r.log"
done
python3 scripts/cpython-compare-report.py "$out" "$rounds" | tee "$out/report.txt"
exit "${PIPESTATUS[0]}"
