# bench/bench.mk: the benchmark suite's build rules and run targets.
#
# The top-level Makefile includes this file; it also works alone (make -f bench/bench.mk ...).
#   bench        the full suite (scripts/bench.sh): interleaved native/greenrun/Go runs, the
#                allocator workloads under glibc/jemalloc/mimalloc/greenrun/gr-system, median
#                of 3, report in bench/results/ and docs/benchmarks.md
#   bench-quick  a subset with small sizes and one repetition, under a minute
#   bench-build  only the binaries, into build/bench/
# Building the benchmarks never needs build/libgreenrun.so. The run targets try to (re)build it
# first; if that fails, the greenrun configurations are reported as failed and the rest runs.
# All names here start with BENCH_ or bench so that they cannot collide with the runtime's.

# Including this file must not change the includer's default goal (all).
BENCH_SAVED_GOAL := $(.DEFAULT_GOAL)

BENCH_OUT      := build/bench
BENCH_CPPFLAGS := -D_GNU_SOURCE -Ibench
BENCH_CFLAGS   := -std=gnu11 -O2 -g -pthread -Wall -Wextra -MMD -MP
BENCH_CXXFLAGS := -std=gnu++17 -O2 -g -Wall -Wextra -MMD -MP
BENCH_LIBS     := -lbenchmark -lpthread

BENCH_WL_SRCS  := bench/util.c bench/syscount.c bench/wl_thread.c bench/wl_sync.c bench/wl_io.c \
                  bench/wl_latency.c \
                  bench/wl_malloc.c bench/wl_gc.c
BENCH_C_SRCS   := $(BENCH_WL_SRCS) bench/echo_server.c bench/echo_client.c \
                  bench/blocked_threads.c bench/pool_server.c bench/db_server.c bench/server.c
BENCH_C_OBJS   := $(BENCH_C_SRCS:bench/%.c=$(BENCH_OUT)/obj/%.o)
BENCH_CC_OBJS  := $(BENCH_OUT)/obj/main.o
BENCH_WL_OBJS  := $(BENCH_WL_SRCS:bench/%.c=$(BENCH_OUT)/obj/%.o)

BENCH_BINS     := $(BENCH_OUT)/greenrun-bench $(BENCH_OUT)/echo-server \
                  $(BENCH_OUT)/echo-client $(BENCH_OUT)/blocked-threads \
                  $(BENCH_OUT)/pool-server $(BENCH_OUT)/db-server

# Go anchors: standard library only, built offline in a cache under build/bench/go/.
BENCH_GO       ?= go
BENCH_HAVE_GO  := $(shell command -v $(BENCH_GO) 2>/dev/null)
BENCH_GO_ENV   := GOCACHE=$(abspath $(BENCH_OUT)/go/cache) GOPATH=$(abspath $(BENCH_OUT)/go/path) \
                  GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GO111MODULE=on GOWORK=off CGO_ENABLED=0
BENCH_GO_BINS  := $(BENCH_OUT)/go-bench $(BENCH_OUT)/go-echo-server \
                  $(BENCH_OUT)/go-pool-server $(BENCH_OUT)/go-db-server

.PHONY: bench bench-quick bench-build bench-greenrun-lib

bench-build: $(BENCH_BINS) $(if $(BENCH_HAVE_GO),$(BENCH_GO_BINS))
ifeq ($(BENCH_HAVE_GO),)
	@echo "bench: '$(BENCH_GO)' not found (golang-go); the Go runs will be reported as failed"
endif

# scripts/bench.sh installs missing packages (scripts/deps.sh) and then builds bench-build.
bench: bench-greenrun-lib
	bash scripts/bench.sh

bench-quick: bench-greenrun-lib
	bash scripts/bench.sh --quick

# Runs want a current build/libgreenrun.so, but a runtime that does not build must not stop the
# suite: the driver then records every greenrun configuration as failed.
bench-greenrun-lib:
	@$(MAKE) --no-print-directory -f $(firstword $(MAKEFILE_LIST)) build/libgreenrun.so || \
	    echo "bench: build/libgreenrun.so did not build; the greenrun runs will be reported as failed"

$(BENCH_C_OBJS): $(BENCH_OUT)/obj/%.o: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -c $< -o $@

$(BENCH_CC_OBJS): $(BENCH_OUT)/obj/%.o: bench/%.cc
	@mkdir -p $(@D)
	$(CXX) $(BENCH_CPPFLAGS) $(BENCH_CXXFLAGS) -c $< -o $@

$(BENCH_OUT)/greenrun-bench: $(BENCH_CC_OBJS) $(BENCH_WL_OBJS)
	$(CXX) -pthread -o $@ $^ $(BENCH_LIBS)

$(BENCH_OUT)/echo-server: $(BENCH_OUT)/obj/echo_server.o $(BENCH_OUT)/obj/server.o
	$(CC) -pthread -o $@ $^ -lpthread

$(BENCH_OUT)/echo-client: $(BENCH_OUT)/obj/echo_client.o $(BENCH_OUT)/obj/util.o
	$(CC) -pthread -o $@ $^ -lpthread

$(BENCH_OUT)/blocked-threads: $(BENCH_OUT)/obj/blocked_threads.o $(BENCH_OUT)/obj/util.o
	$(CC) -pthread -o $@ $^ -lpthread

$(BENCH_OUT)/pool-server: $(BENCH_OUT)/obj/pool_server.o $(BENCH_OUT)/obj/server.o
	$(CC) -pthread -o $@ $^ -lpthread

$(BENCH_OUT)/db-server: $(BENCH_OUT)/obj/db_server.o $(BENCH_OUT)/obj/server.o
	$(CC) -pthread -o $@ $^ -lpthread

$(BENCH_OUT)/go-bench: bench/go/go.mod $(wildcard bench/go/micro/*.go)
	@mkdir -p $(@D)
	cd bench/go && env $(BENCH_GO_ENV) $(BENCH_GO) build -o $(abspath $@) ./micro

$(BENCH_OUT)/go-echo-server: bench/go/go.mod $(wildcard bench/go/echo/*.go)
	@mkdir -p $(@D)
	cd bench/go && env $(BENCH_GO_ENV) $(BENCH_GO) build -o $(abspath $@) ./echo

$(BENCH_OUT)/go-pool-server: bench/go/go.mod $(wildcard bench/go/pool/*.go)
	@mkdir -p $(@D)
	cd bench/go && env $(BENCH_GO_ENV) $(BENCH_GO) build -o $(abspath $@) ./pool

$(BENCH_OUT)/go-db-server: bench/go/go.mod $(wildcard bench/go/db/*.go)
	@mkdir -p $(@D)
	cd bench/go && env $(BENCH_GO_ENV) $(BENCH_GO) build -o $(abspath $@) ./db

-include $(BENCH_C_OBJS:.o=.d) $(BENCH_CC_OBJS:.o=.d)

.DEFAULT_GOAL := $(BENCH_SAVED_GOAL)
