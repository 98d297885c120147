#!/bin/sh
# scripts/unit.sh [--direct] BIN...: run the white-box unit tests, failing on any error.
#
# By default each runs under valgrind's memcheck (when installed), which also fails it on a
# definite leak. --direct runs them as they are: the ASan/UBSan builds, which must not run
# under valgrind, check themselves. Each test's output goes to BIN.log; one line per test
# here, with the last line of its output.
set -u
direct=0
if [ "${1:-}" = --direct ]; then
    direct=1
    shift
fi
fail=0
for bin in "$@"; do
    if [ $direct -eq 0 ] && command -v valgrind >/dev/null 2>&1; then
        how=valgrind
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "$bin" >"$bin.log" 2>&1
    else
        how=direct
        [ $direct -eq 1 ] && how=sanitizers
        "$bin" >"$bin.log" 2>&1
    fi
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "unit: FAIL $bin ($how, rc=$rc)"; tail -n 20 "$bin.log"; fail=1
    else
        echo "unit: ok $(basename "$bin") ($how: $(tail -n 1 "$bin.log"))"
    fi
done
exit $fail
