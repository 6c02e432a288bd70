// DuckDB half of bench/parquet/run.sh: the same NDJSON events to Parquet (zstd) with
// threads=1, (a) straight from NDJSON (parse + write) and (b) from an in-memory table
// (write only). Prints one JSON object.
//   node bench/parquet/duckdb.mjs EVENTS.ndjson OUTDIR
import { DuckDBInstance } from '@duckdb/node-api';
import { statSync } from 'node:fs';

const [events, outdir] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:', { threads: '1' });
const c = await db.connect();
const time = async (sql) => { const t = process.hrtime.bigint(); await c.run(sql); return Number(process.hrtime.bigint() - t) / 1e9; };
const src = `read_json('${events}', format = 'newline_delimited', sample_size = 20000)`;
const fromJson = `${outdir}/duckdb-from-json.parquet`;
const fromTable = `${outdir}/duckdb-from-table.parquet`;

const parseWrite = await time(`COPY (SELECT * FROM ${src}) TO '${fromJson}' (FORMAT parquet, COMPRESSION zstd)`);
const load = await time(`CREATE TABLE ev AS SELECT * FROM ${src}`);
const writeOnly = await time(`COPY ev TO '${fromTable}' (FORMAT parquet, COMPRESSION zstd)`);
const [{ n }] = (await c.runAndReadAll('SELECT count(*)::INT AS n FROM ev')).getRowObjectsJson();
const [{ cols }] = (await c.runAndReadAll(`SELECT count(*)::INT AS cols FROM (SELECT DISTINCT path_in_schema FROM parquet_metadata('${fromTable}'))`)).getRowObjectsJson();
console.log(JSON.stringify({ events: n, leaves: cols, parse_write_s: parseWrite, load_s: load, write_only_s: writeOnly,
  bytes_from_json: statSync(fromJson).size, bytes_from_table: statSync(fromTable).size }));
