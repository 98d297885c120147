#!/bin/sh
# scripts/check-layering.sh [BUILD]: the layers of DESIGN.md hold (BUILD: build directory,
# default build). Each rule below fails the check with the file and line that break it.
#  1. runtime/ includes neither hooks/ nor preload/; hooks/ does not include preload/.
#  2. hooks/ see the runtime only through runtime/api.h: no other runtime header.
#  3. hooks/ never touch the TLS register, the M register or the descriptor layout: those
#     belong to runtime/tls.c (gr_tls_enter_m) and the scheduler.
#  4. No runtime object calls an interposed function (it would recurse into our own hooks):
#     `nm -u` of BUILD/runtime/*.o must not name anything HOOK'ed in runtime/libc.def.
#  5. No runtime object references a symbol defined in hooks/ or preload/ (data flows one
#     way: hooks call the runtime, the runtime never calls hooks or preload).
set -eu
build=${1:-build}
fail=0
if grep -n '#include "\(hooks\|preload\)/' runtime/*.c runtime/*.h; then
    echo "check-layering: runtime/ must not include hooks/ or preload/" >&2
    fail=1
fi
if grep -n '#include "preload/' hooks/*.c hooks/*.h hooks/*.S 2>/dev/null; then
    echo "check-layering: hooks/ must not include preload/" >&2
    fail=1
fi
if grep -n '#include "runtime/' hooks/*.c hooks/*.h hooks/*.S 2>/dev/null |
    grep -v '#include "runtime/api.h"'; then
    echo "check-layering: hooks/ include runtime/api.h only" >&2
    fail=1
fi
if grep -nw 'gr_get_tp\|gr_getm\|gr_sys_set_fs\|gr_sys_set_gs\|gr_tls\|gr_curg\|wrfsbase\|arch_prctl' \
    hooks/*.c hooks/*.h; then
    echo "check-layering: hooks/ must not touch the TLS or M registers or gr_tls (runtime/tls.c)" >&2
    fail=1
fi
hooked=$(sed -n 's/^HOOK([a-z0-9_]*, *\([A-Za-z0-9_]*\),.*/\1/p' runtime/libc.def | sort -u)
upper=$(nm --defined-only "$build"/hooks/*.o "$build"/preload/*.o 2>/dev/null |
        awk 'NF == 3 && $2 ~ /^[TDBRV]$/ {print $3}' | sort -u)
for o in "$build"/runtime/*.o; do
    for sym in $(nm -u "$o" | awk '{print $2}' | sed 's/@.*//' | sort -u); do
        if printf '%s\n' "$hooked" | grep -qx "$sym"; then
            echo "check-layering: $o calls interposed $sym; use gr_real.$sym" >&2
            fail=1
        elif printf '%s\n' "$upper" | grep -qx "$sym"; then
            echo "check-layering: $o uses $sym, defined in hooks/ or preload/" >&2
            fail=1
        fi
    done
done
[ $fail -eq 0 ] && echo "layering: ok ($build)"
exit $fail
