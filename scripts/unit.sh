#!/bin/sh
# scripts/unit.sh BIN...: run the white-box unit tests under valgrind's memcheck (when
# installed), failing on any error or leak.
set -u
fail=0
for bin in "$@"; do
    if command -v valgrind >/dev/null 2>&1; then
        valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            "$bin" >"$bin.log" 2>&1
    else
        "$bin" >"$bin.log" 2>&1
    fi
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "unit: FAIL $bin (rc=$rc)"; tail -n 20 "$bin.log"; fail=1
    else
        echo "unit: ok $(basename "$bin") ($(tail -n 1 "$bin.log"))"
    fi
done
exit $fail
