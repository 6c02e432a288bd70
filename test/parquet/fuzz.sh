#!/usr/bin/env bash
# Build and run the Parquet writer's libFuzzer target for a bounded time.
#   test/parquet/fuzz.sh [SECONDS]      (default 60)
# Exits non-zero on any crash, sanitizer report, leak or failed invariant.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_TO_RUN=${1:-60}
OUT=$ROOT/build/fuzz
mkdir -p "$OUT/corpus" "$OUT/artifacts"
cd "$ROOT"
clang -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -D_POSIX_C_SOURCE=200809L -Isrc -DEXTVERSION='"fuzz"' -DBUILD_ID='"fuzz"' \
  -o "$OUT/fuzz_parquet_writer" fuzz/parquet/fuzz_writer.c src/parquet/*.c -lzstd -lm
# a few seeds so the first seconds already reach deep schemas
if [ -z "$(ls -A "$OUT/corpus")" ]; then
  for i in 1 2 3 4 5 6 7 8; do head -c $((i * 512)) /dev/urandom > "$OUT/corpus/seed$i"; done
fi
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$OUT/fuzz_parquet_writer" -max_total_time="$SECONDS_TO_RUN" -timeout=20 -rss_limit_mb=2048 \
  -max_len=8192 -artifact_prefix="$OUT/artifacts/" -print_final_stats=1 "$OUT/corpus" 2>&1 | tail -n 40
exit "${PIPESTATUS[0]}"
