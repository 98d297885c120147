#!/bin/sh
# scripts/gen-exports.sh DEF OUT: the linker version script exporting exactly the names in
# runtime/libc.def (every other symbol of libgreenrun.so stays local).
set -eu
def=$1
out=$2
{
    echo "{"
    echo "  global:"
    sed -n 's/^HOOK([a-z0-9_]*, *\([A-Za-z0-9_]*\),.*/    \1;/p' "$def"
    echo "  local: *;"
    echo "};"
} >"$out.tmp"
mv "$out.tmp" "$out"
