#!/bin/sh
# scripts/demo.sh LIB LAUNCHER: the main job, for a first look.
# One unmodified pthread program (tests/thread_100k_condwait.c: N threads blocked in a
# condition wait, then woken and joined) runs natively with 2,000 threads, then under the
# greenrun launcher with 100,000; each run prints the OS threads it used and RSS per thread.
set -eu
lib=$1
launcher=$2
bin=build/tests/bin/thread_100k_condwait
[ -x "$bin" ] || { echo "demo: $bin missing (make builds it)" >&2; exit 1; }
echo "== native: 2,000 pthreads are 2,000 OS threads"
GREENRUN_TEST_MODE=native "$bin"
echo
echo "== greenrun: 100,000 pthreads on $(nproc) processors"
GREENRUN_TEST_MODE=green GREENRUN_LIB="$lib" "$launcher" --debug banner,stats -- "$bin"
