# greenrun: one non-recursive Makefile.
#
#   make            build build/libgreenrun.so and build/greenrun (the launcher)
#   make test       make deps, then make check: what CI runs
#   make deps       install missing Debian packages (as root; otherwise list them)
#   make check      build both flavours, lint, unit tests, make check-install, then every test
#                   against the release library and again against the debug library; needs
#                   no apt
#   make demo       the set-up of make deps, then the main job: a server of threads under greenrun
#   make bench      the benchmark suite (bench/bench.mk); make bench-quick for one minute
#   make python-check  real CPython programs natively and under greenrun (GREENRUN_MALLOC=system
#                   and the default): http.server under wrk, the threading, queue and socket
#                   test modules compared test by test with native (scripts/python-check.sh)
#   make debug      GR_DEBUG=1 (assertions), -O1, UBSan in trap mode: build-debug/
#   make check-unit white-box unit tests of runtime pieces: under valgrind, then built with
#                   ASan and UBSan
#   make lint       layering and export checks of both flavours, clang-format check
#   make format     rewrite the files clang-format would change (scripts/format.sh)
#   make install    install the library, the launcher, greenrun.h with greenrun.pc and the man
#                   pages greenrun(1) and greenrun(7) under DESTDIR and PREFIX (below)
#   make uninstall  remove exactly the files make install puts there (no directories)
#   make check-install  install into a temporary DESTDIR, run the installed launcher, check
#                   pkg-config and the man pages, uninstall (scripts/check-install.sh)
#
# Warnings are errors everywhere. CFLAGS, empty by default, is added last to every C compile
# of the library and the launcher, so `make CFLAGS=-Wno-error` is the escape hatch for a
# newer compiler; the optimisation level is OPT.

ARCH      ?= $(shell uname -m | sed 's/x86_64/amd64/;s/aarch64/arm64/')
GR_DEBUG  ?= 0
VERSION   := 0.1.0
BUILD     ?= build
DEBUG_BUILD ?= build-debug
CC        ?= cc
CXX       ?= c++

WARN      := -Wall -Wextra -Wshadow -Wundef -Wwrite-strings -Wmissing-prototypes \
             -Wstrict-prototypes -Wno-unused-parameter
WARN_CXX  := $(filter-out -Wmissing-prototypes -Wstrict-prototypes,$(WARN))
CPPFLAGS  := -I. -D_GNU_SOURCE -DGR_VERSION='"$(VERSION)"'
OPT       ?= -O2 -g
# Flags of the library's objects that no flavour may lose (make debug only changes OPT, SAN
# and GR_DEBUG).
LIB_FLAGS := -std=gnu11 -fPIC -fvisibility=hidden -ftls-model=initial-exec \
             -fno-omit-frame-pointer -fno-strict-aliasing $(WARN) -Werror -MMD -MP
# Sanitizer flags of the library's objects; compile only, never on the link line: nothing
# may pull a sanitizer runtime into a preloaded library. The debug flavour traps (ud2, the
# process dies of SIGILL) instead of calling libubsan.
SAN       ?=
UBSAN_TRAP := -fsanitize=undefined -fsanitize-undefined-trap-on-error
CFLAGS    ?=

# Installation, as Debian packages do it: every directory can be overridden, DESTDIR is
# prepended to each at install time only (never compiled in). The launcher finds the library
# relative to itself (preload/launcher.c): $(LIBDIR) must be ../lib, ../lib/$(MULTIARCH) or
# ../lib/greenrun from $(BINDIR), or the user sets GREENRUN_LIB; make install says so.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBDIR    ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DESTDIR   ?=
INSTALL   ?= install
# Debian's multiarch triplet (x86_64-linux-gnu), empty where the compiler does not know one.
MULTIARCH ?= $(shell $(CC) -print-multiarch 2>/dev/null)

ARCHS     := amd64 arm64
LIB_SRCS  := $(filter-out $(foreach a,$(ARCHS),%_$(a).c) preload/launcher.c, \
               $(wildcard preload/*.c runtime/*.c hooks/*.c)) \
             $(wildcard runtime/*_$(ARCH).c runtime/*_$(ARCH).S hooks/*_$(ARCH).S)
LIB_OBJS  := $(LIB_SRCS:%=$(BUILD)/%.o)
LIB       := $(BUILD)/libgreenrun.so
LAUNCHER  := $(BUILD)/greenrun
DEBUG_LIB := $(DEBUG_BUILD)/libgreenrun.so

TEST_C    := $(wildcard tests/*.c)
TEST_CC   := $(wildcard tests/*.cc)
TEST_BINS := $(patsubst tests/%.c,$(BUILD)/tests/bin/%,$(TEST_C)) \
             $(patsubst tests/%.cc,$(BUILD)/tests/bin/%,$(TEST_CC))
TEST_LIBS := $(patsubst tests/lib/%.c,$(BUILD)/tests/lib/lib%.so,$(wildcard tests/lib/*.c))
TEST_CFLAGS   := -std=gnu11 -O1 -g -pthread $(WARN) -Werror
TEST_CXXFLAGS := -std=gnu++17 -O1 -g -pthread $(WARN_CXX) -Werror

# Unit tests: tests/unit/NAME_test.c links the objects listed in UNIT_SRCS_NAME directly, no
# preload. Each is built twice: against the release objects (run under valgrind), and with
# its objects recompiled into $(UNIT_ASAN) with GR_DEBUG=1, ASan and UBSan (run directly).
UNIT_NAMES := $(patsubst tests/unit/%_test.c,%,$(wildcard tests/unit/*_test.c))
UNIT_BINS  := $(UNIT_NAMES:%=$(BUILD)/tests/unit/%_test)
UNIT_ASAN  := $(BUILD)/unit-asan
UNIT_ASAN_BINS := $(UNIT_NAMES:%=$(UNIT_ASAN)/tests/unit/%_test)
UNIT_SAN   := -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_CFLAGS := -std=gnu11 -O1 -g -pthread $(WARN) -Werror
UNIT_SRCS_config   := preload/config.c
UNIT_SRCS_timer    := runtime/timer.c runtime/mem.c runtime/lock.c runtime/sys_linux.c \
                      runtime/debug.c
UNIT_SRCS_blockrec := runtime/blockparse.c
UNIT_SRCS_print    := runtime/debug.c runtime/sys_linux.c
UNIT_SRCS_sizeclass :=
# runq_test defines gr_sched and its own gr_throw (it returns to the test), so no debug.c.
UNIT_SRCS_runq     := runtime/runq.c runtime/lock.c runtime/sys_linux.c

# Whether a clang-format difference fails make lint (and so make check and make test): it
# does (1); make lint LINT_FORMAT=0 only reports.
LINT_FORMAT ?= 1

.PHONY: all deps test check check-build check-suites check-unit check-install demo debug lint \
        format clean python-check install uninstall FORCE
all: $(LIB) $(LAUNCHER)

$(BUILD)/hooks/once.c.o: XFLAGS := -fexceptions
# malloc and free pass their return address on: with a frame that costs four instructions more.
$(BUILD)/hooks/malloc.c.o: XFLAGS := -fomit-frame-pointer

$(BUILD)/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DGR_DEBUG=$(GR_DEBUG) $(OPT) $(LIB_FLAGS) $(SAN) $(XFLAGS) $(CFLAGS) \
	    -c -o $@ $<

$(BUILD)/%.S.o: %.S
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DGR_DEBUG=$(GR_DEBUG) -c -o $@ $<

$(BUILD)/exports.map: runtime/libc.def scripts/gen-exports.sh
	@mkdir -p $(dir $@)
	scripts/gen-exports.sh $< $@

$(LIB): $(LIB_OBJS) $(BUILD)/exports.map scripts/check-exports.sh preload/greenrun.h
	$(CC) -shared -o $@ $(LIB_OBJS) -Wl,--version-script=$(BUILD)/exports.map \
	    -Wl,-z,initfirst -Wl,-z,defs -Wl,-z,now -ldl -lpthread
	scripts/check-exports.sh $@ runtime/libc.def preload/greenrun.h

$(LAUNCHER): preload/launcher.c preload/config.c preload/config.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DGR_DEBUG=$(GR_DEBUG) $(if $(MULTIARCH),-DGR_MULTIARCH='"$(MULTIARCH)"') \
	    -std=gnu11 $(OPT) $(WARN) -Werror $(CFLAGS) -o $@ preload/launcher.c preload/config.c

# greenrun.pc names the directories of this make's PREFIX; it is rewritten only when that
# changes, so a make install with another PREFIX gets its own.
$(BUILD)/greenrun.pc: preload/greenrun.pc.in FORCE
	@mkdir -p $(dir $@)
	@sed -e 's|@PREFIX@|$(PREFIX)|' \
	    -e 's|@BINDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(BINDIR))|' \
	    -e 's|@LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|' \
	    -e 's|@INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|' \
	    -e 's|@VERSION@|$(VERSION)|' $< >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi

# Every file make install writes, DESTDIR excluded; make uninstall removes exactly these.
INSTALLED := $(BINDIR)/greenrun $(LIBDIR)/libgreenrun.so $(INCLUDEDIR)/greenrun.h \
             $(PKGCONFIGDIR)/greenrun.pc $(MANDIR)/man1/greenrun.1 $(MANDIR)/man7/greenrun.7

# Modes as Debian policy has them: programs 755, shared libraries and data 644. Nothing is
# stripped here (a package strips, or keeps the debug symbols apart, itself).
install: all $(BUILD)/greenrun.pc
	$(INSTALL) -D -m 755 $(LAUNCHER) $(DESTDIR)$(BINDIR)/greenrun
	$(INSTALL) -D -m 644 $(LIB) $(DESTDIR)$(LIBDIR)/libgreenrun.so
	$(INSTALL) -D -m 644 preload/greenrun.h $(DESTDIR)$(INCLUDEDIR)/greenrun.h
	$(INSTALL) -D -m 644 $(BUILD)/greenrun.pc $(DESTDIR)$(PKGCONFIGDIR)/greenrun.pc
	$(INSTALL) -D -m 644 man/greenrun.1 $(DESTDIR)$(MANDIR)/man1/greenrun.1
	$(INSTALL) -D -m 644 man/greenrun.7 $(DESTDIR)$(MANDIR)/man7/greenrun.7
	@rel=$$(realpath -m --relative-to='$(BINDIR)' '$(LIBDIR)'); \
	case $$rel in \
	.|../lib|../lib/greenrun$(if $(MULTIARCH),|../lib/$(MULTIARCH))) ;; \
	*) echo "install: note: the launcher does not look in $(LIBDIR) (it tries ../lib," \
	        "../lib/$(MULTIARCH) and ../lib/greenrun from $(BINDIR)); set GREENRUN_LIB" \
	        "to $(LIBDIR)/libgreenrun.so" ;; \
	esac

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))

FORCE:

check-install: all
	@scripts/check-install.sh $(BUILD)

# Tests: plain programs, nothing of greenrun linked in; both suites of make check run these.
# Their shared headers (check.h, handler_waits.h) are prerequisites of every one.
TEST_HDRS := $(wildcard tests/*.h)
$(BUILD)/tests/bin/%: tests/%.c $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(TEST_CFLAGS) -o $@ $<

# Libraries some tests dlopen, next to the test binaries.
$(BUILD)/tests/lib/lib%.so: tests/lib/%.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -pthread,$(TEST_CFLAGS)) -fPIC -shared -o $@ $<

$(BUILD)/tests/bin/%: tests/%.cc $(TEST_HDRS)
	@mkdir -p $(dir $@)
	$(CXX) $(TEST_CXXFLAGS) -o $@ $<

$(UNIT_ASAN)/%.c.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -DGR_DEBUG=1 -O1 -g $(LIB_FLAGS) $(UNIT_SAN) -c -o $@ $<

# $(call unit_rule,NAME,DIR,GR_DEBUG,SANITIZERS)
define unit_rule
$(2)/tests/unit/$(1)_test: tests/unit/$(1)_test.c $(UNIT_SRCS_$(1):%=$(2)/%.o)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CPPFLAGS) -DGR_DEBUG=$(3) $$(UNIT_CFLAGS) $(4) -o $$@ $$< \
	    $(UNIT_SRCS_$(1):%=$(2)/%.o) -ldl
endef
$(foreach n,$(UNIT_NAMES),$(eval $(call unit_rule,$(n),$(BUILD),0,)))
$(foreach n,$(UNIT_NAMES),$(eval $(call unit_rule,$(n),$(UNIT_ASAN),1,$(UNIT_SAN))))

deps:
	@scripts/deps.sh test

# make test is what CI runs on a fresh machine: the set-up first, then everything else.
test:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory check

# In order: both flavours and every binary, lint, unit tests, an installation into a temporary
# directory, the suite on each library.
check:
	@$(MAKE) --no-print-directory check-build
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory check-unit
	@$(MAKE) --no-print-directory check-install
	@$(MAKE) --no-print-directory check-suites

check-build: all debug $(TEST_BINS) $(TEST_LIBS) $(UNIT_BINS) $(UNIT_ASAN_BINS)

# The same test binaries against each library; logs of the debug run go to its own directory.
# The debug run switches TLS with arch_prctl: with wrfsbase in the release run, both paths
# are tested wherever the CPU offers wrfsbase (elsewhere both runs use arch_prctl).
check-suites: all debug $(TEST_BINS) $(TEST_LIBS)
	@scripts/check-suites.sh $(BUILD)/tests/bin \
	    release=$(LIB):$(BUILD)/tests/log debug=$(DEBUG_LIB):$(DEBUG_BUILD)/tests/log:fs=arch_prctl

check-unit: $(UNIT_BINS) $(UNIT_ASAN_BINS)
	@scripts/unit.sh $(UNIT_BINS)
	@scripts/unit.sh --direct $(UNIT_ASAN_BINS)

demo: deps all $(BUILD)/tests/bin/thread_100k_condwait
	@scripts/demo.sh $(LIB) $(LAUNCHER)

# Needs wrk and libpython3.11-testsuite (scripts/deps.sh bench); about four minutes.
python-check: all
	@scripts/python-check.sh $(LIB)

debug:
	@$(MAKE) --no-print-directory BUILD=$(DEBUG_BUILD) GR_DEBUG=1 OPT='-O1 -g' \
	    SAN='$(UBSAN_TRAP)' all

lint: all debug
	@scripts/check-layering.sh $(BUILD)
	@scripts/check-layering.sh $(DEBUG_BUILD)
	@scripts/check-exports.sh $(LIB) runtime/libc.def preload/greenrun.h && \
	    echo "exports: ok ($(LIB))"
	@scripts/check-exports.sh $(DEBUG_LIB) runtime/libc.def preload/greenrun.h && \
	    echo "exports: ok ($(DEBUG_LIB))"
ifeq ($(LINT_FORMAT),1)
	@scripts/format.sh --check
else
	@scripts/format.sh --check >$(BUILD)/format-check.txt || \
	    echo "$$(tail -n 1 $(BUILD)/format-check.txt); not enforced (LINT_FORMAT=0)," \
	        "list in $(BUILD)/format-check.txt"
endif

format:
	@scripts/format.sh

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD)

-include bench/bench.mk
-include $(LIB_OBJS:.o=.d) $(wildcard $(UNIT_ASAN)/*/*.d)
