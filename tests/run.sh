#!/bin/bash
# tests/run.sh: run every test binary natively and under LD_PRELOAD=libgreenrun.so.
#
# Usage: tests/run.sh [BIN_DIR] [LIB]
#   BIN_DIR  directory of test executables (default build/tests/bin)
#   LIB      the preload library (default build/libgreenrun.so)
#   TESTS    optional environment variable: space-separated test names to run (default all)
#   LOG_DIR  optional environment variable: where logs go (default build/tests/log)
#   SUITE_DEBUG  optional environment variable: GREENRUN_DEBUG items added to every green run
#            (make check runs the debug library with fs=arch_prctl, so both ways of
#            switching TLS are tested on a machine whose CPU offers wrfsbase)
#   SUITE_GC optional environment variable: a GREENRUN_GC mode (leak or collect) for every green
#            run that uses greenrun's allocator (not the green-sysmalloc runs, which refuse
#            it); a test's own GREENRUN_GC in EXTRA_ENV comes after it and wins
#
# Each test NAME may have tests/NAME.conf, sourced by this script, setting:
#   TIMEOUT    seconds per run (default 60)
#   PROCS      GREENRUN_PROCS values for the green runs (default "1 2")
#   NATIVE     1 to run natively as well (default 1), 0 to skip the native run
#   EXPECT_RC  the exit status that means success (default 0)
#   EXTRA_ENV  extra NAME=value words for the test's environment (both modes); a
#              GREENRUN_DEBUG=X there becomes GREENRUN_DEBUG=banner,X in green runs
#   SYSTEM_MALLOC_PROCS  GREENRUN_PROCS values for green runs with GREENRUN_MALLOC=system as
#              well, the escape hatch (default none; mode green-sysmalloc-pN)
#
# A native run passes when its status is EXPECT_RC. A green run passes when its status is
# EXPECT_RC and its stderr has a line starting with "greenrun: active" (GREENRUN_DEBUG=banner), so
# a preload that silently failed to load cannot pass. Status 77 is a skip, counted as a pass
# (its log must still carry the banner in green mode). Logs go to $LOG_DIR/NAME.MODE.log.
# The last line printed is "N passed, N failed"; the exit status is 1 if anything failed.

set -u

root=$(cd "$(dirname "$0")/.." && pwd)
bin_dir=${1:-$root/build/tests/bin}
lib=${2:-$root/build/libgreenrun.so}
# LD_PRELOAD needs a path with a slash; make it absolute without requiring it to exist.
case $lib in
/*) ;;
*) lib=$PWD/$lib ;;
esac
log_dir=${LOG_DIR:-$root/build/tests/log}
mkdir -p "$log_dir" || exit 1

if [ ! -d "$bin_dir" ]; then
    echo "run.sh: no test directory $bin_dir" >&2
    echo "0 passed, 1 failed"
    exit 1
fi

passed=0
failed=0

# wanted NAME: true when TESTS is empty or lists NAME.
wanted() {
    [ -z "${TESTS:-}" ] && return 0
    local t
    for t in $TESTS; do
        [ "$t" = "$1" ] && return 0
    done
    return 1
}

# run_one NAME MODE BIN PROCS: one run; PROCS is empty for the native run.
run_one() {
    local name=$1 mode=$2 bin=$3 procs=$4 more=${5:-}
    local log=$log_dir/$name.$mode.log
    local out=$log.stdout err=$log.stderr
    local rc missing=0
    local -a envv
    local debug=banner${SUITE_DEBUG:+,$SUITE_DEBUG} word
    local -a extra=()
    # EXTRA_ENV is split into NAME=value words on purpose; a GREENRUN_DEBUG there keeps the banner.
    for word in $EXTRA_ENV $more; do
        case $word in
        GREENRUN_DEBUG=*) debug="$debug,${word#GREENRUN_DEBUG=}" ;;
        *) extra+=("$word") ;;
        esac
    done
    if [ -z "$procs" ]; then
        envv=(env -u LD_PRELOAD -u GREENRUN_PROCS -u GREENRUN_DEBUG GREENRUN_TEST_MODE=native)
    else
        envv=(env GREENRUN_TEST_MODE=green GREENRUN_PROCS="$procs" GREENRUN_DEBUG="$debug"
              LD_PRELOAD="$lib")
        case " $EXTRA_ENV $more " in
        *" GREENRUN_MALLOC=system "*) ;;
        *) [ -n "${SUITE_GC:-}" ] && envv+=(GREENRUN_GC="$SUITE_GC") ;;
        esac
    fi
    envv+=("${extra[@]}")
    if [ -n "$procs" ] && [ ! -f "$lib" ]; then
        # Without the library a green run would run natively with green-sized thread counts.
        : >"$out"
        echo "run.sh: $lib does not exist" >"$err"
        rc=1
        missing=1
    else
        # timeout runs env, which sets the preload for the test alone: timeout itself must not
        # load the library (its banner would count). The outer 2>/dev/null only silences bash's
        # own "Aborted" notice.
        { timeout -k 5 "$TIMEOUT" "${envv[@]}" "$bin" </dev/null >"$out" 2>"$err"; } 2>/dev/null
        rc=$?
    fi
    {
        echo "# $name $mode: rc=$rc (expected $EXPECT_RC), timeout ${TIMEOUT}s"
        echo "# timeout -k 5 $TIMEOUT ${envv[*]} $bin"
        echo "# --- stdout ---"
        cat "$out"
        echo "# --- stderr ---"
        cat "$err"
    } >"$log"

    local ok=1 why=""
    if [ "$missing" -eq 1 ]; then
        ok=0
        why=" (the library $lib does not exist; not run)"
    elif [ "$rc" -ne "$EXPECT_RC" ] && [ "$rc" -ne 77 ]; then
        ok=0
        case $rc in
        124) why=" (timed out)" ;;
        137) why=" (killed after the timeout)" ;;
        134) why=" (aborted)" ;;
        139) why=" (segmentation fault)" ;;
        esac
    fi
    if [ -n "$procs" ] && [ "$missing" -eq 0 ] && ! grep -q '^greenrun: active' "$err"; then
        ok=0
        why="$why (no 'greenrun: active' banner)"
    fi
    rm -f "$out" "$err"

    if [ "$ok" -eq 1 ]; then
        passed=$((passed + 1))
        if [ "$rc" -eq 77 ] && [ "$EXPECT_RC" -ne 77 ]; then
            echo "PASS $name $mode (skipped: $(grep -m1 '^SKIP' "$log" | cut -c7-))"
        else
            echo "PASS $name $mode"
        fi
    else
        failed=$((failed + 1))
        echo "FAIL $name $mode rc=$rc$why log=$log"
        tail -n 20 "$log" | sed 's/^/    /'
    fi
}

for bin in "$bin_dir"/*; do
    if [ ! -f "$bin" ] || [ ! -x "$bin" ]; then
        continue
    fi
    name=${bin##*/}
    wanted "$name" || continue

    TIMEOUT=60
    PROCS="1 2"
    NATIVE=1
    EXPECT_RC=0
    EXTRA_ENV=
    SYSTEM_MALLOC_PROCS=
    conf=$root/tests/$name.conf
    if [ -f "$conf" ]; then
        # shellcheck disable=SC1090
        . "$conf"
    fi

    if [ "$NATIVE" = 1 ]; then
        run_one "$name" native "$bin" ""
    fi
    for p in $PROCS; do
        run_one "$name" "green-p$p" "$bin" "$p"
    done
    for p in $SYSTEM_MALLOC_PROCS; do
        run_one "$name" "green-sysmalloc-p$p" "$bin" "$p" GREENRUN_MALLOC=system
    done
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
