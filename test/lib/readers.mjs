// Three independent Parquet readers for tests: DuckDB (C++), hyparquet (JavaScript) and
// parquet-wasm (arrow-rs, Rust compiled to WebAssembly), and one canonical form to compare
// what they return value for value.
//
//   const rows = await readAllThree(path, duck)   // asserts the three agree; returns canonical rows
//
// canonical(v) erases what only differs in how a reader represents a value, the same way
// for every reader: integers (number or bigint) and DuckDB's int64-as-string become decimal
// strings, timestamps (Date, Arrow's epoch ms, DuckDB's "YYYY-MM-DD hh:mm:ss[.fff]+00")
// epoch-ms strings, maps (DuckDB's [{key, value}], Arrow's MapRow, hyparquet's object)
// objects, Arrow vectors and rows plain arrays and objects, and object keys holding null
// are dropped (an absent struct field and a null one are the same to Parquet); an empty
// object (an empty map, a struct of nulls) is [] like an empty list.
import { readFileSync } from 'node:fs';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import * as pw from 'parquet-wasm/node';
import { tableFromIPC } from 'apache-arrow';

const TIMESTAMP = /^(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)(Z|[+-]\d\d(?::?\d\d)?)?$/;

export function canonical(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v;
  if (typeof v === 'string') {
    const m = TIMESTAMP.exec(v);
    if (m) {
      let zone = m[3] ?? 'Z';
      if (/^[+-]\d\d$/.test(zone)) zone += ':00';
      const ms = Date.parse(`${m[1]}T${m[2]}${zone}`);
      if (!Number.isNaN(ms)) return String(ms);
    }
    return v;
  }
  if (typeof v !== 'object') return v;
  if (v instanceof Date) return String(v.getTime());
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  // Arrow: a Vector's toJSON is an array of its elements, a StructRow's or MapRow's an object
  if (typeof v.toJSON === 'function' && !Array.isArray(v)) return canonical(v.toJSON());
  if (Array.isArray(v)) {
    const isMap = v.every((e) => e && typeof e === 'object' && !Array.isArray(e) &&
      Object.keys(e).length === 2 && 'key' in e && 'value' in e);
    if (isMap && v.length > 0) return canonical(Object.fromEntries(v.map((e) => [String(e.key), e.value])));
    return v.map(canonical);
  }
  const out = {};
  for (const k of Object.keys(v).sort()) {
    const x = canonical(v[k]);
    if (x !== null) out[k] = x;
  }
  // an empty map (Arrow: {}, DuckDB: []) and a struct of nulls read alike
  return Object.keys(out).length === 0 ? [] : out;
}

export async function readHyparquet(path) {
  const b = readFileSync(path);
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  return parquetReadObjects({ file: ab, compressors });
}

export function readParquetWasm(path) {
  const table = tableFromIPC(pw.readParquet(new Uint8Array(readFileSync(path))).intoIPCStream());
  const rows = [];
  for (let i = 0; i < table.numRows; i++) rows.push(table.get(i).toJSON());
  return rows;
}

// duck: an object with rows(sql) (test/lib/duck.mjs's openDuck()).
export async function readDuck(path, duck) {
  return duck.rows(`SELECT * FROM read_parquet('${String(path).replaceAll("'", "''")}', hive_partitioning = false)`);
}

// Read PATH with the three readers; throws with the first difference unless they return the
// same rows, value for value. Returns the canonical rows.
export async function readAllThree(path, duck) {
  const d = (await readDuck(path, duck)).map(canonical);
  const h = (await readHyparquet(path)).map(canonical);
  const w = readParquetWasm(path).map(canonical);
  for (const [name, rows] of [['hyparquet', h], ['parquet-wasm', w]]) {
    if (rows.length !== d.length) throw new Error(`${path}: DuckDB read ${d.length} rows, ${name} ${rows.length}`);
    for (let i = 0; i < d.length; i++) {
      const a = JSON.stringify(d[i]);
      const b = JSON.stringify(rows[i]);
      if (a !== b) {
        let at = 0;
        while (at < a.length && a[at] === b[at]) at++;
        throw new Error(`${path} row ${i}: DuckDB and ${name} differ\n  duckdb …${a.slice(Math.max(0, at - 80), at + 120)}\n  ${name} …${b.slice(Math.max(0, at - 80), at + 120)}`);
      }
    }
  }
  return d;
}
