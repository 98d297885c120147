#!/bin/sh
# scripts/check-install.sh [BUILD]: install greenrun as a package would, use what was installed,
# then uninstall. Run by make check-install (and so by make check); BUILD is the build
# directory (default build), already built by make.
#
# Three layouts, each in its own temporary DESTDIR, and the build tree:
#   /usr/local          make install PREFIX=/usr/local (the default LIBDIR, PREFIX/lib)
#   /usr, multiarch     make install PREFIX=/usr LIBDIR=/usr/lib/TRIPLET, as a Debian package
#   build tree          build/greenrun preloads build/libgreenrun.so, beside it
#   LIBDIR elsewhere    make install warns, the launcher does not find the library (127) and
#                       GREENRUN_LIB rescues it
# For the first two: exactly the expected files with Debian's modes; a probe program
# (tests/install/probe.c) compiled with `pkg-config --cflags greenrun` against the installed
# greenrun.h runs under the installed launcher (also through a symbolic link) with the
# installed library and really runs green (the banner; greenrun_thread_info answers; its 64
# waiting threads use at most 8 OS threads); pkg-config's version and variables; both man
# pages render with groff and man without a warning and man finds them by name; every
# GREENRUN_* name, GREENRUN_DEBUG item and launcher option of preload/ is in greenrun(1), and
# the pages name no GREENRUN_* variable preload/config.c does not know; make uninstall leaves
# no file behind.
#
# Needs cc, pkg-config and groff (groff-base); man (man-db) is used when present. Prints one
# line per layout and "check-install: ok"; on a failure, what failed, and exits 1.
set -eu
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/greenrun-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM

fail() {
    echo "check-install: FAIL: $*" >&2
    exit 1
}

for tool in cc pkg-config groff; do
    command -v $tool >/dev/null 2>&1 ||
        fail "$tool is not installed (scripts/deps.sh test installs it)"
done

# make with exactly the directories given here: none may leak in from the environment or from
# a parent make's command line (MAKEFLAGS).
mk() {
    env -u PREFIX -u BINDIR -u LIBDIR -u INCLUDEDIR -u MANDIR -u PKGCONFIGDIR -u DESTDIR \
        MAKEFLAGS= MAKELEVEL= make --no-print-directory -C "$root" BUILD="$build" "$@"
}

version=$(sed -n 's/^VERSION *:= *//p' Makefile)
triplet=$(cc -print-multiarch 2>/dev/null || true)

# The names the pages must cover, from the sources.
vars=$(grep -o '"GREENRUN_[A-Z_]*[A-Z]"' preload/config.c | tr -d '"' | sort -u)
# Debug items: the exact ones, then the prefixes of those that take a value (schedtrace=).
debug_items=$(sed -n -e 's/.*span_is(item, ilen, "\([^"]*\)").*/\1/p' \
    -e 's/.*static const char [a-z_]*\[\] = "\([a-z_]*=\)";.*/\1/p' preload/config.c)
options=$(sed -n 's/^ *{ "\(--[a-z]*\)",.*/\1/p' preload/launcher.c)
[ -n "$vars" ] && [ -n "$debug_items" ] && [ -n "$options" ] ||
    fail "could not read the variables, debug items or options from preload/"

# check_pages MANDIR: both pages render cleanly, are found by name, and name only real things.
check_pages() {
    mandir=$1
    for page in "$mandir/man1/greenrun.1" "$mandir/man7/greenrun.7"; do
        groff -man -ww -z "$page" >"$tmp/groff.err" 2>&1 || true
        [ ! -s "$tmp/groff.err" ] || fail "groff warns on $page: $(head -n 3 "$tmp/groff.err")"
        if command -v man >/dev/null 2>&1; then
            MANWIDTH=80 man --warnings -l "$page" >"$tmp/man.out" 2>"$tmp/man.err" ||
                fail "man -l $page failed: $(head -n 3 "$tmp/man.err")"
            [ ! -s "$tmp/man.err" ] || fail "man warns on $page: $(head -n 3 "$tmp/man.err")"
            grep -q '^NAME' "$tmp/man.out" || fail "man -l $page rendered no NAME section"
        fi
    done
    if command -v man >/dev/null 2>&1; then
        for sec in 1 7; do
            found=$(MANPATH=$mandir man -w "$sec" greenrun 2>/dev/null) || found=
            [ "$found" = "$mandir/man$sec/greenrun.$sec" ] ||
                fail "man -w $sec greenrun with MANPATH=$mandir found '$found'"
        done
    fi
    # Variables named in the pages (GREENRUN_* itself is the family, not a name).
    for v in $(cat "$mandir/man1/greenrun.1" "$mandir/man7/greenrun.7" |
        grep -o 'GREENRUN_[A-Z_]*[A-Z]' | sort -u); do
        echo "$vars" | grep -qx "$v" ||
            fail "the man pages name $v, which preload/config.c does not know"
    done
    for v in $vars; do
        grep -q "^\.BI\{0,1\}R\{0,1\} $v" "$mandir/man1/greenrun.1" ||
            fail "greenrun(1) does not describe $v"
    done
    for item in $debug_items; do
        grep -q "^\.BI\{0,1\} $item" "$mandir/man1/greenrun.1" ||
            fail "greenrun(1) does not describe GREENRUN_DEBUG=$item"
    done
    for opt in $options; do
        grep -q "$(echo "$opt" | sed 's/-/\\\\-/g')" "$mandir/man1/greenrun.1" ||
            fail "greenrun(1) does not describe the option $opt"
    done
}

# check_layout NAME PREFIX LIBDIR: install into a fresh DESTDIR, use it, uninstall.
check_layout() {
    name=$1
    prefix=$2
    libdir=$3
    dest=$tmp/$name
    mkdir -p "$dest"
    set -- PREFIX="$prefix"
    [ "$libdir" = "$prefix/lib" ] || set -- "$@" LIBDIR="$libdir"

    mk install DESTDIR="$dest" "$@" >"$tmp/$name.install.log" 2>&1 ||
        fail "$name: make install failed: $(tail -n 5 "$tmp/$name.install.log")"
    ! grep -q '^install: note' "$tmp/$name.install.log" ||
        fail "$name: make install warns: $(grep '^install: note' "$tmp/$name.install.log")"

    # Exactly these files, with Debian's modes.
    printf '%s\n' "755 $prefix/bin/greenrun" "644 $libdir/libgreenrun.so" \
        "644 $prefix/include/greenrun.h" "644 $libdir/pkgconfig/greenrun.pc" \
        "644 $prefix/share/man/man1/greenrun.1" "644 $prefix/share/man/man7/greenrun.7" |
        sort -k 2 >"$tmp/expected"
    (cd "$dest" && find . \( -type f -o -type l \) -printf '%m /%P\n') | sort -k 2 >"$tmp/got"
    cmp -s "$tmp/expected" "$tmp/got" ||
        fail "$name: installed files (mode path), expected < and got >:" \
            "$(diff "$tmp/expected" "$tmp/got" | grep '^[<>]' | tr '\n' ' ')"

    # pkg-config over this DESTDIR only; the sysroot makes its flags point into DESTDIR (the
    # variables are read without it: pkgconf would prefix them too).
    pc() {
        env PKG_CONFIG_PATH="$dest$libdir/pkgconfig" PKG_CONFIG_LIBDIR= "$@" greenrun
    }
    flags=$(pc PKG_CONFIG_SYSROOT_DIR="$dest" PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 \
        pkg-config --cflags --libs) || fail "$name: pkg-config --cflags --libs greenrun failed"
    # shellcheck disable=SC2086 # word splitting joins pkg-config's words with single spaces
    [ "$(echo $flags)" = "-I$dest$prefix/include" ] ||
        fail "$name: pkg-config --cflags --libs greenrun printed '$flags'"
    [ "$(pc pkg-config --modversion)" = "$version" ] ||
        fail "$name: pkg-config --modversion: $(pc pkg-config --modversion)"
    [ "$(pc pkg-config --variable=preload)" = "$libdir/libgreenrun.so" ] ||
        fail "$name: pkg-config --variable=preload: $(pc pkg-config --variable=preload)"
    [ "$(pc pkg-config --variable=launcher)" = "$prefix/bin/greenrun" ] ||
        fail "$name: pkg-config --variable=launcher: $(pc pkg-config --variable=launcher)"

    # The probe, built against the installed header only (no -I into the source tree).
    # shellcheck disable=SC2086
    cc -std=gnu11 -O1 -Wall -Wextra -Werror $flags -pthread -o "$tmp/probe" \
        tests/install/probe.c 2>"$tmp/cc.err" ||
        fail "$name: the probe does not build with the installed greenrun.h:" \
            "$(head -n 5 "$tmp/cc.err")"

    lib=$(realpath "$dest$libdir/libgreenrun.so")
    ln -sf "$dest$prefix/bin/greenrun" "$tmp/greenrun-link"
    for launcher in "$dest$prefix/bin/greenrun" "$tmp/greenrun-link"; do
        env -u GREENRUN_LIB -u LD_PRELOAD -u GREENRUN_DEBUG -u GREENRUN_PROCS \
            timeout 60 "$launcher" --procs 1 --debug banner -- "$tmp/probe" \
            >"$tmp/probe.out" 2>"$tmp/probe.err" ||
            fail "$name: $launcher --procs 1 --debug banner -- probe failed:" \
                "$(cat "$tmp/probe.err")"
        grep -q '^greenrun: active' "$tmp/probe.err" ||
            fail "$name: no banner from the installed library: $(cat "$tmp/probe.err")"
        line=$(cat "$tmp/probe.out")
        # probe: green G os_threads T waiting W preload P
        # shellcheck disable=SC2086 # split into its words
        set -- $line
        [ "$#" -eq 9 ] && [ "$3" = 1 ] && [ "$5" -le 8 ] && [ "$7" = cond ] && [ "$9" = "$lib" ] ||
            fail "$name: $launcher: expected green 1, at most 8 OS threads, waiting cond" \
                "and preload $lib; got: $line"
    done
    os_threads=$5

    check_pages "$dest$prefix/share/man"

    set -- PREFIX="$prefix"
    [ "$libdir" = "$prefix/lib" ] || set -- "$@" LIBDIR="$libdir"
    mk uninstall DESTDIR="$dest" "$@" >"$tmp/$name.uninstall.log" 2>&1 ||
        fail "$name: make uninstall failed: $(tail -n 5 "$tmp/$name.uninstall.log")"
    left=$(cd "$dest" && find . \( -type f -o -type l \) -printf '/%P ')
    [ -z "$left" ] || fail "$name: make uninstall left $left"
    echo "check-install: $name: ok (libdir $libdir; probe: 64 threads waiting on" \
        "$os_threads OS threads)"
}

check_layout usr-local /usr/local /usr/local/lib
if [ -n "$triplet" ]; then
    check_layout usr-multiarch /usr "/usr/lib/$triplet"
else
    echo "check-install: usr-multiarch: skipped (the compiler names no multiarch triplet)"
fi

# The launcher in the build tree still takes the library beside it.
lib=$(realpath "$build/libgreenrun.so")
env -u GREENRUN_LIB -u LD_PRELOAD -u GREENRUN_DEBUG -u GREENRUN_PROCS \
    timeout 60 "$build/greenrun" --procs 1 -- "$tmp/probe" >"$tmp/probe.out" 2>"$tmp/probe.err" ||
    fail "build tree: $build/greenrun -- probe failed: $(cat "$tmp/probe.err")"
line=$(cat "$tmp/probe.out")
# shellcheck disable=SC2086 # split into its words
set -- $line
[ "$#" -eq 9 ] && [ "$3" = 1 ] && [ "$9" = "$lib" ] ||
    fail "build tree: expected green 1 and preload $lib; got: $line"
echo "check-install: build tree: ok ($build/greenrun preloads $build/libgreenrun.so)"

# A LIBDIR the launcher does not search: make install says so, the launcher exits 127 naming
# what it tried, and GREENRUN_LIB points it at the library.
dest=$tmp/elsewhere
mk install DESTDIR="$dest" PREFIX=/opt/greenrun LIBDIR=/opt/greenrun-lib \
    >"$tmp/elsewhere.log" 2>&1 ||
    fail "elsewhere: make install failed: $(tail -n 5 "$tmp/elsewhere.log")"
grep -q '^install: note: the launcher does not look in /opt/greenrun-lib' "$tmp/elsewhere.log" ||
    fail "elsewhere: make install did not say the launcher will not find the library"
rc=0
env -u GREENRUN_LIB "$dest/opt/greenrun/bin/greenrun" true 2>"$tmp/elsewhere.err" || rc=$?
[ $rc -eq 127 ] && grep -q 'library not found: tried' "$tmp/elsewhere.err" ||
    fail "elsewhere: the launcher exited $rc: $(cat "$tmp/elsewhere.err")"
GREENRUN_LIB=$dest/opt/greenrun-lib/libgreenrun.so "$dest/opt/greenrun/bin/greenrun" \
    --debug banner true 2>"$tmp/elsewhere.err" ||
    fail "elsewhere: the launcher with GREENRUN_LIB failed: $(cat "$tmp/elsewhere.err")"
grep -q '^greenrun: active' "$tmp/elsewhere.err" || fail "elsewhere: no banner with GREENRUN_LIB"
mk uninstall DESTDIR="$dest" PREFIX=/opt/greenrun LIBDIR=/opt/greenrun-lib >/dev/null 2>&1 ||
    fail "elsewhere: make uninstall failed"
left=$(cd "$dest" && find . \( -type f -o -type l \) -printf '/%P ')
[ -z "$left" ] || fail "elsewhere: make uninstall left $left"
echo "check-install: elsewhere: ok (install warns; 127 without GREENRUN_LIB, green with it)"
echo "check-install: ok"
