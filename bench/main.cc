/*
 * bench/main.cc: Google Benchmark registration for the C workloads in shim.h.
 *
 * One binary, build/bench/greenrun-bench, runs natively and under LD_PRELOAD (greenrun,
 * jemalloc or mimalloc). Each benchmark iteration calls one workload for a batch of operations; the
 * workload reports the wall-clock time of its timed region (release of its threads to the last
 * operation, CLOCK_MONOTONIC), which is given to Google Benchmark as manual time. So every
 * reported time is real time, never CPU time, and thread setup is not counted.
 *
 * Counters in the JSON: ns_per_op (wall time / operations over all iterations), ops, the
 * workload's own metrics averaged over iterations, and peak_rss_kb, the process's VmHWM once the
 * benchmark is done. The driver runs one benchmark per process, so that is the workload's peak
 * RSS (with the process's fixed part, the same in every configuration but for the preloaded
 * library's own). A workload that fails its own check ends the benchmark with
 * SkipWithError("<reason>"); the report shows it as "failed: <reason>".
 *
 * The allocator workloads other than the micro ones run exactly one iteration, so every
 * configuration does the same work and their peak RSS compare; --wl_scale=F (default 1)
 * multiplies their operation counts: scripts/bench.sh --quick runs them smaller.
 *
 * The context records which preloaded allocator or runtime is mapped (context.preloaded), so
 * the driver can tell a greenrun run that silently ran without greenrun.
 */
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>

#include "shim.h"

namespace
{

struct spec {
    const char *name;
    wl_fn fn;
    long batch; /* operations per iteration */
    int threads;
    long arg;
    bool once;   /* exactly one iteration (the sleepers, the allocator workloads) */
    bool scaled; /* batch is multiplied by --wl_scale */
};

double wl_scale = 1.0; /* --wl_scale */

/*
 * Batches are sized for roughly 10-100 ms per iteration on the native run; the one-iteration
 * allocator workloads for roughly 0.1-0.5 s with glibc at scale 1.
 */
const spec specs[] = {
    { "create_join", wl_create_join, 2000, 1, 0, false, false },
    { "condvar_pingpong", wl_condvar_pingpong, 20000, 2, 0, false, false },
    { "sem_pingpong", wl_sem_pingpong, 20000, 2, 0, false, false },
    { "pipe_pingpong", wl_pipe_pingpong, 20000, 2, 0, false, false },
    { "socketpair_pingpong", wl_socketpair_pingpong, 20000, 2, 0, false, false },
    { "yield_pingpong", wl_yield_pingpong, 20000, 2, 0, false, false },
    { "mutex_uncontended", wl_mutex_uncontended, 2000000, 1, 0, false, false },
    { "mutex_contended", wl_mutex_contended, 400000, 4, 0, false, false },
    { "rwlock_readmostly", wl_rwlock_readmostly, 400000, 4, 64, false, false },
    { "timedwait_expire", wl_timedwait_expire, 3200, 16, 100, false, false },
    { "sleepers/1000", wl_sleepers, 0, 1000, 10, true, false },
    { "sleepers/4000", wl_sleepers, 0, 4000, 10, true, false },
    { "sleepers/10000", wl_sleepers, 0, 10000, 10, true, false },
    { "malloc_fastpath", wl_malloc_fastpath, 5000000, 1, 64, false, false },
    { "malloc_local", wl_malloc_local, 1000000, 1, 0, false, false },
    { "malloc_cross", wl_malloc_cross, 500000, 2, 0, false, false },
    { "larson/2", wl_larson, 2000000, 2, 10000, true, true },
    { "larson/8", wl_larson, 2000000, 8, 10000, true, true },
    { "prodcons", wl_prodcons, 500000, 4, 64, true, true },
    { "fragmentation", wl_fragmentation, 400000, 1, 0, true, true },
    { "realloc_growth", wl_realloc_growth, 40000, 2, 0, true, true },
    { "large_blocks", wl_large_blocks, 5000, 2, 0, true, true },
};

/* This process's peak RSS (VmHWM) in KiB, or -1. */
double
peak_rss_kb()
{
    std::ifstream status("/proc/self/status");
    std::string line;

    while (std::getline(status, line)) {
        if (line.compare(0, 6, "VmHWM:") == 0)
            return std::strtod(line.c_str() + 6, nullptr);
    }
    return -1;
}

void
run_spec(benchmark::State &state, const spec *s)
{
    long batch = s->scaled ? std::max(1L, std::lround((double)s->batch * wl_scale)) : s->batch;
    wl_params p = { batch, s->threads, s->arg };
    double total_ns = 0, total_ops = 0;
    std::map<std::string, double> sums;
    long iters = 0;
    static thread_local std::string error;

    for (auto _ : state) {
        wl_result r;
        std::memset(&r, 0, sizeof(r));
        if (s->fn(&p, &r) != 0) {
            error = r.err;
            state.SkipWithError(error.c_str());
            break;
        }
        state.SetIterationTime((double)r.wall_ns / 1e9);
        total_ns += (double)r.wall_ns;
        total_ops += (double)r.ops_done;
        for (int i = 0; i < r.nmetrics; i++)
            sums[r.metrics[i].name] += r.metrics[i].value;
        iters++;
    }
    if (iters == 0 || total_ops == 0)
        return;
    state.counters["ns_per_op"] = total_ns / total_ops;
    state.counters["ops"] = total_ops;
    state.counters["threads"] = s->threads;
    state.counters["peak_rss_kb"] = peak_rss_kb();
    for (const auto &kv : sums)
        state.counters[kv.first] = kv.second / (double)iters;
}

/* Names of the interesting preloaded libraries mapped into this process. */
std::string
preloaded_libraries()
{
    std::ifstream maps("/proc/self/maps");
    std::string line, found;

    while (std::getline(maps, line)) {
        for (const char *lib : { "libgreenrun", "libjemalloc", "libmimalloc" }) {
            if (line.find(lib) != std::string::npos && found.find(lib) == std::string::npos)
                found += found.empty() ? lib : std::string(",") + lib;
        }
    }
    return found.empty() ? "none" : found;
}

} /* namespace */

int
main(int argc, char **argv)
{
    /* A failed ping-pong peer must show up as an error, not kill the process with SIGPIPE. */
    std::signal(SIGPIPE, SIG_IGN);
    /* Our own flag, taken out before Google Benchmark sees the arguments. */
    int kept = 1;
    for (int i = 1; i < argc; i++) {
        if (std::strncmp(argv[i], "--wl_scale=", 11) == 0) {
            char *end;
            wl_scale = std::strtod(argv[i] + 11, &end);
            if (*end != '\0' || !(wl_scale > 0)) {
                std::fprintf(stderr, "greenrun-bench: --wl_scale wants a number above 0\n");
                return 2;
            }
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    argv[argc] = nullptr;
    for (const spec &s : specs) {
        benchmark::internal::Benchmark *b =
            benchmark::RegisterBenchmark(s.name, [&s](benchmark::State &st) { run_spec(st, &s); });
        b->UseManualTime()->Unit(benchmark::kMicrosecond);
        if (s.once)
            b->Iterations(1);
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 1;
    benchmark::AddCustomContext("preloaded", preloaded_libraries());
    benchmark::AddCustomContext("wl_scale", std::to_string(wl_scale));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
