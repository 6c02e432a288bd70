// DuckDB on the full OCSF class schema (bench/parquet/run.sh, "Full class schema"): loads
// our full-schema Parquet file (pqbench --ocsf: 1140 leaf columns for 1.1.0 class 3002)
// into a table, then COPYs it to Parquet (zstd) with threads=1 — DuckDB's write-only time
// on the same events and the same columns. Prints one JSON object.
//   node bench/parquet/duckdb-full.mjs OURS-OCSF.parquet OUTDIR
import { DuckDBInstance } from '@duckdb/node-api';
import { statSync } from 'node:fs';

const [src, outdir] = process.argv.slice(2);
const out = `${outdir}/duckdb-full-schema.parquet`;
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const c = await db.connect();
const time = async (sql) => { const t = process.hrtime.bigint(); await c.run(sql); return Number(process.hrtime.bigint() - t) / 1e9; };

const load = await time(`CREATE TABLE ev AS SELECT * FROM read_parquet('${src}')`);
const writeOnly = await time(`COPY ev TO '${out}' (FORMAT parquet, COMPRESSION zstd)`);
const [{ n }] = (await c.runAndReadAll('SELECT count(*)::INT AS n FROM ev')).getRowObjectsJson();
const [{ cols }] = (await c.runAndReadAll(`SELECT count(*)::INT AS cols FROM (SELECT DISTINCT path_in_schema FROM parquet_metadata('${out}'))`)).getRowObjectsJson();
console.log(JSON.stringify({ events: n, leaves: cols, load_s: load, write_only_s: writeOnly, bytes: statSync(out).size }));
