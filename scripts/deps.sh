#!/usr/bin/env bash
# scripts/deps.sh: make sure the Debian packages greenrun needs are installed.
#
# Usage: scripts/deps.sh [build|test|bench]      (default: bench; build < test < bench)
#
# As root, missing packages are installed (one apt-get update, only when something is missing).
# Otherwise the missing ones are listed. Exit status: 1 if a package needed to build or test is
# still missing, else 0; the benchmark-only packages are optional and only warned about.
# Quiet and idempotent: with everything present it prints the single line "deps: all present".
set -uo pipefail

export DEBIAN_FRONTEND=noninteractive

build_pkgs=(gcc g++ make libc6-dev pkg-config libunwind-dev)
test_pkgs=(valgrind clang-format groff-base man-db)
bench_pkgs=(libbenchmark-dev libjemalloc-dev libmimalloc2.0 golang-go gnuplot-nox wrk python3
            libpython3.11-testsuite time libgc1)

usage() {
    echo "usage: $0 [build|test|bench]" >&2
    exit 2
}

[ $# -le 1 ] || usage
set_name=${1:-bench}
case $set_name in
build) wanted=("${build_pkgs[@]}") ;;
test)  wanted=("${build_pkgs[@]}" "${test_pkgs[@]}") ;;
bench) wanted=("${build_pkgs[@]}" "${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
-h|--help) usage ;;
*) echo "deps: unknown set '$set_name'" >&2; usage ;;
esac

installed() {
    local status
    status=$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) || return 1
    # Multi-arch packages print one status per architecture; any installed one will do.
    [[ $status == *"install ok installed"* ]]
}

is_optional() {
    local p
    for p in "${bench_pkgs[@]}"; do
        [ "$p" = "$1" ] && return 0
    done
    return 1
}

missing_from() {
    local p
    for p in "$@"; do
        installed "$p" || printf '%s\n' "$p"
    done
}

mapfile -t missing < <(missing_from "${wanted[@]}")
if [ ${#missing[@]} -eq 0 ]; then
    echo "deps: all present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "deps: installing ${missing[*]}"
    if ! apt-get update -qq; then
        echo "deps: apt-get update failed; trying the existing package lists" >&2
    fi
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null &&
        [ ${#missing[@]} -gt 1 ]; then
        # One unavailable package must not keep the others out: retry them one by one.
        echo "deps: installing all at once failed; retrying one package at a time" >&2
        for p in "${missing[@]}"; do
            apt-get install -y -qq --no-install-recommends "$p" >/dev/null ||
                echo "deps: could not install $p" >&2
        done
    fi
    mapfile -t missing < <(missing_from "${missing[@]}")
    if [ ${#missing[@]} -eq 0 ]; then
        echo "deps: all present"
        exit 0
    fi
fi

required=()
optional=()
for p in "${missing[@]}"; do
    if is_optional "$p"; then
        optional+=("$p")
    else
        required+=("$p")
    fi
done

if [ ${#optional[@]} -gt 0 ]; then
    echo "deps: missing (benchmarks only): ${optional[*]}" >&2
fi
if [ ${#required[@]} -gt 0 ]; then
    echo "deps: missing (needed to build and test): ${required[*]}" >&2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "deps: to install, run as root: apt-get install --no-install-recommends ${missing[*]}" >&2
fi
[ ${#required[@]} -eq 0 ]
