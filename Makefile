# securitylake — PGXS build.
#
#   make && make install      build and install the extension (as root)
#   make unit                 build and run the C unit tests of the PostgreSQL-free
#                             libraries (src/parquet, src/aws); no server needed
#   make installcheck         pg_regress against a running server (test/run does this
#                             with a throwaway cluster that preloads the extension)
#
#   make WERROR=1             warnings are errors (test/run and CI build so; packagers'
#                             default builds, e.g. the Debian package, do not)
#   make dist                 the PGXN distribution securitylake-<version>.zip (git archive)
#
# The version lives in one place, securitylake.control (default_version); it feeds the
# install script's name and -DEXTVERSION (pg_net's habit). What gets installed:
#   securitylake--$(EXTVERSION).sql   the full script of this version, built from sql/install/*
#   sql/securitylake--X.sql           the frozen full script of each released version X
#                                     (tools/freeze-version; never edited again)
#   sql/securitylake--A--B.sql        the upgrade script of each release, even an empty one
# so CREATE EXTENSION ... VERSION 'X' and ALTER EXTENSION ... UPDATE work from every release
# (test/upgrade walks the chain). Releasing: README, "Releases and upgrades".

EXTENSION   = securitylake
EXTVERSION  = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" $(EXTENSION).control)
BUILD_ID   := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)

MODULE_big  = securitylake
PG_SRCS     = $(wildcard src/*.c)
PARQUET_SRCS = $(wildcard src/parquet/*.c)
AWS_SRCS    = $(wildcard src/aws/*.c)
OCSF_SRCS   = $(wildcard src/ocsf/*.c)
OBJS        = $(PG_SRCS:.c=.o) $(PARQUET_SRCS:.c=.o) $(AWS_SRCS:.c=.o) $(OCSF_SRCS:.c=.o)

# The full install script is unversioned: the parts in sql/install/ (applied in name
# order) are concatenated into its versioned name. The frozen scripts of released
# versions and every upgrade script are installed as they are.
INSTALL_PARTS = $(sort $(wildcard sql/install/*.sql))
DATA_built  = $(EXTENSION)--$(EXTVERSION).sql
DATA        = $(wildcard sql/$(EXTENSION)--*.sql)
ifneq ($(wildcard sql/$(EXTENSION)--$(EXTVERSION).sql),)
$(error sql/$(EXTENSION)--$(EXTVERSION).sql is the frozen script of a released version: raise default_version in $(EXTENSION).control (README, "Releases and upgrades"))
endif

REGRESS     = $(sort $(patsubst sql/%.sql,%,$(filter-out sql/$(EXTENSION)--%.sql,$(wildcard sql/*.sql))))
# The extension must be in shared_preload_libraries (its worker and shared memory),
# so pg_regress runs against the throwaway cluster that test/run starts, never a
# --temp-instance of its own.
REGRESS_OPTS = --inputdir=. --outputdir=.

XML_CFLAGS := $(shell pkg-config --cflags libxml-2.0 2>/dev/null || echo -I/usr/include/libxml2)
PG_CPPFLAGS = -I$(srcdir)/src $(XML_CFLAGS) -DEXTVERSION=\"$(EXTVERSION)\" -DBUILD_ID=\"$(BUILD_ID)\"
# Test builds only (test/run: make TEST_HOOKS=1): the crash tests' fault hook and the
# host routing of the production-addressing tests. A packaged or `make install`ed
# library has neither: nothing in it can abort the worker on request.
ifeq ($(TEST_HOOKS),1)
PG_CPPFLAGS += -DSL_TEST_HOOKS
endif
# Objects built with the other setting are rebuilt: a stamp changes when it does.
HOOKS_STAMP := build/.test-hooks
$(shell mkdir -p build; [ -f $(HOOKS_STAMP) ] && [ "$$(cat $(HOOKS_STAMP))" = "$(TEST_HOOKS)" ] || echo "$(TEST_HOOKS)" > $(HOOKS_STAMP))
# -Werror only where we choose the compiler (test/run, CI: WERROR=1): a packager's newer
# compiler may warn about something new, and that must not fail their build.
WERROR_FLAG = $(if $(filter 1 yes true,$(WERROR)),-Werror)
PG_CFLAGS   = -Wall $(WERROR_FLAG) -Wmissing-prototypes
SHLIB_LINK  = -lcurl -lssl -lcrypto -lzstd -lxml2 -lpthread

# No LLVM bitcode: nothing of ours is worth JIT-inlining, and the libraries are
# plain C11 compiled with their own flags.
override with_llvm := no

PG_CONFIG  ?= pg_config
PGXS       := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild every object when any header changes
# (a stale object compiled against an older struct layout corrupts memory).
ALL_HEADERS = $(wildcard src/*.h src/parquet/*.h src/aws/*.h src/ocsf/*.h)
$(OBJS): $(ALL_HEADERS) $(HOOKS_STAMP)

$(EXTENSION)--$(EXTVERSION).sql: $(INSTALL_PARTS)
	cat $^ > $@

# ---------------------------------------------------------------------------
# PostgreSQL-free libraries (src/parquet, src/aws, src/ocsf): strict C11, unit tests and fuzzers built without a server.
# Each library contributes UNIT_TESTS (binaries printing TAP) through its own .mk file.
LIB_CC      ?= cc
# COPT: PGXS's hook for extra flags (pg_buildext passes the packager's CFLAGS in it, e.g.
# Debian's hardening flags); the libraries get them too.
LIB_CFLAGS   = -std=c11 -O2 -g -Wall -Wextra $(WERROR_FLAG) -Wmissing-prototypes -Wold-style-definition \
               -D_POSIX_C_SOURCE=200809L -I$(srcdir)/src $(XML_CFLAGS) \
               -DEXTVERSION=\"$(EXTVERSION)\" -DBUILD_ID=\"$(BUILD_ID)\" $(COPT)
LIB_LIBS     = -lcurl -lssl -lcrypto -lzstd -lxml2 -lm -lpthread
UNIT_TESTS   =

# Library objects linked into securitylake.so get the same strict C11 flags as their
# unit tests (PostgreSQL's CFLAGS forbid C99 declarations after statements).
src/parquet/%.o: src/parquet/%.c
	$(LIB_CC) $(LIB_CFLAGS) -fPIC -c -o $@ $<
src/aws/%.o: src/aws/%.c
	$(LIB_CC) $(LIB_CFLAGS) -fPIC -c -o $@ $<
src/ocsf/%.o: src/ocsf/%.c
	$(LIB_CC) $(LIB_CFLAGS) -fPIC -c -o $@ $<

-include src/parquet/parquet.mk
-include src/aws/aws.mk
-include src/ocsf/ocsf.mk

.PHONY: unit unit-build
unit-build: $(UNIT_TESTS)
unit: unit-build
	@status=0; for t in $(UNIT_TESTS); do echo "# $$t"; ./$$t || status=1; done; exit $$status

clean: clean-unit
clean-unit:
	rm -rf build

# The PGXN distribution (META.json at its root): securitylake-$(EXTVERSION).zip of HEAD.
.PHONY: dist
dist:
	git archive --format zip --prefix=$(EXTENSION)-$(EXTVERSION)/ -o $(EXTENSION)-$(EXTVERSION).zip HEAD
