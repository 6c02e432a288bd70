// Object keys never collide (issue 16): the same partition delivered again by a writer
// that has the same system identifier, database OID and batch ids — (a) after DROP /
// CREATE EXTENSION restarted the batch ids, (b) from a copy of the cluster (a restored
// backup, a split brain: pg_basebackup, started on another port against the same gate)
// — gets other keys, so nothing is overwritten: the gate's storage holds every event of
// every delivery exactly once, each object holds exactly what its writer's upload log
// says, and no PUT went to a key that already existed.
//
// The nonce drawn at claim time is what tells these writers apart; the tests first check
// that both deliveries really reused the same batch id (else they would prove nothing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { psql, query, one, lit, copyEvents, skipNoPg, waitForWorker, PG_BIN } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-keyslake';
const USER = { accessKeyId: 'AKIAKEYSTESTUSER0001', secretAccessKey: 'keysSecretKeyForTheGate00000000000000001' };
const PREFIX = 'ext/keys/';
const EVENTS = 300;
let gate;
let duck;
let copy = null; // { dir, port, pg } while the cluster copy runs
const deliveries = []; // every delivery of this file: { label, uids, uploads }

const asPostgres = (args) => spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });

function setUp(pg) {
  psql(`SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('keys', 's3://${BUCKET}/${PREFIX}', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`, pg);
}

// Queue EVENTS events of one partition (us-east-1 / 123456789012 / 20261120), flush, and
// keep what this writer says it uploaded. Checks no key it wrote existed before.
function deliver(label, seed, pg) {
  const before = new Set(storedObjects(gate.dataDir, BUCKET).map((o) => o.key));
  const events = authEvents(EVENTS, { days: 1, seed });
  copyEvents(events, { pg });
  const flushed = query(`SELECT object_key, rows FROM securitylake.flush('keys', '60 s')`, pg);
  assert.equal(flushed.length, 1, `${label}: one partition, one object: ${JSON.stringify(flushed)}`);
  const uploads = query(`SELECT object_key, rows FROM securitylake.uploads
                          WHERE object_key IN (${flushed.map((f) => lit(f.object_key)).join(', ')})`, pg);
  assert.equal(uploads.length, 1, `${label}: the upload is logged`);
  for (const u of uploads) assert.ok(!before.has(u.object_key), `${label}: ${u.object_key} was PUT over an existing object`);
  const d = { label, uids: events.map((e) => e.metadata.uid), uploads };
  deliveries.push(d);
  return d;
}

// The key without its nonce: <prefix>region=…/accountId=…/eventDay=…/<sysid>-<dboid>-<batch>
const withoutNonce = (key) => key.replace(/-[0-9a-f]+\.parquet$/, '');

// Every delivery's events are in the lake exactly once, each object holds exactly the
// events its writer's upload log says, and no key received two PUTs.
async function assertLakeHoldsEveryDelivery() {
  const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(PREFIX));
  const byKey = new Map();
  for (const o of objects) {
    byKey.set(o.key, (await duck.rows(`SELECT metadata.uid AS uid FROM read_parquet(${dlit(o.path)})`)).map((r) => r.uid));
  }
  const count = new Map();
  for (const uids of byKey.values()) for (const u of uids) count.set(u, (count.get(u) ?? 0) + 1);
  for (const d of deliveries) {
    const missing = d.uids.filter((u) => !count.has(u)).length;
    const twice = d.uids.filter((u) => count.get(u) > 1).length;
    assert.deepEqual({ missing, twice }, { missing: 0, twice: 0 }, `${d.label}: every event exactly once in the lake`);
    const mine = new Set(d.uids);
    for (const u of d.uploads) {
      const uids = byKey.get(u.object_key);
      assert.ok(uids, `${d.label}: ${u.object_key} is in the lake`);
      assert.equal(uids.length, Number(u.rows), `${d.label}: ${u.object_key} holds the ${u.rows} rows its upload log says`);
      assert.ok(uids.every((x) => mine.has(x)), `${d.label}: ${u.object_key} holds only this writer's events (it was overwritten)`);
    }
  }
  const puts = (await admin(gate, 'requests')).filter((r) => r.method === 'PUT' && r.status === 200 && r.path.includes(`/${PREFIX}`));
  const perKey = new Map();
  for (const r of puts) perKey.set(r.path, (perKey.get(r.path) ?? 0) + 1);
  const overwritten = [...perKey].filter(([, n]) => n > 1).map(([p]) => p);
  assert.deepEqual(overwritten, [], 'no key was PUT twice');
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function stopCopy() {
  if (!copy) return;
  asPostgres([`${PG_BIN}/pg_ctl`, '-D', join(copy.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  rmSync(copy.dir, { recursive: true, force: true });
  copy = null;
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql('DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;');
  setUp();
});

after(async () => {
  stopCopy();
  duck?.close();
  await gate?.stop();
});

test('the same partition after DROP / CREATE EXTENSION (batch ids restart): a new key, nothing overwritten', { skip: skipNoPg }, async () => {
  const first = deliver('before DROP EXTENSION', 1);
  psql('DROP EXTENSION securitylake CASCADE; CREATE EXTENSION securitylake;');
  setUp();
  const second = deliver('after CREATE EXTENSION', 2);
  const [a, b] = [first.uploads[0].object_key, second.uploads[0].object_key];
  assert.equal(withoutNonce(b), withoutNonce(a), `the batch id restarted, so only the nonce tells ${a} and ${b} apart`);
  assert.notEqual(b, a, 'a second writer with the same batch id drew another key');
  await assertLakeHoldsEveryDelivery();
});

test('the same partition from a copy of the cluster (same system identifier, database OID, batch ids): nothing overwritten', { skip: skipNoPg, timeout: 180000 }, async () => {
  assert.equal(one('SELECT count(*) FROM securitylake.queue') + one('SELECT count(*) FROM securitylake.batch'), 0, 'nothing in flight');
  const dir = join(process.env.SECURITYLAKE_TEST_TMP ?? '/tmp', `keys-copy-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  spawnSync('chown', ['postgres:', dir]);
  copy = { dir };
  // A base backup, as a restore or a promoted replica would start from.
  let r = asPostgres([`${PG_BIN}/pg_basebackup`, '-D', join(dir, 'data'), '-h', process.env.PGHOST, '-p', process.env.PGPORT,
    '-U', 'postgres', '-c', 'fast', '-X', 'stream']);
  assert.equal(r.status, 0, r.stderr);
  copy.port = await freePort();
  r = asPostgres([`${PG_BIN}/pg_ctl`, '-D', join(dir, 'data'), '-l', join(dir, 'server.log'), '-o', `-p ${copy.port} -k ${dir}`, '-w', '-t', '60', 'start']);
  assert.equal(r.status, 0, r.stderr + r.stdout);
  copy.pg = { env: { PGHOST: dir, PGPORT: String(copy.port) } };
  const ident = 'SELECT (SELECT system_identifier FROM pg_control_system()) AS sysid, (SELECT oid FROM pg_database WHERE datname = current_database()) AS dboid';
  assert.deepEqual(one(ident, copy.pg), one(ident), 'the copy has the same system identifier and database OID');
  await waitForWorker(copy.pg);

  const original = deliver('original cluster', 3);
  const twin = deliver('cluster copy', 4, copy.pg);
  const [a, b] = [original.uploads[0].object_key, twin.uploads[0].object_key];
  assert.equal(withoutNonce(b), withoutNonce(a), `the copy claimed the same batch id, so only the nonce tells ${a} and ${b} apart`);
  assert.notEqual(b, a, 'the copy drew another key');
  stopCopy();
  await assertLakeHoldsEveryDelivery();
});

test('no two batches are ever recorded with the same object key', { skip: skipNoPg }, () => {
  const row = (id) => `(${id}, 'keys', '{keys}', 'us-east-1', '123456789012', date '2026-11-20', 'ext/keys/same.parquet', '{}', '{}', 0)`;
  assert.throws(() => psql(`BEGIN;
    INSERT INTO securitylake.batch (id, source, route_keys, region, account_id, event_day, object_key, ids, sizes, raw_bytes) OVERRIDING SYSTEM VALUE VALUES ${row(-1)};
    INSERT INTO securitylake.batch (id, source, route_keys, region, account_id, event_day, object_key, ids, sizes, raw_bytes) OVERRIDING SYSTEM VALUE VALUES ${row(-2)};
    ROLLBACK;`), /duplicate key value violates unique constraint/);
  assert.equal(one(`SELECT count(*) FROM securitylake.batch WHERE id < 0`), 0);
});
