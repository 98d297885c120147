#!/bin/sh
# scripts/check-layering.sh: the layers of DESIGN.md hold.
#  - runtime/ includes neither hooks/ nor preload/; hooks/ does not include preload/.
#  - no runtime object calls an interposed function (it would recurse into our own hooks):
#    `nm -u` of build/runtime/*.o must not name anything listed in runtime/libc.def,
#    except the names the runtime deliberately reaches through glibc by design (none today).
set -eu
fail=0
if grep -n '#include "\(hooks\|preload\)/' runtime/*.c runtime/*.h; then
    echo "check-layering: runtime/ must not include hooks/ or preload/" >&2
    fail=1
fi
if grep -n '#include "preload/' hooks/*.c hooks/*.h; then
    echo "check-layering: hooks/ must not include preload/" >&2
    fail=1
fi
hooked=$(sed -n 's/^HOOK([a-z0-9_]*, *\([A-Za-z0-9_]*\),.*/\1/p' runtime/libc.def | sort -u)
for o in build/runtime/*.o; do
    for sym in $(nm -u "$o" | awk '{print $2}' | sed 's/@.*//' | sort -u); do
        if printf '%s\n' "$hooked" | grep -qx "$sym"; then
            echo "check-layering: $o calls interposed $sym; use gr_real.$sym" >&2
            fail=1
        fi
    done
done
[ $fail -eq 0 ] && echo "layering: ok"
exit $fail
