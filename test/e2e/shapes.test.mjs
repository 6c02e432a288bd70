// What the objects look like to their readers, end to end (queue → worker → gate → files):
//
//  - data from outside AWS (Azure, GCP, on-prem, an AWS event with a bad account) lands
//    under accountId=external_<id> in the source's region, never in dead_letter;
//  - time_dt and every other *_dt column is filled from its epoch-ms twin when absent
//    (fill_dt, default on; off, it stays null);
//  - a tag schema's bare REPEATED fields are written as standard 3-level LISTs;
//  - every object carries a parquet.avro.schema that Apache Avro (Java) parses and that
//    matches the object's Parquet schema field by field, with no list parquet-mr would
//    read as [{"element": …}];
//  - DuckDB, hyparquet and parquet-wasm (arrow-rs) read every object value for value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { psql, query, lit, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { readAllThree } from '../lib/readers.mjs';
import { startGate } from '../lib/gate.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-shapeslake';
const USER = { accessKeyId: 'AKIASHAPESTESTUSER01', secretAccessKey: 'shapesSecretKeyForTheGate00000000000001' };
const ROOT = new URL('../../', import.meta.url).pathname;
const AVRO_CP = ['avro', 'jackson-core-asl', 'jackson-mapper-asl', 'slf4j-api', 'slf4j-nop'].map((j) => `/usr/share/java/${j}.jar`).join(':');
const T = 1732752000000; // 2024-11-28
let gate;
let duck;
let tmp;

const base = (extra = {}) => ({
  class_uid: 3002, category_uid: 3, activity_id: 1, type_uid: 300201, severity_id: 1, time: T,
  metadata: { version: '1.1.0', product: { name: 'p', vendor_name: 'v' } }, user: { name: 'alice' }, ...extra,
});

const TAG_SCHEMA = {
  Tag: 'name=tagged, repetitiontype=REQUIRED',
  Fields: [
    { Tag: 'name=class_uid, type=INT32, repetitiontype=REQUIRED' },
    { Tag: 'name=time, type=INT64, repetitiontype=REQUIRED' },
    { Tag: 'name=time_dt, type=INT64, convertedtype=TIMESTAMP_MILLIS, repetitiontype=OPTIONAL' },
    { Tag: 'name=tags, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=REPEATED' },
    { Tag: 'name=ports, type=INT32, repetitiontype=REPEATED' },
    { Tag: 'name=hops, repetitiontype=REPEATED', Fields: [{ Tag: 'name=host, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }, { Tag: 'name=ms, type=INT64, repetitiontype=OPTIONAL' }] },
    { Tag: 'name=unmapped, type=MAP, repetitiontype=OPTIONAL', Fields: [{ Tag: 'name=key, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=REQUIRED' }, { Tag: 'name=value, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }] },
  ],
};

function createSource(name, { schema = null, options = {} } = {}) {
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, 3002, 'us-east-1', '123456789012',
        ${schema ? `${lit(JSON.stringify(schema))}::jsonb` : 'NULL'}, publish_rate => '1 hour',
        options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb)`);
  // options the lead's create_source does not list yet (fill_dt) are set directly
  if (Object.keys(options).length) psql(`UPDATE securitylake.source SET options = options || ${lit(JSON.stringify(options))}::jsonb WHERE name = ${lit(name)}`);
}

function enqueue(source, events) {
  for (const e of events) psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(source)}, ${lit(JSON.stringify(e))}::jsonb)`);
}

before(async () => {
  if (skipNoPg) return;
  tmp = mkdtempSync(join(tmpdir(), 'securitylake-shapes-'));
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  await duck.rows("SET TimeZone = 'UTC'");
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
  createSource('ocsf');
  createSource('nofill', { options: { fill_dt: false } });
  createSource('tagged', { schema: TAG_SCHEMA });
  enqueue('ocsf', [
    base({ metadata: { version: '1.1.0', uid: 'aws', product: { name: 'p', vendor_name: 'v' } }, cloud: { provider: 'AWS', region: 'us-west-2', account: { uid: '111122223333' } } }),
    base({ metadata: { version: '1.1.0', uid: 'azure', product: { name: 'p', vendor_name: 'v' } }, cloud: { provider: 'Azure', region: 'westeurope', account: { uid: 'd3b7f8a2-1c4e-4b8a-9f2e-7a6b5c4d3e2f' } } }),
    base({ metadata: { version: '1.1.0', uid: 'gcp', product: { name: 'p', vendor_name: 'v' } }, cloud: { provider: 'GCP', region: 'us-central1', account: { uid: 'my-project-123' } } }),
    base({ metadata: { version: '1.1.0', uid: 'onprem', product: { name: 'p', vendor_name: 'v' } }, cloud: { provider: 'on-prem', region: 'dc1', account: { uid: 'corp.example.com/DC=01' } } }),
    base({ metadata: { version: '1.1.0', uid: 'aws-bad-account', product: { name: 'p', vendor_name: 'v' } }, cloud: { provider: 'AWS', region: 'eu-west-1', account: { uid: '1111111111111' } } }),
    base({ metadata: { version: '1.1.0', uid: 'azure-no-account', product: { name: 'p', vendor_name: 'v' } }, cloud: { provider: 'azure', region: 'eastus2' } }),
    base({ metadata: { version: '1.1.0', uid: 'gcp-region-only', product: { name: 'p', vendor_name: 'v' } }, cloud: { region: 'us-central1', account: { uid: '123456789012' } } }),
    base({ metadata: { version: '1.1.0', uid: 'aws-gov', product: { name: 'p', vendor_name: 'v' } }, cloud: { region: 'us-gov-west-1', account: { uid: '222233334444' } } }),
    base({ metadata: { version: '1.1.0', uid: 'dt', product: { name: 'p', vendor_name: 'v' } }, time: T + 5, actor: { session: { created_time: T - 1000, uid: 's' } } }),
    base({ metadata: { version: '1.1.0', uid: 'dt-given', product: { name: 'p', vendor_name: 'v' } }, time: T + 7, time_dt: '2024-11-28T01:00:00Z' }),
  ]);
  enqueue('nofill', [base({ metadata: { version: '1.1.0', uid: 'nofill', product: { name: 'p', vendor_name: 'v' } } })]);
  enqueue('tagged', [
    { class_uid: 3002, time: T, tags: ['a', 'b'], ports: [80, 443], hops: [{ host: 'h1', ms: 1 }, { host: 'h2' }] },
    { class_uid: 3002, time: T + 1, tags: 'one', ports: 22 },
    { class_uid: 3002, time: T + 2, tags: [], hops: [] },
  ]);
  psql(`SELECT count(*) FROM securitylake.flush(NULL, '120 s')`);
});

after(async () => {
  duck?.close();
  await gate?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const objects = (source) => storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${source}/`));

test('nothing is dead-lettered and the queue is drained', { skip: skipNoPg }, () => {
  assert.deepEqual(query('SELECT reason FROM securitylake.dead_letter'), []);
  assert.equal(Number(query('SELECT count(*) AS n FROM securitylake.queue')[0].n), 0);
});

test('non-AWS data goes to accountId=external_<id> in the source\'s region', { skip: skipNoPg }, async () => {
  const where = {};
  for (const o of objects('ocsf')) {
    const m = /region=([^/]+)\/accountId=([^/]+)\//.exec(o.key);
    for (const r of await duck.rows(`SELECT metadata.uid AS uid FROM read_parquet(${dlit(o.path)}, hive_partitioning = false)`)) where[r.uid] = `${m[1]}/${m[2]}`;
  }
  assert.deepEqual(where, {
    aws: 'us-west-2/111122223333',
    azure: 'us-east-1/external_d3b7f8a2-1c4e-4b8a-9f2e-7a6b5c4d3e2f',
    gcp: 'us-east-1/external_my-project-123',
    onprem: 'us-east-1/external_corp-example-com-DC-01',
    'aws-bad-account': 'us-east-1/external_1111111111111',
    'azure-no-account': 'us-east-1/external',
    'gcp-region-only': 'us-east-1/external_123456789012',
    'aws-gov': 'us-gov-west-1/222233334444',
    dt: 'us-east-1/123456789012',
    'dt-given': 'us-east-1/123456789012',
  });
});

test('*_dt columns are filled from their epoch-ms twins (fill_dt), given ones kept', { skip: skipNoPg }, async () => {
  const rows = [];
  for (const o of objects('ocsf')) {
    rows.push(...await duck.rows(`SELECT metadata.uid AS uid, time, epoch_ms(time_dt) AS time_dt,
        epoch_ms(actor.session.created_time_dt) AS created_dt FROM read_parquet(${dlit(o.path)}, hive_partitioning = false)`));
  }
  const by = Object.fromEntries(rows.map((r) => [r.uid, r]));
  for (const r of rows) if (r.uid !== 'dt-given') assert.equal(String(r.time_dt), String(r.time), `${r.uid}: time_dt = time`);
  assert.equal(String(by.dt.created_dt), String(T - 1000), 'actor.session.created_time_dt = created_time (nested)');
  assert.equal(String(by['dt-given'].time_dt), String(Date.parse('2024-11-28T01:00:00Z')), 'a given time_dt is kept');
  const [nofill] = objects('nofill');
  const [n] = await duck.rows(`SELECT time, time_dt FROM read_parquet(${dlit(nofill.path)})`);
  assert.equal(n.time_dt, null, 'fill_dt false: time_dt stays null');
  const [tagged] = await duck.rows(`SELECT count(*) FILTER (WHERE epoch_ms(time_dt) = time)::INT AS n FROM read_parquet(${dlit(objects('tagged')[0].path)})`);
  assert.equal(tagged.n, 3, 'a tag schema\'s time_dt is filled from time too');
});

test('bare REPEATED tag fields are standard 3-level LISTs', { skip: skipNoPg }, async () => {
  const [o] = objects('tagged');
  const sch = await duck.rows(`SELECT name, repetition_type AS rep, converted_type AS ct FROM parquet_schema(${dlit(o.path)})`);
  const repeated = sch.filter((x) => x.rep === 'REPEATED').map((x) => x.name);
  assert.ok(repeated.every((n) => n === 'list' || n === 'key_value'), `only LIST/MAP repeated groups: ${repeated}`);
  for (const f of ['tags', 'ports', 'hops']) assert.ok(sch.some((x) => x.name === f && x.ct === 'LIST'), `${f} is a LIST`);
  const desc = Object.fromEntries((await duck.rows(`DESCRIBE SELECT * FROM read_parquet(${dlit(o.path)})`)).map((d) => [d.column_name, d.column_type]));
  assert.equal(desc.tags, 'VARCHAR[]');
  assert.equal(desc.ports, 'INTEGER[]');
  assert.equal(desc.hops, 'STRUCT(host VARCHAR, ms BIGINT)[]');
  const rows = await readAllThree(o.path, duck);
  assert.deepEqual(rows.map((r) => [r.tags ?? null, r.ports ?? null]), [[['a', 'b'], ['80', '443']], [['one'], ['22']], [[], null]]);
  assert.deepEqual(rows[0].hops, [{ host: 'h1', ms: '1' }, { host: 'h2' }]);
});

// The Avro schema as the lines AvroCheck prints, derived from the Parquet schema (DuckDB's
// parquet_schema(), depth first): "path\ttype\tnull|required".
function expectedAvroLines(schemaRows) {
  let i = 0;
  const lines = [];
  const leafType = (r) => {
    switch (r.type) {
      case 'BOOLEAN': return 'boolean';
      case 'INT32': return 'int';
      case 'INT64': return /TIMESTAMP/.test(r.logical_type ?? '') || r.converted_type === 'TIMESTAMP_MILLIS' ? 'long/timestamp-millis' : 'long';
      case 'FLOAT': return 'float';
      case 'DOUBLE': return 'double';
      default: return r.converted_type === 'UTF8' || /String/i.test(r.logical_type ?? '') ? 'string' : 'bytes';
    }
  };
  const opt = (r) => (r.repetition_type === 'OPTIONAL' ? 'null' : 'required');
  function node(path, r) {
    const n = Number(r.num_children ?? 0);
    if (r.repetition_type === 'REPEATED') { // a bare repeated field
      lines.push(`${path}\tarray\trequired`);
      describe(`${path}[]`, { ...r, repetition_type: 'REQUIRED' }, n);
      return;
    }
    describe(path, r, n);
  }
  function describe(path, r, n) {
    if (n === 0) { lines.push(`${path}\t${leafType(r)}\t${opt(r)}`); return; }
    if (r.converted_type === 'LIST' || r.converted_type === 'MAP') {
      lines.push(`${path}\t${r.converted_type === 'LIST' ? 'array' : 'map'}\t${opt(r)}`);
      const rep = schemaRows[i++];
      const kids = Number(rep.num_children);
      for (let k = 0; k < kids; k++) {
        const c = schemaRows[i++];
        if (r.converted_type === 'MAP' && c.name === 'key') continue;
        describe(`${path}${r.converted_type === 'LIST' ? '[]' : '{}'}`, c, Number(c.num_children ?? 0));
      }
      return;
    }
    lines.push(`${path}\trecord\t${opt(r)}`);
    for (let k = 0; k < n; k++) {
      const c = schemaRows[i++];
      node(path ? `${path}.${c.name}` : c.name, c);
    }
  }
  const root = schemaRows[i++];
  describe('', { ...root, repetition_type: 'REQUIRED' }, Number(root.num_children));
  return lines;
}

test('every object carries a parquet.avro.schema that Avro parses and that matches its Parquet schema', { skip: skipNoPg }, async () => {
  mkdirSync(join(ROOT, 'build/java'), { recursive: true });
  execFileSync('javac', ['-cp', AVRO_CP, '-d', join(ROOT, 'build/java'), join(ROOT, 'test/parquet/AvroCheck.java')]);
  const all = storedObjects(gate.dataDir, BUCKET);
  assert.ok(all.length >= 3);
  for (const o of all) {
    const kv = await duck.rows(`SELECT decode(key) AS k, decode(value) AS v FROM parquet_kv_metadata(${dlit(o.path)})`);
    const avro = kv.find((x) => x.k === 'parquet.avro.schema');
    assert.ok(avro, `${o.key}: has parquet.avro.schema`);
    const file = join(tmp, 'schema.avsc');
    writeFileSync(file, avro.v);
    const out = execFileSync('java', ['-cp', `${join(ROOT, 'build/java')}:${AVRO_CP}`, 'AvroCheck', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const lines = out.trimEnd().split('\n');
    assert.equal(lines.pop(), 'list-check ok', `${o.key}: no list parquet-mr would read as [{"element": …}]`);
    const schemaRows = await duck.rows(`SELECT name, type, repetition_type, num_children, converted_type, logical_type::VARCHAR AS logical_type FROM parquet_schema(${dlit(o.path)})`);
    const want = expectedAvroLines(schemaRows);
    assert.equal(lines.length, want.length, `${o.key}: as many Avro fields as Parquet fields`);
    for (let k = 0; k < want.length; k++) assert.equal(lines[k], want[k], `${o.key}: field ${k}`);
  }
});

test('DuckDB, hyparquet and parquet-wasm read every object value for value', { skip: skipNoPg }, async () => {
  let rows = 0;
  for (const o of storedObjects(gate.dataDir, BUCKET)) rows += (await readAllThree(o.path, duck)).length;
  assert.equal(rows, 14);
});
