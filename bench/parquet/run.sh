#!/usr/bin/env bash
# Benchmark (not a test): our Parquet encoder vs DuckDB COPY ... (FORMAT parquet,
# COMPRESSION zstd) with threads=1, on OCSF Authentication events amplified from
# bench/parquet/data/ (see copy-data.sh, amplify.mjs).
#
#   bench/parquet/run.sh [EVENTS]        (default 1000000)
#
# Prints events/s both ways and their ratios, output bytes and their ratio, and the
# time zstd -3 alone takes on our page bytes.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${1:-1000000}
OUT=$ROOT/build/bench
mkdir -p "$OUT"
cd "$ROOT"
make -s build/parquet/pqbench
EVENTS=$OUT/events-$N.ndjson
[ -s "$EVENTS" ] || node bench/parquet/amplify.mjs "$N" "$EVENTS"
echo "events: $N ($(du -h "$EVENTS" | cut -f1) NDJSON)"
OURS=$(build/parquet/pqbench "$EVENTS" "$OUT/ours.parquet")
DUCK=$(node bench/parquet/duckdb.mjs "$EVENTS" "$OUT")
echo "ours:   $OURS"
echo "duckdb: $DUCK"
node -e '
const o = JSON.parse(process.argv[1]), d = JSON.parse(process.argv[2]);
const r = (x) => Math.round(x).toLocaleString("en");
const f = (x) => x.toFixed(2);
const ours_encode = o.events / o.encode_s, ours_total = o.events / (o.parse_s + o.encode_s);
const duck_total = d.events / d.parse_write_s, duck_write = d.events / d.write_only_s;
console.log(`\n${o.events} events, ${f(o.json_bytes / o.events)} B/event, ours ${o.leaves} leaf columns, DuckDB ${d.leaves}`);
console.log(`ours    encode (shred+encode+zstd, pre-parsed): ${f(o.encode_s)} s  ${r(ours_encode)} events/s`);
console.log(`ours    parse (toy JSON parser) + encode:        ${f(o.parse_s + o.encode_s)} s  ${r(ours_total)} events/s`);
console.log(`duckdb  NDJSON -> parquet (parse + write):       ${f(d.parse_write_s)} s  ${r(duck_total)} events/s`);
console.log(`duckdb  table -> parquet (write only):           ${f(d.write_only_s)} s  ${r(duck_write)} events/s  (load ${f(d.load_s)} s)`);
console.log(`ratio   ours encode / duckdb parse+write:  ${f(ours_encode / duck_total)}x   (target >= 1.5)`);
console.log(`ratio   ours parse+encode / duckdb parse+write: ${f(ours_total / duck_total)}x`);
console.log(`ratio   ours encode / duckdb write-only:   ${f(ours_encode / duck_write)}x   (stretch >= 1.0)`);
console.log(`bytes   ours ${r(o.bytes)}  duckdb ${r(d.bytes_from_table)}  ratio ${f(o.bytes / d.bytes_from_table)}   (target <= 1.0)`);
console.log(`zstd    alone on our ${r(o.page_bytes)} page bytes: ${f(o.zstd_alone_s)} s (${r(o.page_bytes / o.zstd_alone_s / 1e6)} MB/s); encode / zstd-alone = ${f(o.encode_s / o.zstd_alone_s)}x (target <= 2)`);
console.log(`zstd    alone on the ${r(o.json_bytes)} NDJSON bytes: ${f(o.zstd_ndjson_s)} s (${r(o.json_bytes / o.zstd_ndjson_s / 1e6)} MB/s, ${r(o.zstd_ndjson_bytes)} bytes out); encode / that = ${f(o.encode_s / o.zstd_ndjson_s)}x`);
console.log(`        encode without zstd: ${f(o.encode_uncompressed_s)} s`);
' "$OURS" "$DUCK"
