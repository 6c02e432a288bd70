// Every class of both built-in OCSF versions: build/ocsf/ocsf_emit writes an empty and a
// one-row Parquet file (every column filled) through our encoder; DuckDB reads them all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDuck, dlit } from '../lib/duck.mjs';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TIME_MS = '1732752000000';
let dir;
let classes;
let duck;

before(async () => {
  execFileSync('make', ['-s', 'build/ocsf/ocsf_emit'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  dir = mkdtempSync(join(tmpdir(), 'ocsf-emit-'));
  const out = execFileSync(join(repo, 'build/ocsf/ocsf_emit'), [dir], { encoding: 'utf8' });
  classes = out.trim().split('\n').map((line) => JSON.parse(line));
  duck = await openDuck();
});

after(() => {
  duck?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a file pair for every class of 1.1.0 (44) and 1.3.0 (65)', () => {
  const count = (v) => classes.filter((c) => c.version === v).length;
  assert.equal(count('1.1.0'), 44);
  assert.equal(count('1.3.0'), 65);
  assert.ok(classes.some((c) => c.version === '1.1.0' && c.class_uid === 3002));
});

test('DuckDB reads every empty file (0 rows) and every one-row file (1 row, all columns)', async () => {
  for (const c of classes) {
    const [empty] = await duck.rows(`SELECT count(*)::INT AS n FROM read_parquet(${dlit(c.empty)})`);
    assert.equal(empty.n, 0, `${c.version} ${c.class_uid} empty`);
    // to_json of the whole row decodes every column of the file.
    const rows = await duck.rows(`SELECT class_uid, to_json(t)::VARCHAR AS j FROM read_parquet(${dlit(c.one)}) t`);
    assert.equal(rows.length, 1, `${c.version} ${c.class_uid} one row`);
    assert.equal(rows[0].class_uid, c.class_uid);
    assert.ok(rows[0].j.length > 1000, `${c.version} ${c.class_uid} row has content`);
  }
});

test('leaf count, no empty group, names [a-z0-9_] in every schema', async () => {
  for (const c of classes) {
    const schema = await duck.rows(`SELECT name, type, num_children::INT AS k FROM parquet_schema(${dlit(c.one)})`);
    const leaves = schema.filter((f) => f.type !== null);
    assert.equal(leaves.length, c.leaves, `${c.version} ${c.class_uid} leaves`);
    assert.deepEqual(schema.filter((f) => f.type === null && !(f.k > 0)).map((f) => f.name), [],
      `${c.version} ${c.class_uid} has an empty group`);
    assert.deepEqual(schema.slice(1).filter((f) => !/^[a-z0-9_]+$/.test(f.name)).map((f) => f.name), [],
      `${c.version} ${c.class_uid} has a bad name`);
    assert.ok(c.leaves >= 150 && c.leaves <= 2500, `${c.version} ${c.class_uid}: ${c.leaves} leaves`);
  }
});

test('3002 Authentication has Security Lake\'s column types', async () => {
  for (const version of ['1.1.0', '1.3.0']) {
    const c = classes.find((x) => x.version === version && x.class_uid === 3002);
    const [row] = await duck.rows(`SELECT typeof(class_uid) AS tc, typeof(type_uid) AS tu, typeof(time) AS tt,
        time::VARCHAR AS time, typeof(time_dt) AS tdt, time_dt::VARCHAR AS time_dt,
        typeof(metadata.profiles) AS tp, typeof(observables) AS tobs, typeof(unmapped) AS tm,
        typeof("user") AS tuser, typeof(src_endpoint.port) AS tport, unmapped['k'] AS mv
      FROM read_parquet(${dlit(c.one)})`);
    assert.equal(row.tc, 'INTEGER');
    assert.equal(row.tu, 'BIGINT');
    assert.equal(row.tt, 'BIGINT');
    assert.equal(row.time, TIME_MS);
    assert.equal(row.tdt, 'TIMESTAMP WITH TIME ZONE');
    assert.equal(row.time_dt, '2024-11-28 00:00:00+00');
    assert.equal(row.tp, 'VARCHAR[]');
    assert.match(row.tobs, /^STRUCT\(.*"name" VARCHAR.*\)\[\]$/);
    assert.equal(row.tm, 'MAP(VARCHAR, VARCHAR)');
    assert.match(row.tuser, /^STRUCT\(/);
    assert.equal(row.tport, 'INTEGER');
    assert.equal(row.mv, 'value');
  }
});
