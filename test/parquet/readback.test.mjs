// Cross-check of the Parquet encoder with two independent readers.
//
// build/parquet/pqgen writes a matrix of files (flat, nested structs, lists of
// structs, lists of lists, maps, optional groups absent/present, all-null columns,
// empty and multi-byte strings, 0 and 1 row, 1.2M rows over several row groups,
// dictionary fallback, small pages, UNCOMPRESSED + field ids + key/value metadata)
// with the rows it wrote as JSON. DuckDB reads every file and every value is compared;
// parquet_metadata()/parquet_schema() and our own walk of the page headers check the
// codec, page and row-group limits, statistics and logical types; hyparquet (with
// hyparquet-compressors for ZSTD) reads the same files as a second reader, and
// parquet-wasm (arrow-rs) as a third (test/lib/readers.mjs).
//
//   node --test test/parquet/readback.test.mjs      (from the repo root)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { parquetReadObjects } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { canonical, readParquetWasm } from '../lib/readers.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
let dir, db, conn, manifest;

before(async () => {
  execFileSync('make', ['-s', 'build/parquet/pqgen'], { cwd: ROOT, stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'pqgen-'));
  execFileSync(join(ROOT, 'build/parquet/pqgen'), [dir], { stdio: 'inherit' });
  manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  db = await DuckDBInstance.create(':memory:', { threads: '2' });
  conn = await db.connect();
  await conn.run("SET TimeZone = 'UTC'");
});

after(() => {
  conn?.closeSync?.();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const file = (name) => join(dir, `${name}.parquet`);
const q = async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJson();
const caseOf = (name) => manifest.find((c) => c.name === name);

// ---- a minimal Thrift compact reader, to walk page headers ourselves ----
function readPageHeader(buf, pos) {
  const start = pos;
  const varint = () => {
    let v = 0n, shift = 0n, b;
    do { b = buf[pos++]; v |= BigInt(b & 0x7f) << shift; shift += 7n; } while (b & 0x80);
    return v;
  };
  const zz = () => { const v = varint(); return Number((v >> 1n) ^ -(v & 1n)); };
  function skip(type) {
    switch (type) {
      case 1: case 2: return;
      case 3: pos++; return;
      case 4: case 5: case 6: varint(); return;
      case 7: pos += 8; return;
      case 8: { const n = Number(varint()); pos += n; return; }
      case 9: case 10: {
        const h = buf[pos++]; let n = h >> 4; const et = h & 15;
        if (n === 15) n = Number(varint());
        for (let i = 0; i < n; i++) skip(et === 1 || et === 2 ? 3 : et);
        return;
      }
      case 12: struct(() => {}); return;
      default: throw new Error(`thrift type ${type} at ${pos}`);
    }
  }
  function struct(onField) {
    let last = 0;
    for (;;) {
      const h = buf[pos++];
      if (h === 0) return;
      const type = h & 15;
      const id = (h >> 4) ? last + (h >> 4) : zz();
      last = id;
      if (!onField(id, type)) skip(type);
    }
  }
  const hdr = {};
  struct((id, type) => {
    if (type === 5 && id >= 1 && id <= 3) { hdr[['type', 'uncompressed', 'compressed'][id - 1]] = zz(); return true; }
    if (type === 12 && (id === 5 || id === 7 || id === 8)) {
      struct((fid, ft) => {
        if (fid === 1 && ft === 5) { hdr.numValues = zz(); return true; }
        if (id === 8 && fid === 3 && ft === 5) { hdr.numRows = zz(); return true; }
        return false;
      });
      return true;
    }
    return false;
  });
  return { ...hdr, headerLen: pos - start };
}

async function pagesOf(name) {
  const buf = readFileSync(file(name));
  const chunks = await q(`SELECT row_group_id, path_in_schema, num_values, dictionary_page_offset,
      data_page_offset, total_compressed_size FROM parquet_metadata('${file(name)}')`);
  return chunks.map((c) => {
    let pos = Number(c.dictionary_page_offset ?? c.data_page_offset);
    const end = pos + Number(c.total_compressed_size);
    const pages = [];
    while (pos < end) {
      const h = readPageHeader(buf, pos);
      pages.push(h);
      pos += h.headerLen + h.compressed;
    }
    assert.equal(pos, end, `${name} ${c.path_in_schema}: pages end exactly at the chunk's end`);
    return { ...c, pages };
  });
}

// ---- hyparquet's shapes to DuckDB's JSON shapes, guided by the expected value ----
function hyNorm(v, exp) {
  if (v === undefined) return null;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return String(v.getTime());
  if (Array.isArray(v)) return v.map((x, i) => hyNorm(x, Array.isArray(exp) ? exp[i] : undefined));
  if (v !== null && typeof v === 'object') {
    if (Array.isArray(exp)) return Object.entries(v).map(([key, value], i) => ({ key, value: hyNorm(value, exp[i]?.value) }));
    if (typeof exp === 'string') return JSON.stringify(v); // JSON logical type, parsed by hyparquet
    const o = {};
    for (const k of Object.keys(v)) o[k] = hyNorm(v[k], exp?.[k]);
    return o;
  }
  return v;
}

async function hyRead(name, options = {}) {
  const b = readFileSync(file(name));
  const ab = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  return parquetReadObjects({ file: ab, compressors, ...options });
}

const JSON_CASES = ['flat', 'nested', 'zero_rows', 'one_row', 'lists', 'lists_v2', 'maps', 'all_null', 'strings', 'metadata'];

for (const name of JSON_CASES) {
  test(`${name}: DuckDB returns every value written`, async () => {
    const expected = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
    const sel = name === 'flat' ? `SELECT * REPLACE (epoch_ms(ts) AS ts)` : 'SELECT *';
    const rows = await q(`${sel} FROM read_parquet('${file(name)}') ORDER BY id`);
    assert.equal(rows.length, expected.length);
    assert.equal(rows.length, caseOf(name).rows);
    for (let i = 0; i < rows.length; i++) assert.deepEqual(rows[i], expected[i], `${name} row ${i}`);
  });

  test(`${name}: parquet-wasm (arrow-rs) returns every value written`, () => {
    const expected = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
    const rows = readParquetWasm(file(name));
    assert.equal(rows.length, expected.length);
    for (let i = 0; i < rows.length; i++) assert.deepEqual(canonical(rows[i]), canonical(expected[i]), `${name} row ${i}`);
  });

  test(`${name}: hyparquet returns every value written`, async () => {
    const expected = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8'));
    const rows = await hyRead(name);
    assert.equal(rows.length, expected.length);
    for (let i = 0; i < rows.length; i++) assert.deepEqual(hyNorm(rows[i], expected[i]), expected[i], `${name} row ${i}`);
  });
}

test('every file: codec, row-group counts and data pages within the page limit', async () => {
  for (const c of manifest) {
    const chunks = await pagesOf(c.name);
    const codecs = new Set(chunks.map((x) => x.compression ?? null));
    const meta = await q(`SELECT DISTINCT compression FROM parquet_metadata('${file(c.name)}')`);
    if (c.rows > 0) assert.deepEqual(meta.map((m) => m.compression), [c.codec], `${c.name} codec`);
    const rgs = await q(`SELECT count(DISTINCT row_group_id)::INT AS n FROM parquet_metadata('${file(c.name)}')`);
    assert.equal(rgs[0].n, c.row_groups, `${c.name} row groups`);
    for (const ch of chunks) {
      let values = 0;
      for (const p of ch.pages) {
        if (p.type === 0 || p.type === 3) {
          assert.equal(p.type, c.data_page_version === 2 ? 3 : 0, `${c.name}: data page version`);
          assert.ok(p.uncompressed <= c.page_size_limit, `${c.name} ${ch.path_in_schema}: page of ${p.uncompressed} bytes > ${c.page_size_limit}`);
          values += p.numValues;
        } else assert.equal(p.type, 2, 'only dictionary and data pages');
      }
      assert.equal(values, Number(ch.num_values), `${c.name} ${ch.path_in_schema}: page value counts add up`);
    }
    void codecs;
  }
});

test('big: 1.2M rows in 5 row groups of many pages, every value as the formula says', async () => {
  const c = caseOf('big');
  assert.equal(c.rows, 1200000);
  assert.equal(c.row_groups, 5);
  const f = file('big');
  const [agg] = await q(`SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS d,
      count(*) FILTER (WHERE id <> file_row_number)::INT AS misplaced,
      count(*) FILTER (WHERE "user" IS DISTINCT FROM 'user-' || (id % 1000)
                          OR uid IS DISTINCT FROM 'uid-' || id
                          OR v IS DISTINCT FROM CASE WHEN id % 7 = 0 THEN NULL ELSE (id % 100000)::INT END
                          OR d IS DISTINCT FROM id * 0.5
                          OR flag IS DISTINCT FROM (id % 2 = 0))::INT AS wrong
      FROM read_parquet('${f}', file_row_number = true)`);
  assert.deepEqual(agg, { n: 1200000, d: 1200000, misplaced: 0, wrong: 0 });
  const rg = await q(`SELECT row_group_id, max(row_group_num_rows)::INT AS n FROM parquet_metadata('${f}') GROUP BY 1 ORDER BY 1`);
  assert.deepEqual(rg.map((r) => r.n), [250000, 250000, 250000, 250000, 200000]);
  const chunks = await pagesOf('big');
  const idPages = chunks.filter((x) => x.path_in_schema === 'id').reduce((s, x) => s + x.pages.length, 0);
  assert.ok(idPages >= 10, `id spans many pages (${idPages})`);
  const uidEnc = await q(`SELECT DISTINCT encodings FROM parquet_metadata('${f}') WHERE path_in_schema = 'uid'`);
  assert.ok(uidEnc.every((e) => !e.encodings.includes('RLE_DICTIONARY')), 'uid (unique values) fell back to PLAIN');
  const userEnc = await q(`SELECT DISTINCT encodings FROM parquet_metadata('${f}') WHERE path_in_schema = 'user'`);
  assert.ok(userEnc.every((e) => e.encodings.includes('RLE_DICTIONARY')), 'user (1000 values) stays dictionary-encoded');
  // the second reader on the large file: ids and uids of every row
  const rows = await hyRead('big', { columns: ['id', 'uid'] });
  assert.equal(rows.length, 1200000);
  let bad = 0;
  for (let i = 0; i < rows.length; i++) if (rows[i].id !== BigInt(i) || rows[i].uid !== `uid-${i}`) bad++;
  assert.equal(bad, 0);
  // and the third: every row group, every value of every column
  const wasm = readParquetWasm(f);
  assert.equal(wasm.length, 1200000);
  bad = 0;
  for (let i = 0; i < wasm.length; i++) {
    const r = wasm[i];
    if (r.id !== BigInt(i) || r.uid !== `uid-${i}` || r.user !== `user-${i % 1000}` || r.flag !== (i % 2 === 0) ||
        r.v !== (i % 7 === 0 ? null : i % 100000) || r.d !== i * 0.5) bad++;
  }
  assert.equal(bad, 0, 'parquet-wasm reads every value of the 1.2M rows');
});

test('dict_fallback: the unique column goes PLAIN, the low-cardinality one keeps its dictionary', async () => {
  const f = file('dict_fallback');
  const enc = await q(`SELECT path_in_schema AS p, encodings AS e, dictionary_page_offset AS d FROM parquet_metadata('${f}') ORDER BY column_id`);
  const by = Object.fromEntries(enc.map((x) => [x.p, x]));
  assert.ok(!by.uniq.e.includes('RLE_DICTIONARY') && by.uniq.d === null, `uniq: ${by.uniq.e}`);
  assert.ok(by.low.e.includes('RLE_DICTIONARY') && by.low.d !== null, `low: ${by.low.e}`);
  const [agg] = await q(`SELECT count(*)::INT AS n, count(*) FILTER (WHERE id <> file_row_number
      OR uniq <> 'unique-value-' || id OR low <> 'cat' || (id % 10))::INT AS wrong
      FROM read_parquet('${f}', file_row_number = true)`);
  assert.deepEqual(agg, { n: 50000, wrong: 0 });
  const rows = await hyRead('dict_fallback');
  assert.equal(rows.filter((r, i) => r.uniq !== `unique-value-${i}` || r.low !== `cat${i % 10}`).length, 0);
});

test('small_pages: 4 KiB pages hold lists and strings, values intact', async () => {
  const chunks = await pagesOf('small_pages');
  assert.ok(chunks.every((c) => c.pages.length >= 10), 'every column spans many pages');
  const f = file('small_pages');
  const [agg] = await q(`SELECT count(*)::INT AS n, count(*) FILTER (WHERE id <> file_row_number
      OR txt IS DISTINCT FROM CASE WHEN id % 3 = 0 THEN NULL ELSE 'text number ' || id END
      OR l IS DISTINCT FROM list_transform(range(id % 4), k -> id + k))::INT AS wrong
      FROM read_parquet('${f}', file_row_number = true)`);
  assert.deepEqual(agg, { n: 20000, wrong: 0 });
  const rows = await hyRead('small_pages');
  let bad = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const l = Array.from({ length: i % 4 }, (_, k) => BigInt(i + k));
    if (r.id !== BigInt(i) || r.txt !== (i % 3 ? `text number ${i}` : null) || JSON.stringify(r.l, (k, v) => typeof v === 'bigint' ? v.toString() : v) !== JSON.stringify(l, (k, v) => typeof v === 'bigint' ? v.toString() : v)) bad++;
  }
  assert.equal(bad, 0);
});

test('statistics agree with the values: min/max in each type\'s order, null counts', async () => {
  for (const name of ['flat', 'strings', 'nested', 'big']) {
    const f = file(name);
    const cols = await q(`SELECT path_in_schema AS p, type, stats_min_value AS mn, stats_max_value AS mx,
        stats_null_count::BIGINT AS nc, stats_min AS dmn FROM parquet_metadata('${f}') WHERE row_group_id = 0`);
    for (const c of cols) {
      if (c.p.includes(',') || ['ts', 'j', 'f'].includes(c.p)) continue; // nested paths: checked below
      const col = `"${c.p}"`;
      const [v] = await q(`SELECT min(${col})::VARCHAR AS mn, max(${col})::VARCHAR AS mx, (count(*) - count(${col}))::BIGINT AS nc
          FROM (SELECT * FROM read_parquet('${f}', file_row_number = true) WHERE file_row_number < ${name === 'big' ? 250000 : 1e9})`);
      if (c.p === 'long') { assert.equal(c.mn, null, 'a 5000-byte string is left out of the statistics'); continue; }
      if (c.type === 'DOUBLE' || c.type === 'FLOAT') {
        // a zero minimum is written as -0.0 (the spec asks for it); compare numerically
        assert.ok(Number(c.mn) === Number(v.mn), `${name}.${c.p} min ${c.mn} vs ${v.mn}`);
        assert.ok(Number(c.mx) === Number(v.mx), `${name}.${c.p} max ${c.mx} vs ${v.mx}`);
        if (Number(c.mn) === 0) assert.equal(c.mn, '-0.0', `${name}.${c.p}: a zero minimum is -0.0`);
      } else {
        assert.equal(c.mn, v.mn, `${name}.${c.p} min`);
        assert.equal(c.mx, v.mx, `${name}.${c.p} max`);
      }
      assert.equal(String(c.nc), String(v.nc), `${name}.${c.p} null count`);
      // deprecated min/max only where the order is signed
      if (c.type === 'BYTE_ARRAY' || c.type === 'DOUBLE' || c.type === 'BOOLEAN') assert.equal(c.dmn, null, `${name}.${c.p}: no deprecated min`);
      if (c.type === 'INT64' || c.type === 'INT32') assert.notEqual(c.dmn, null, `${name}.${c.p}: deprecated min`);
    }
  }
  // strings: unsigned byte order puts "" first and the 4-byte emoji last
  const [s] = await q(`SELECT stats_min_value AS mn, stats_max_value AS mx, stats_null_count::INT AS nc
      FROM parquet_metadata('${file('strings')}') WHERE path_in_schema = 's'`);
  assert.deepEqual(s, { mn: '', mx: '🦆 duck', nc: 76 }); // i % 13 == 12 for i < 1000
  const [fl] = await q(`SELECT stats_min_value AS mn, stats_max_value AS mx FROM parquet_metadata('${file('flat')}') WHERE path_in_schema = 'i32'`);
  assert.deepEqual(fl, { mn: String(2999 * -7919 + (2999 % 3 === 0 ? 7919 : 0)), mx: '-7919' });
});

test('logical and converted types: schema and DuckDB column types', async () => {
  const desc = await q(`DESCRIBE SELECT * FROM read_parquet('${file('flat')}')`);
  const types = Object.fromEntries(desc.map((d) => [d.column_name, d.column_type]));
  assert.deepEqual(types, {
    id: 'BIGINT', i8: 'TINYINT', i16: 'SMALLINT', i32: 'INTEGER', i64: 'BIGINT', f: 'FLOAT', d: 'DOUBLE',
    b: 'BOOLEAN', s: 'VARCHAR', ts: 'TIMESTAMP WITH TIME ZONE', j: 'JSON',
  });
  const sch = await q(`SELECT name, converted_type AS ct, logical_type AS lt, repetition_type AS rt FROM parquet_schema('${file('flat')}')`);
  const by = Object.fromEntries(sch.map((x) => [x.name, x]));
  assert.equal(by.s.ct, 'UTF8');
  assert.match(by.s.lt, /String/i);
  assert.equal(by.ts.ct, 'TIMESTAMP_MILLIS');
  assert.match(by.ts.lt, /isAdjustedToUTC=1|isAdjustedToUTC=true/i);
  assert.equal(by.i8.ct, 'INT_8');
  assert.match(by.i8.lt, /bitWidth=(8|\x08), isSigned=(1|true)/); // DuckDB prints the i8 as a char
  assert.equal(by.j.ct, 'JSON');
  assert.equal(by.id.rt, 'REQUIRED');
  assert.equal(by.s.rt, 'OPTIONAL');
  const lists = await q(`SELECT name, converted_type AS ct, repetition_type AS rt FROM parquet_schema('${file('lists')}')`);
  assert.ok(lists.some((x) => x.name === 'observables' && x.ct === 'LIST'));
  assert.ok(lists.some((x) => x.name === 'list' && x.rt === 'REPEATED'));
  const maps = await q(`SELECT name, converted_type AS ct FROM parquet_schema('${file('maps')}')`);
  assert.ok(maps.some((x) => x.name === 'attrs' && x.ct === 'MAP'));
  const mdesc = await q(`DESCRIBE SELECT * FROM read_parquet('${file('maps')}')`);
  assert.equal(mdesc.find((d) => d.column_name === 'attrs').column_type, 'MAP(VARCHAR, VARCHAR)');
  const ldesc = await q(`DESCRIBE SELECT * FROM read_parquet('${file('lists')}')`);
  assert.equal(ldesc.find((d) => d.column_name === 'matrix').column_type, 'INTEGER[][]');
});

test('rg_bytes: row groups are closed at the byte limit', async () => {
  const c = caseOf('rg_bytes');
  const f = file('rg_bytes');
  const rgs = await q(`SELECT row_group_id, sum(total_uncompressed_size)::BIGINT AS u, sum(total_compressed_size)::BIGINT AS z,
      max(row_group_num_rows)::BIGINT AS n FROM parquet_metadata('${f}') GROUP BY 1 ORDER BY 1`);
  assert.ok(rgs.length >= 5, `several row groups (${rgs.length})`);
  for (const rg of rgs) {
    assert.ok(Number(rg.u) <= c.row_group_size * 1.05, `row group ${rg.row_group_id}: ${rg.u} uncompressed bytes`);
    assert.ok(Number(rg.z) <= c.row_group_size, `row group ${rg.row_group_id}: ${rg.z} compressed bytes`);
  }
  const [agg] = await q(`SELECT count(*)::INT AS n, count(*) FILTER (WHERE id <> file_row_number
      OR txt <> 'row ' || id || ' of the byte-limited file')::INT AS wrong FROM read_parquet('${f}', file_row_number = true)`);
  assert.deepEqual(agg, { n: 100000, wrong: 0 });
});

test('lists_v2: DATA_PAGE_V2 pages count their rows and start at record boundaries', async () => {
  const chunks = await pagesOf('lists_v2');
  for (const ch of chunks) {
    const rows = ch.pages.filter((p) => p.type === 3).reduce((s, p) => s + p.numRows, 0);
    assert.equal(rows, 2000, `${ch.path_in_schema}: the pages' num_rows add up to the file's rows`);
  }
});

test('metadata: UNCOMPRESSED, field ids, key/value metadata, created_by', async () => {
  const f = file('metadata');
  const ids = await q(`SELECT name, field_id FROM parquet_schema('${f}') WHERE name IN ('id', 'name') ORDER BY name`);
  assert.deepEqual(ids.map((x) => [x.name, String(x.field_id)]), [['id', '1'], ['name', '2']]);
  const kv = await q(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata('${f}') ORDER BY k`);
  assert.deepEqual(kv.filter((x) => x.k !== 'no_value'), [{ k: 'class_uid', v: '3002' }, { k: 'ocsf_version', v: '1.1.0' }]);
  assert.ok(kv.some((x) => x.k === 'no_value'));
  const [fm] = await q(`SELECT created_by FROM parquet_file_metadata('${f}')`);
  assert.match(fm.created_by, /^securitylake version \S+ \(build \S+\)$/);
});
