# greenrun: one non-recursive Makefile.
#
#   make            build build/libgreenrun.so and build/greenrun (the launcher)
#   make test       install missing Debian packages (as root), build, run every test
#   make demo       the same set-up, then the main job: a server of threads under greenrun
#   make bench      the benchmark suite (bench/bench.mk); make bench-quick for one minute
#   make debug      GR_DEBUG=1 build (assertions) in build-debug/
#   make check-unit white-box unit tests of runtime pieces, under valgrind
#   make lint       layering and export checks

ARCH      ?= $(shell uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
GR_DEBUG  ?= 0
VERSION   := 0.1.0
BUILD     ?= build
CC        ?= cc
CXX       ?= c++

WARN      := -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wmissing-prototypes \
             -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS  := -I. -D_GNU_SOURCE -DGR_DEBUG=$(GR_DEBUG) -DGR_VERSION='"$(VERSION)"'
CFLAGS    ?= -O2 -g
CFLAGS    += -std=gnu11 -fPIC -fvisibility=hidden -ftls-model=initial-exec \
             -fno-omit-frame-pointer -fno-strict-aliasing $(WARN) -MMD -MP
ifeq ($(CI),true)
CFLAGS    += -Werror
endif

ARCHS     := amd64 arm64
LIB_SRCS  := $(filter-out $(foreach a,$(ARCHS),%_$(a).c) preload/launcher.c, \
               $(wildcard preload/*.c runtime/*.c hooks/*.c)) \
             $(wildcard runtime/*_$(ARCH).c runtime/*_$(ARCH).S hooks/*_$(ARCH).S)
LIB_OBJS  := $(LIB_SRCS:%=$(BUILD)/%.o)
LIB       := $(BUILD)/libgreenrun.so
LAUNCHER  := $(BUILD)/greenrun

TEST_C    := $(wildcard tests/*.c)
TEST_CC   := $(wildcard tests/*.cc)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/bin/%,$(TEST_C)) \
             $(patsubst tests/%.cc,$(BUILD)/tests/bin/%,$(TEST_CC))
TEST_LIBS := $(patsubst tests/lib/%.c,$(BUILD)/tests/lib/lib%.so,$(wildcard tests/lib/*.c))
UNIT_C    := $(wildcard tests/unit/*_test.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_C))

.PHONY: all deps test check check-unit demo debug lint clean
all: $(LIB) $(LAUNCHER)

$(BUILD)/hooks/once.c.o: CFLAGS += -fexceptions

$(BUILD)/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -c -o $@ $<

$(BUILD)/exports.map: runtime/libc.def scripts/gen-exports.sh
	@mkdir -p $(dir $@)
	scripts/gen-exports.sh $< $@

$(LIB): $(LIB_OBJS) $(BUILD)/exports.map scripts/check-exports.sh preload/greenrun.h
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,--version-script=$(BUILD)/exports.map \
	    -Wl,-z,initfirst -Wl,-z,defs -Wl,-z,now -ldl -lpthread
	scripts/check-exports.sh $@ runtime/libc.def preload/greenrun.h

$(LAUNCHER): preload/launcher.c preload/config.c preload/config.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 -O2 -g $(WARN) -o $@ preload/launcher.c preload/config.c

# Tests: plain programs, nothing of greenrun linked in.
$(BUILD)/tests/bin/%: tests/%.c tests/check.h
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -pthread -Wall -o $@ $<

# Libraries some tests dlopen, next to the test binaries.
$(BUILD)/tests/lib/lib%.so: tests/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu11 -O1 -g -fPIC -shared -Wall -o $@ $<

$(BUILD)/tests/bin/%: tests/%.cc tests/check.h
	@mkdir -p $(dir $@)
	$(CXX) -std=gnu++17 -O1 -g -pthread -Wall -o $@ $<

$(BUILD)/tests/unit/config_test: tests/unit/config_test.c preload/config.c preload/config.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 -O1 -g $(WARN) -o $@ tests/unit/config_test.c preload/config.c

$(BUILD)/tests/unit/%_test: tests/unit/%_test.c $(filter-out $(BUILD)/preload/%,$(LIB_OBJS))
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -std=gnu11 -O1 -g $(WARN) -o $@ $< $(BUILD)/runtime/timer.c.o \
	    $(BUILD)/runtime/mem.c.o $(BUILD)/runtime/lock.c.o $(BUILD)/runtime/sys_linux.c.o \
	    $(BUILD)/runtime/debug.c.o -ldl -lpthread

deps:
	@scripts/deps.sh test

test check: deps all $(TEST_BINS) $(TEST_LIBS) $(UNIT_BINS)
	@scripts/check-layering.sh
	@scripts/unit.sh $(UNIT_BINS)
	@tests/run.sh $(BUILD)/tests/bin $(LIB)

check-unit: $(UNIT_BINS)
	@scripts/unit.sh $(UNIT_BINS)

demo: deps all $(BUILD)/tests/bin/thread_100k_condwait
	@scripts/demo.sh $(LIB) $(LAUNCHER)

debug:
	$(MAKE) GR_DEBUG=1 CFLAGS='-O1 -g' BUILD=build-debug all

lint: all
	@scripts/check-layering.sh

clean:
	rm -rf $(BUILD) build-debug

-include bench/bench.mk
-include $(LIB_OBJS:.o=.d)
