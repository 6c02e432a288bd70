// Regression (attack review D): a source's location and schema changed together (a new
// sourceVersion) while a batch was pending: the batch kept its claim's key -- the OLD
// prefix -- but was encoded with the NEW schema, so the old location's table got an object
// of another schema (HIVE_PARTITION_SCHEMA_MISMATCH). Now alter_source refuses a schema
// change while the source has batches; once they are delivered, it goes through, and every
// object at a location has that location's schema.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { query, copyEvents, skipNoPg } from '../../lib/pg.mjs';
import { startGate, admin } from '../../lib/gate.mjs';
import { openDuck, storedObjects, dlit } from '../../lib/duck.mjs';
import { AUTH_SCHEMA, authEvents } from '../fixtures.mjs';
import { USER, setupExtension, flushOutcome, sleep, lit, psql } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-movelake';
let gate;
let duck;
const NEW_SCHEMA = { ...AUTH_SCHEMA, Fields: [...AUTH_SCHEMA.Fields, { Tag: 'name=status_id, type=INT32, repetitiontype=OPTIONAL' }] };

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  setupExtension(gate, `SELECT securitylake.create_source('moving', 's3://${BUCKET}/ext/moving/1.0/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);
      ALTER SYSTEM SET securitylake.max_backoff = '2s'; SELECT pg_reload_conf();`);
});
after(async () => {
  if (skipNoPg) return;
  psql(`ALTER SYSTEM RESET securitylake.max_backoff; SELECT pg_reload_conf();`);
  duck?.close(); await gate?.stop();
});

async function columns(path) {
  return (await duck.rows(`SELECT name FROM parquet_schema(${dlit(path)})`)).map((r) => r.name);
}

test('a schema change waits for the pending batches: no object of the new schema under the old location', { skip: skipNoPg, timeout: 180000 }, async () => {
  copyEvents(authEvents(10, { seed: 21 }));
  assert.equal(flushOutcome('moving', '30 s').ok, true, 'first object at 1.0');
  await admin(gate, 'down', { seconds: 15 });
  copyEvents(authEvents(10, { seed: 22 }));
  flushOutcome('moving', '4 s');                       // claimed, upload fails: pending
  const pending = query('SELECT id, object_key FROM securitylake.batch');
  const alter = `SET ROLE securitylake_admin; SELECT securitylake.alter_source('moving', location => 's3://${BUCKET}/ext/moving/2.0/',
          schema => ${lit(JSON.stringify(NEW_SCHEMA))}::jsonb);`;
  assert.ok(pending.length > 0, 'a batch is pending');
  assert.throws(() => psql(alter), /has batches being delivered/);
  await sleep(12000);
  assert.equal(flushOutcome('moving', '60 s').ok, true);
  psql(alter);                                      // nothing pending now
  copyEvents(authEvents(10, { seed: 23 }));
  assert.equal(flushOutcome('moving', '60 s').ok, true);
  const objects = storedObjects(gate.dataDir, BUCKET);
  for (const o of objects) {
    const cols = await columns(o.path);
    console.log(`# ${o.key}: ${cols.includes('status_id') ? 'NEW schema (status_id)' : 'old schema'}`);
  }
  console.log(`# pending batch before alter_source: ${JSON.stringify(pending)}`);
  const wrong = [];
  for (const o of objects) if (o.key.startsWith('ext/moving/1.0/') && (await columns(o.path)).includes('status_id')) wrong.push(o.key);
  assert.deepEqual(wrong, [], 'no object of the new schema may land in the old location');
  const v2 = objects.filter((o) => o.key.startsWith('ext/moving/2.0/'));
  assert.ok(v2.length > 0);
  for (const o of v2) assert.ok((await columns(o.path)).includes('status_id'), 'the new location has the new schema');
});
