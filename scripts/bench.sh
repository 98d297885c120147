#!/usr/bin/env bash
# scripts/bench.sh: run greenrun's benchmark suite and write its report.
#
# Usage: scripts/bench.sh [--quick] [--rounds N] [--out DIR] [--only GROUPS]
#        environment: BENCH_GREENRUN_SO=path (another libgreenrun.so), PYTHON=python3
#
# Every workload runs natively, under greenrun (LD_PRELOAD of a snapshot of
# build/libgreenrun.so taken at the start; GREENRUN_PROCS unset, so it uses every CPU) and in
# Go. The allocator workloads (the malloc group, and echo_alloc: echo-server -a) run in five
# configurations instead: native (glibc malloc), jemalloc and mimalloc (Debian's libjemalloc2
# and libmimalloc2.0, each LD_PRELOADed alone), greenrun (its default allocator) and gr-system
# (greenrun with GREENRUN_MALLOC=system: greenrun's scheduler over glibc malloc). gr-system also
# runs create_join and echo, the thread churn and echo that greenrun's allocator must not slow
# down; a library that does not accept GREENRUN_MALLOC gets its gr-system runs skipped.
# Configurations are interleaved workload by workload and their order rotates from round to
# round; each run is its own process, so each configuration's peak RSS is its own.
# scripts/bench-report.py takes the median over the rounds and writes the report.
#
# System calls per operation: every micro workload's run (native, greenrun, Go) also counts the
# system calls of its steady state, in the same process after its timed iterations: a count
# pass with the raw_syscalls:sys_enter tracepoint on every thread of the process, which
# subtracts a one-operation-per-thread call from a big call so that start-up and the
# workload's own setup cancel out (bench/main.cc and bench/go/micro/main.go say how; the
# counters are closed while the time is measured). No hardware counters are needed; where
# perf_event_open is refused, the runs say why and the report shows "not counted".
# Every greenrun run prints greenrun's banner (GREENRUN_DEBUG gets "banner" appended), whose
# "switches with wrfsbase|arch_prctl" the report takes as the FS-switch path the run used. The
# group "switch" runs yield_pingpong with GREENRUN_PROCS=1, where each round trip is exactly
# two G-to-G switches, once as greenrun chooses (gr-1p) and once with the arch_prctl path
# forced (gr-1p-prctl, GREENRUN_DEBUG=fs=arch_prctl): the system calls of one switch on each
# path.
#
#   full (default)  3 rounds; writes bench/results/latest.{json,md,png} and docs/benchmarks.md
#   --quick         1 round, small sizes (allocator workloads at half their full
#                   operation counts), under a minute; writes bench/results/latest.* only, so
#                   the docs page keeps the last full run
#   --only GROUPS   run only these groups (comma-separated): micro (sleepers included),
#                   switch, malloc, echo, echo_alloc, blocked, pool, db, gc (the leak check:
#                   scripts/gc-bench.sh, full runs or when named here). The report then has
#                   only their targets; it goes to build/bench/results-only/ (not
#                   bench/results/, unless --out says so) and docs/benchmarks.md is not
#                   rewritten, so a partial run never replaces a whole report.
#                   Example: scripts/bench.sh --quick --only pool,db
#
# The server groups: echo (bench/echo_server.c, a thread per connection), echo_alloc (the same,
# allocation-heavy), pool (bench/pool_server.c: an acceptor, a pool of POOL_WORKERS workers fed
# through a mutex+condvar queue, poll with a timeout before each keep-alive request; 64 and
# 1,000 connections) and db (bench/db_server.c: a thread per connection meeting on raw futexes,
# condvars and group commit around pread/pwrite; 16 and 64 connections, DB_WRITE_PCT% writes).
# All of them are driven by build/bench/echo-client over 127.0.0.1 (db with its -D protocol),
# which also reads the server's CPU time (utime+stime in /proc/PID/stat) over the measured
# window; each server runs natively, under greenrun and as its Go counterpart (bench/go/).
#
# Every run is bounded by timeout(1). A run that fails its own checks, crashes or times out is
# recorded as failed with its reason, and the suite goes on: speed never fails this script. It
# exits non-zero only when it cannot run at all (binaries that do not build, no python3).
#
# Limits of the machine, respected on purpose: kernel.pid_max is 32768, so native runs stay
# at a few thousand threads (sleepers and echo above the caps below are reported as skipped).
# No sysctl or ulimit is changed. Servers bind 127.0.0.1 and are stopped by pid.
set -u

cd "$(dirname "$0")/.." || exit 2
B=build/bench
MODE=full
ROUNDS=
OUT=
ONLY=
GROUPS_ALL="micro switch malloc echo echo_alloc blocked pool db gc"

while [ $# -gt 0 ]; do
    case $1 in
    --quick) MODE=quick ;;
    --rounds) ROUNDS=$2; shift ;;
    --out) OUT=$2; shift ;;
    --only)
        ONLY=" ${2//,/ } "
        for g in $ONLY; do
            case " $GROUPS_ALL " in
            *" $g "*) ;;
            *) echo "bench.sh: --only: unknown group '$g' (groups: ${GROUPS_ALL// /, })" >&2
               exit 2 ;;
            esac
        done
        shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed 's/^# \{0,1\}//;/^set -u/d'; exit 0 ;;
    *) echo "bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ -z "$OUT" ]; then
    OUT=bench/results
    [ -n "$ONLY" ] && OUT=build/bench/results-only
fi

MICRO="create_join condvar_pingpong sem_pingpong pipe_pingpong socketpair_pingpong
       yield_pingpong mutex_uncontended mutex_contended rwlock_readmostly timedwait_expire"
MALLOC="malloc_fastpath malloc_local malloc_cross larson/2 larson/8 prodcons fragmentation
        realloc_growth large_blocks"
CHURN="create_join"         # micro workloads gr-system runs too
POOL_CONNS="64 1000"        # pool: client connections (issue 13's two sizes)
POOL_WORKERS=64             # pool: the server's worker threads (goroutines in Go)
DB_CONNS="16 64"            # db: client connections, a server thread each
DB_WRITE_PCT=10             # db: percentage of write transactions (group commit)
NATIVE_MAX_THREADS=4000     # native thread cap (pid_max 32768, shared with the client)
NATIVE_MAX_CONNS=5000       # a native thread-per-connection server above this: skipped
NATIVE_BLOCKED=2000         # native "most blocked threads" runs at this safe count
if [ "$MODE" = quick ]; then
    : "${ROUNDS:=1}"
    MINTIME=0.05            # seconds of measured time per micro benchmark
    SLEEPERS="1000"
    ECHO_CONNS="100 1000"
    ECHO_WARMUP=0.3; ECHO_SECONDS=1
    ECHO_ALLOC_CONNS="100 1000"
    ALLOC_SCALE=1           # greenrun-bench --wl_scale: the one-iteration allocator workloads
    BLOCKED=20000           # greenrun and Go
    T_MICRO=15; T_BLOCKED=30; BLOCKED_BUDGET=15; CONNECT_T=15
else
    : "${ROUNDS:=3}"
    MINTIME=0.5
    SLEEPERS="4000 10000"
    ECHO_CONNS="100 5000 10000"
    ECHO_WARMUP=1; ECHO_SECONDS=5
    ECHO_ALLOC_CONNS="100 5000"
    ALLOC_SCALE=2
    BLOCKED=1000000
    T_MICRO=120; T_BLOCKED=300; BLOCKED_BUDGET=60; CONNECT_T=60
fi
GR_TIMEOUT_LIMIT=3          # quick mode: after this many greenrun timeouts, stop trying it
BLOCKED_RESERVE_MIB=2048    # blocked runs stop creating threads when MemAvailable is below this

# Packages (scripts/deps.sh installs what is missing when run as root), then the binaries.
if [ -f scripts/deps.sh ]; then
    bash scripts/deps.sh bench || echo "bench.sh: some packages are missing; going on" >&2
fi
if [ "${BENCH_NO_BUILD:-}" != 1 ]; then
    make -s -f bench/bench.mk bench-build || { echo "bench.sh: build failed" >&2; exit 2; }
fi
for bin in greenrun-bench echo-server echo-client blocked-threads pool-server db-server; do
    [ -x "$B/$bin" ] || { echo "bench.sh: $B/$bin missing" >&2; exit 2; }
done
PYTHON=${PYTHON:-python3}
command -v "$PYTHON" >/dev/null || { echo "bench.sh: python3 missing" >&2; exit 2; }

# The configurations.
unset GREENRUN_PROCS
# Every greenrun run prints the banner (to stderr, in its log): the report reads the FS-switch
# path there. A GREENRUN_DEBUG of the caller's is kept, the banner added to it.
GR_DEBUG=${GREENRUN_DEBUG:+$GREENRUN_DEBUG,}banner
# BENCH_GREENRUN_SO points the greenrun runs at another build of the library (default: ours).
# The runs preload a snapshot taken now (same name, under build/bench/lib/), so that a rebuild
# of build/libgreenrun.so during a long run cannot mix two builds in one report.
GR_LIB=${BENCH_GREENRUN_SO:-build/libgreenrun.so}
GR_SO=; GR_REASON=
if [ -f "$GR_LIB" ]; then
    mkdir -p "$B/lib"
    if cp "$GR_LIB" "$B/lib/libgreenrun.so.tmp" &&
            mv "$B/lib/libgreenrun.so.tmp" "$B/lib/libgreenrun.so"; then
        GR_SO=$(realpath "$B/lib/libgreenrun.so")
    else
        GR_REASON="could not snapshot $GR_LIB"
    fi
else
    GR_REASON="$GR_LIB does not exist"
fi
JE_SO=$(ldconfig -p 2>/dev/null | awk '/libjemalloc\.so\.2 /{print $NF; exit}')
JE_REASON=
if [ -z "$JE_SO" ] || [ ! -f "$JE_SO" ]; then
    JE_SO=
    JE_REASON="libjemalloc.so.2 not installed (libjemalloc-dev)"
fi
# gr-system needs a library that knows GREENRUN_MALLOC (greenrun rejects unknown GREENRUN_*
# variables); without it, its runs are skipped with the library's own message.
GRSYS_SKIP=
if [ -n "$GR_SO" ]; then
    if ! probe=$(env GREENRUN_MALLOC=system "LD_PRELOAD=$GR_SO" true 2>&1); then
        GRSYS_SKIP="this libgreenrun.so does not take GREENRUN_MALLOC=system ($(printf '%s' \
            "$probe" | head -n 1 | cut -c1-120))"
    fi
fi
MI_SO=$(ldconfig -p 2>/dev/null | awk '/libmimalloc\.so\.2 /{print $NF; exit}')
MI_REASON=
if [ -z "$MI_SO" ] || [ ! -f "$MI_SO" ]; then
    MI_SO=
    MI_REASON="libmimalloc.so.2 not installed (libmimalloc2.0)"
fi
GO_REASON=
if [ ! -x "$B/go-bench" ] || [ ! -x "$B/go-echo-server" ] || [ ! -x "$B/go-pool-server" ] ||
        [ ! -x "$B/go-db-server" ]; then
    GO_REASON="Go binaries not built (golang-go missing?)"
fi

# Raw results per mode, so a quick run does not erase the last full run's data; re-render a
# report with: scripts/bench-report.py --raw build/bench/raw-full --out bench/results.
RAW=$B/raw-$MODE
rm -rf "$RAW"
mkdir -p "$RAW"
MANIFEST=$RAW/runs.tsv
printf 'round\tgroup\tworkload\tconfig\tkind\trc\tseconds\tout\tlog\tnote\n' > "$MANIFEST"

{
    echo "mode=$MODE"
    echo "rounds=$ROUNDS"
    echo "started_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    # The machine's load average (1, 5, 15 min): other processes take CPU from the runs, and
    # a runtime with one OS thread per CPU can lose more of it than a thread-per-request server.
    echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    if [ -n "$ONLY" ]; then
        echo "command=scripts/bench.sh$([ "$MODE" = quick ] && echo ' --quick') --only $(echo \
            $ONLY | tr ' ' ',')"
    else
        echo "command=$([ "$MODE" = quick ] && echo 'make bench-quick' || echo 'make bench')"
    fi
    echo "greenrun_so=$GR_SO"
    echo "greenrun_lib=$GR_LIB"
    echo "greenrun_missing=$GR_REASON"
    if [ -n "$GR_SO" ] && nm -D --defined-only "$GR_SO" 2>/dev/null |
            awk '$3 == "malloc" { f = 1 } END { exit !f }'; then
        echo "greenrun_allocator=yes"
    else
        echo "greenrun_allocator=no"
    fi
    [ -n "$GR_SO" ] && echo "greenrun_so_sha256=$(sha256sum "$GR_SO" | cut -c1-16)"
    echo "greenrun_procs=unset (greenrun's default: all CPUs)"
    echo "greenrun_env=$(env | grep '^GREENRUN_' | tr '\n' ' ')"
    echo "greenrun_debug=$GR_DEBUG"
    echo "jemalloc_so=$JE_SO"
    echo "mimalloc_so=$MI_SO"
    echo "gr_system_skipped=$GRSYS_SKIP"
    echo "alloc_scale=$ALLOC_SCALE"
    echo "echo_alloc_conns=$ECHO_ALLOC_CONNS"
    echo "git_commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)"
    dirty=no
    [ -n "$(git status --porcelain 2>/dev/null | head -n 1)" ] && dirty=yes
    echo "git_dirty=$dirty"
    echo "mintime_s=$MINTIME"
    echo "sleepers=$SLEEPERS"
    echo "echo_conns=$ECHO_CONNS"
    echo "echo_seconds=$ECHO_SECONDS"
    echo "echo_warmup=$ECHO_WARMUP"
    echo "blocked=$BLOCKED"
    echo "native_blocked=$NATIVE_BLOCKED"
    echo "blocked_budget_s=$BLOCKED_BUDGET"
    echo "native_max_threads=$NATIVE_MAX_THREADS"
    echo "native_max_conns=$NATIVE_MAX_CONNS"
    echo "only=$(echo $ONLY | tr ' ' ',')"
    echo "pool_conns=$POOL_CONNS"
    echo "pool_workers=$POOL_WORKERS"
    echo "db_conns=$DB_CONNS"
    echo "db_write_pct=$DB_WRITE_PCT"
} > "$RAW/env.txt"

SERVER_PID=
cleanup()
{
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null
        wait "$SERVER_PID" 2>/dev/null
    fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

GR_TIMEOUTS=0
NRUNS=0; NFAILED=0

record()    # round group workload config kind rc seconds out log note
{
    # Output paths are stored relative to $RAW, so the directory can be moved and re-rendered.
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" \
        "${8#"$RAW"/}" "${9#"$RAW"/}" "${10}" >> "$MANIFEST"
    local status=ok
    case $6 in
    skip) status="skipped: ${10}" ;;
    0) ;;
    *) status="rc=$6${10:+: ${10}}"; NFAILED=$((NFAILED + 1)) ;;
    esac
    NRUNS=$((NRUNS + 1))
    printf '[round %s] %-10s %-22s %-11s %6ss  %s\n' "$1" "$2" "$3" "$4" "$7" "$status"
}

# Rotate a list of configurations by the round number, so no configuration always runs first.
rotate()    # round config...
{
    local r=$1; shift
    local a=("$@") n=$# i
    for ((i = 0; i < n; i++)); do
        printf '%s ' "${a[$(((i + r) % n))]}"
    done
}

# Set PRE to the command prefix that gives a C configuration its preload.
set_preload()
{
    case $1 in
    native) PRE=(env -u LD_PRELOAD) ;;
    greenrun) PRE=(env -u GREENRUN_MALLOC "GREENRUN_DEBUG=$GR_DEBUG" "LD_PRELOAD=$GR_SO") ;;
    gr-system) PRE=(env GREENRUN_MALLOC=system "GREENRUN_DEBUG=$GR_DEBUG" "LD_PRELOAD=$GR_SO") ;;
    gr-1p) PRE=(env -u GREENRUN_MALLOC GREENRUN_PROCS=1 "GREENRUN_DEBUG=$GR_DEBUG" \
        "LD_PRELOAD=$GR_SO") ;;
    gr-1p-prctl) PRE=(env -u GREENRUN_MALLOC GREENRUN_PROCS=1 \
        "GREENRUN_DEBUG=$GR_DEBUG,fs=arch_prctl" "LD_PRELOAD=$GR_SO") ;;
    jemalloc) PRE=(env "LD_PRELOAD=$JE_SO") ;;
    mimalloc) PRE=(env "LD_PRELOAD=$MI_SO") ;;
    esac
}

# Returns 1 (after recording why) when config cannot run at all.
available()    # round group workload config kind
{
    local why=
    case $4 in
    greenrun|gr-system|gr-1p|gr-1p-prctl)
        why=$GR_REASON
        if [ -z "$why" ] && [ "$MODE" = quick ] && [ "$GR_TIMEOUTS" -ge "$GR_TIMEOUT_LIMIT" ]; then
            why="not run: quick mode stops trying greenrun after $GR_TIMEOUT_LIMIT timeouts"
        fi
        if [ -z "$why" ] && [ "$4" = gr-system ] && [ -n "$GRSYS_SKIP" ]; then
            record "$1" "$2" "$3" "$4" "$5" skip 0 - - "$GRSYS_SKIP"
            return 1
        fi ;;
    jemalloc) why=$JE_REASON ;;
    mimalloc) why=$MI_REASON ;;
    go) why=$GO_REASON ;;
    esac
    [ -z "$why" ] && return 0
    record "$1" "$2" "$3" "$4" "$5" fail 0 - - "$why"
    return 1
}

# Describe a finished process's status for the manifest note.
describe_rc()    # rc timeout log seconds
{
    local rc=$1
    if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ "${4%.*}" -ge "$2" ]; }; then
        echo "timed out after $2 s"
    elif [ "$rc" -eq 137 ]; then
        echo "killed by SIGKILL (out of memory?)"
    elif [ "$rc" -gt 128 ]; then
        echo "killed by SIG$(kill -l $((rc - 128)) 2>/dev/null || echo $((rc - 128)))"
    elif [ "$rc" -ne 0 ]; then
        local last
        last=$(grep -v '^\s*$' "$3" 2>/dev/null | tail -n 1 | cut -c1-160 | tr '\t' ' ')
        echo "exit status $rc: $last"
    fi
}

note_timeout()    # config rc
{
    case $1 in
    greenrun|gr-system|gr-1p|gr-1p-prctl)
        if [ "$2" -eq 124 ] || [ "$2" -eq 137 ]; then
            GR_TIMEOUTS=$((GR_TIMEOUTS + 1))
        fi ;;
    esac
}

elapsed()    # start_ns
{
    local now
    now=$(date +%s%N)
    awk -v a="$1" -v b="$now" 'BEGIN { printf "%.1f", (b - a) / 1e9 }'
}

run_micro()    # round group workload config
{
    local round=$1 group=$2 w=$3 cfg=$4 kind=gbench
    [ "$cfg" = go ] && kind=gobench
    available "$round" "$group" "$w" "$cfg" "$kind" || return 0
    local dir=$RAW/r$round/$group
    mkdir -p "$dir"
    local out=$dir/${w//\//_}.$cfg.json log=$dir/${w//\//_}.$cfg.log
    local t0 rc secs
    t0=$(date +%s%N)
    if [ "$cfg" = go ]; then
        timeout -k 5 "$T_MICRO" "$B/go-bench" -bench "$w" -mintime "$MINTIME" -out "$out" \
            > "$log" 2>&1
    else
        set_preload "$cfg"
        timeout -k 5 "$T_MICRO" "${PRE[@]}" "$B/greenrun-bench" \
            --benchmark_filter="^$w/" --benchmark_min_time="$MINTIME" --wl_scale="$ALLOC_SCALE" \
            --benchmark_out="$out" --benchmark_out_format=json > "$log" 2>&1
    fi
    rc=$?
    secs=$(elapsed "$t0")
    note_timeout "$cfg" "$rc"
    record "$round" "$group" "$w" "$cfg" "$kind" "$rc" "$secs" "$out" "$log" \
        "$(describe_rc "$rc" "$T_MICRO" "$log" "$secs")"
}

stop_server()
{
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null
    local i
    for i in $(seq 30); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

# group echo runs echo-server as it is; group echo_alloc runs it allocation-heavy (-a); group
# pool runs pool-server, group db db-server (each with its Go counterpart for config go).
run_echo()    # round group conns config
{
    local round=$1 group=$2 conns=$3 cfg=$4
    local sargs=(-p 0) srv=echo-server gosrv=go-echo-server cargs=()
    case $group in
    echo_alloc) sargs+=(-a) ;;
    pool) srv=pool-server; gosrv=go-pool-server; sargs+=(-W "$POOL_WORKERS") ;;
    db) srv=db-server; gosrv=go-db-server; cargs=(-D "$DB_WRITE_PCT") ;;
    esac
    if [ "$cfg" = native ] && [ "$conns" -gt "$NATIVE_MAX_CONNS" ]; then
        record "$round" "$group" "$conns" "$cfg" echo skip 0 - - \
            "pid_max: the native thread-per-connection server is capped at $NATIVE_MAX_CONNS conns"
        return 0
    fi
    available "$round" "$group" "$conns" "$cfg" echo || return 0
    local dir=$RAW/r$round/$group
    mkdir -p "$dir"
    local out=$dir/$conns.$cfg.json log=$dir/$conns.$cfg.log
    local srvout=$dir/$conns.$cfg.server.out srvlog=$dir/$conns.$cfg.server.log
    local t0 rc note= port= i
    t0=$(date +%s%N)
    if [ "$cfg" = go ]; then
        "$B/$gosrv" "${sargs[@]}" > "$srvout" 2> "$srvlog" &
    else
        set_preload "$cfg"
        "${PRE[@]}" "$B/$srv" "${sargs[@]}" > "$srvout" 2> "$srvlog" &
    fi
    SERVER_PID=$!
    for i in $(seq 100); do
        port=$(awk '/^port /{ print $2; exit }' "$srvout" 2>/dev/null)
        [ -n "$port" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then
        if kill -0 "$SERVER_PID" 2>/dev/null; then
            note="server printed no port within 10 s"
            rc=1
            stop_server
        else
            wait "$SERVER_PID"; rc=$?
            SERVER_PID=
            note="server $(describe_rc "$rc" 1000000 "$srvlog" 0)"
            [ "$rc" -eq 0 ] && rc=1
        fi
        note_timeout "$cfg" 124    # a server that cannot start counts like a hang
        record "$round" "$group" "$conns" "$cfg" echo "$rc" "$(elapsed "$t0")" "$out" "$log" "$note"
        return 0
    fi
    local tmo
    tmo=$(awk -v a="$CONNECT_T" -v b="$ECHO_WARMUP" -v c="$ECHO_SECONDS" \
        'BEGIN { printf "%d", a + b + c + 30 }')
    timeout -k 5 "$tmo" "$B/echo-client" -p "$port" -c "$conns" -d "$ECHO_SECONDS" \
        -w "$ECHO_WARMUP" -P "$SERVER_PID" -T "$CONNECT_T" "${cargs[@]}" > "$out" 2> "$log"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        # The client reports its error on stdout.
        note=$(describe_rc "$rc" "$tmo" "$out" "$(elapsed "$t0")")
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            local src
            wait "$SERVER_PID"; src=$?
            SERVER_PID=
            note="server $(describe_rc "$src" 1000000 "$srvlog" 0); client: $note"
        fi
    fi
    stop_server
    note_timeout "$cfg" "$rc"
    record "$round" "$group" "$conns" "$cfg" echo "$rc" "$(elapsed "$t0")" "$out" "$log" "$note"
}

run_blocked()    # round config
{
    local round=$1 cfg=$2 n=$BLOCKED
    [ "$cfg" = native ] && n=$NATIVE_BLOCKED
    available "$round" blocked "$n" "$cfg" blocked || return 0
    local dir=$RAW/r$round/blocked
    mkdir -p "$dir"
    local out=$dir/$cfg.json log=$dir/$cfg.log t0 rc secs
    t0=$(date +%s%N)
    if [ "$cfg" = go ]; then
        timeout -k 5 "$T_BLOCKED" "$B/go-bench" -blocked "$n" -t "$BLOCKED_BUDGET" \
            -m "$BLOCKED_RESERVE_MIB" > "$out" 2> "$log"
    else
        set_preload "$cfg"
        timeout -k 5 "$T_BLOCKED" "${PRE[@]}" "$B/blocked-threads" -n "$n" \
            -t "$BLOCKED_BUDGET" -m "$BLOCKED_RESERVE_MIB" > "$out" 2> "$log"
    fi
    rc=$?
    secs=$(elapsed "$t0")
    note_timeout "$cfg" "$rc"
    record "$round" blocked "$n" "$cfg" blocked "$rc" "$secs" "$out" "$log" \
        "$(describe_rc "$rc" "$T_BLOCKED" "$log" "$secs")"
}

# Whether group $1 runs: every group without --only, else the groups it names.
want()
{
    [ -z "$ONLY" ] && return 0
    case $ONLY in *" $1 "*) return 0 ;; esac
    return 1
}

SUITE_T0=$(date +%s%N)
echo "bench: $MODE mode, $ROUNDS round(s)${ONLY:+, groups:$ONLY}; greenrun: ${GR_SO:-$GR_REASON}"
for ((round = 1; round <= ROUNDS; round++)); do
    if want micro; then
        for w in $MICRO; do
            cfgs="native greenrun go"
            case " $CHURN " in *" $w "*) cfgs="native greenrun gr-system go" ;; esac
            for cfg in $(rotate "$round" $cfgs); do
                run_micro "$round" micro "$w" "$cfg"
            done
        done
    fi
    if want switch; then
        for cfg in $(rotate "$round" gr-1p gr-1p-prctl); do
            run_micro "$round" switch yield_pingpong "$cfg"
        done
    fi
    if want micro; then
        for n in $SLEEPERS; do
            for cfg in $(rotate "$round" native greenrun go); do
                if [ "$cfg" = native ] && [ "$n" -gt "$NATIVE_MAX_THREADS" ]; then
                    record "$round" micro "sleepers/$n" native gbench skip 0 - - \
                        "pid_max: native runs are capped at $NATIVE_MAX_THREADS threads"
                    continue
                fi
                run_micro "$round" micro "sleepers/$n" "$cfg"
            done
        done
        for cfg in $(rotate "$round" native greenrun go); do
            run_micro "$round" micro cpu_latency "$cfg"
        done
    fi
    if want malloc; then
        for w in $MALLOC; do
            for cfg in $(rotate "$round" native jemalloc mimalloc greenrun gr-system); do
                run_micro "$round" malloc "$w" "$cfg"
            done
        done
    fi
    if want echo; then
        for conns in $ECHO_CONNS; do
            for cfg in $(rotate "$round" native greenrun gr-system go); do
                run_echo "$round" echo "$conns" "$cfg"
            done
        done
    fi
    if want echo_alloc; then
        for conns in $ECHO_ALLOC_CONNS; do
            for cfg in $(rotate "$round" native jemalloc mimalloc greenrun gr-system); do
                run_echo "$round" echo_alloc "$conns" "$cfg"
            done
        done
    fi
    if want pool; then
        for conns in $POOL_CONNS; do
            for cfg in $(rotate "$round" native greenrun go); do
                run_echo "$round" pool "$conns" "$cfg"
            done
        done
    fi
    if want db; then
        for conns in $DB_CONNS; do
            for cfg in $(rotate "$round" native greenrun go); do
                run_echo "$round" db "$conns" "$cfg"
            done
        done
    fi
    if want blocked; then
        for cfg in $(rotate "$round" native greenrun go); do
            run_blocked "$round" "$cfg"
        done
    fi
done
# The leak check's benchmarks: their own interleaved rounds, a section the report carries over.
if want gc && { [ "$MODE" = full ] || [ -n "$ONLY" ]; }; then
    ROUNDS=$ROUNDS bash scripts/gc-bench.sh --out bench/results/gc.md >/dev/null ||
        echo "bench.sh: scripts/gc-bench.sh failed" >&2
fi
echo "finished_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> "$RAW/env.txt"
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/env.txt"
echo "runs_seconds=$(elapsed "$SUITE_T0")" >> "$RAW/env.txt"
echo "bench: $NRUNS runs in $(elapsed "$SUITE_T0") s, $NFAILED failed"

DOCS=()
[ "$MODE" = full ] && [ -z "$ONLY" ] && DOCS=(--docs docs/benchmarks.md)
"$PYTHON" scripts/bench-report.py --raw "$RAW" --out "$OUT" "${DOCS[@]}" || {
    echo "bench.sh: the report could not be written" >&2
    exit 2
}
exit 0
