#!/bin/sh
# scripts/check-exports.sh LIB DEF [API_HEADER]: the shared object defines and exports exactly
# the names listed in DEF (the interposed libc names) and the functions API_HEADER declares
# with GREENRUN_API (greenrun's own public interface); anything missing or extra fails.
set -eu
lib=$1
def=$2
api=${3:-}
want=$(mktemp)
have=$(mktemp)
trap 'rm -f "$want" "$have"' EXIT
{
    sed -n 's/^HOOK([a-z0-9_]*, *\([A-Za-z0-9_]*\),.*/\1/p' "$def"
    [ -z "$api" ] || sed -n 's/^GREENRUN_API [^(]*[ *]\(greenrun_[a-z0-9_]*\)(.*/\1/p' "$api"
} | sort -u >"$want"
nm -D --defined-only "$lib" | awk '$2 ~ /^[TtWwiD]$/ {print $3}' | sed 's/@.*//' | sort -u >"$have"
if ! diff -u "$want" "$have" >/dev/null; then
    echo "check-exports: exported symbols differ from $def (- listed, + exported):" >&2
    diff -u "$want" "$have" | sed -n '/^[-+][^-+]/p' >&2
    exit 1
fi
