#!/usr/bin/env bash
# Benchmark (not a test): our Parquet encoder vs DuckDB COPY ... (FORMAT parquet,
# COMPRESSION zstd) with threads=1, on OCSF Authentication events amplified from
# bench/parquet/data/ (see copy-data.sh, amplify.mjs).
#
#   bench/parquet/run.sh [EVENTS]        (default 1000000)
#
# Prints events/s both ways and their ratios, output bytes and their ratio, and the
# time zstd -3 alone takes on our page bytes. Then the same events encoded with the full
# built-in OCSF class schema (pqbench --ocsf: 1.1.0 class 3002, the schema the extension
# uses), against DuckDB's numbers of the same run and DuckDB writing the same columns
# (duckdb-full.mjs), and per-event costs: full schema vs inferred schema, in file order
# and grouped by sample, and sparse events with the full schema.
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
FULL=$(build/parquet/pqbench --ocsf "$EVENTS" "$OUT/ours-ocsf.parquet")
DUCK=$(node bench/parquet/duckdb.mjs "$EVENTS" "$OUT")
DUCKFULL=$(node bench/parquet/duckdb-full.mjs "$OUT/ours-ocsf.parquet" "$OUT")
echo "ours:   $OURS"
echo "full:   $FULL"
echo "duckdb: $DUCK"
echo "duckdb full schema: $DUCKFULL"
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

// Full class schema (issue 6): the same events, the schema the extension uses.
const F = JSON.parse(process.argv[3]), DF = JSON.parse(process.argv[4]);
const us = (s, n) => (s / n * 1e6).toFixed(2);
const full_encode = F.events / F.encode_s, leaf_ratio = F.leaves / o.leaves;
console.log(`\nfull class schema: OCSF ${F.ocsf_version} class ${F.class_uid}, ${F.leaves} leaf columns (inferred ${o.leaves}, DuckDB ${d.leaves}: ${f(leaf_ratio)}x)`);
console.log(`ours    full-schema encode (shred+encode+zstd, pre-parsed): ${f(F.encode_s)} s  ${r(full_encode)} events/s  (${f(F.values / F.events)} values/event, ${f(F.unmapped_entries / F.events)} of them unmapped entries; ${F.rejected} rejected)`);
console.log(`ratio   ours full-schema encode / duckdb parse+write:  ${f(full_encode / duck_total)}x   (inferred: ${f(ours_encode / duck_total)}x)`);
console.log(`ratio   ours full-schema encode / duckdb write-only:   ${f(full_encode / duck_write)}x   (inferred: ${f(ours_encode / duck_write)}x)`);
console.log(`bytes   ours full-schema ${r(F.bytes)}  duckdb ${r(d.bytes_from_table)}  ratio ${f(F.bytes / d.bytes_from_table)}   (inferred ${r(o.bytes)}: ${f(o.bytes / d.bytes_from_table)})`);
console.log(`duckdb  full-schema table -> parquet (write only, ${DF.leaves} leaf columns): ${f(DF.write_only_s)} s  ${r(DF.events / DF.write_only_s)} events/s  ${r(DF.bytes)} bytes  (load ${f(DF.load_s)} s)`);
console.log(`ratio   ours full-schema encode / duckdb full-schema write-only: ${f(full_encode / (DF.events / DF.write_only_s))}x   bytes ${f(F.bytes / DF.bytes)}`);
console.log(`cost    per event, file order: full ${us(F.encode_s, F.events)} us, inferred ${us(o.encode_s, o.events)} us: ratio ${f(F.encode_s / o.encode_s)} for ${f(leaf_ratio)}x the leaf columns (${f(F.values / o.values)}x the values)`);
console.log(`cost    ... of which row-group closes: full ${us(F.close_s, F.events)} us, inferred ${us(o.close_s, o.events)} us; the rest (walk + values): full ${us(F.encode_s - F.close_s, F.events)} us, inferred ${us(o.encode_s - o.close_s, o.events)} us: ratio ${f((F.encode_s - F.close_s) / (o.encode_s - o.close_s))}`);
console.log(`cost    per event, grouped by sample (${F.groups} runs of one shape): full ${us(F.grouped_encode_s, F.events)} us (${r(F.events / F.grouped_encode_s)} events/s, closes ${us(F.grouped_close_s, F.events)} us), inferred ${us(o.grouped_encode_s, o.events)} us: ratio ${f(F.grouped_encode_s / o.grouped_encode_s)}; bytes full ${r(F.grouped_bytes)}, inferred ${r(o.grouped_bytes)}`);
console.log(`cost    sparse events (required attributes only, ${f(F.sparse_values / F.events)} values/event), full schema: ${us(F.sparse_encode_s, F.events)} us/event (${r(F.events / F.sparse_encode_s)} events/s), ${r(F.sparse_bytes)} bytes; ${F.sparse_rejected} rejected`);
' "$OURS" "$DUCK" "$FULL" "$DUCKFULL"
