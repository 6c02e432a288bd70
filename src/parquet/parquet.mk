# src/parquet/parquet.mk — included by the top Makefile.
#
# Unit tests (TAP) go into UNIT_TESTS; build/parquet/pqgen writes the cross-check
# matrix that test/parquet/readback.test.mjs reads back with DuckDB and hyparquet;
# build/parquet/pqbench is the encoder half of bench/parquet/run.sh; the libFuzzer
# target is built by test/parquet/fuzz.sh (clang).

PQ_LIB_SRCS  = $(wildcard src/parquet/*.c)
PQ_LIB_HDRS  = $(wildcard src/parquet/*.h)
PQ_UNIT_SRCS = $(wildcard test/parquet/unit/test_*.c)
PQ_UNIT_BINS = $(patsubst test/parquet/unit/%.c,build/unit/%,$(PQ_UNIT_SRCS))

UNIT_TESTS  += $(PQ_UNIT_BINS)

build/unit/test_%: test/parquet/unit/test_%.c test/parquet/unit/tap.h $(PQ_LIB_SRCS) $(PQ_LIB_HDRS)
	@mkdir -p $(dir $@)
	$(LIB_CC) $(LIB_CFLAGS) -Itest/parquet/unit -o $@ $< $(PQ_LIB_SRCS) $(LIB_LIBS)

build/parquet/pqgen: test/parquet/pqgen.c $(PQ_LIB_SRCS) $(PQ_LIB_HDRS)
	@mkdir -p $(dir $@)
	$(LIB_CC) $(LIB_CFLAGS) -o $@ $< $(PQ_LIB_SRCS) $(LIB_LIBS)

# pqbench --ocsf encodes with the built-in OCSF class schema, so it links src/ocsf too
# (its sources as src/ocsf/ocsf.mk links them; named here because ocsf.mk is included
# after this file and prerequisites are expanded when the rule is read).
PQBENCH_OCSF_SRCS = $(wildcard src/ocsf/*.c)
PQBENCH_OCSF_HDRS = $(wildcard src/ocsf/*.h)

build/parquet/pqbench: bench/parquet/pqbench.c $(PQ_LIB_SRCS) $(PQ_LIB_HDRS) $(PQBENCH_OCSF_SRCS) $(PQBENCH_OCSF_HDRS)
	@mkdir -p $(dir $@)
	$(LIB_CC) $(LIB_CFLAGS) -o $@ $< $(PQBENCH_OCSF_SRCS) $(PQ_LIB_SRCS) $(LIB_LIBS)
