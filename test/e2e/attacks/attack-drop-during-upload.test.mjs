// Regression (attack review B): drop_source(force => true) while the worker uploads a batch
// used to move the batch's rows to dead_letter while the upload in flight completed: the same
// events were in the lake AND in dead_letter. Now drop_source refuses while a live worker
// uploads one of the source's batches; once it is delivered, the source drops cleanly.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { query, copyEvents, skipNoPg } from '../../lib/pg.mjs';
import { startGate, admin } from '../../lib/gate.mjs';
import { openDuck, storedObjects, dlit } from '../../lib/duck.mjs';
import { AUTH_SCHEMA, authEvents } from '../fixtures.mjs';
import { USER, setupExtension, waitStalled, sleep, one, lit, psql } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-droplake';
let gate;
let duck;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  setupExtension(gate, `SELECT securitylake.create_source('dropme', 's3://${BUCKET}/ext/dropme/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 20, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});
after(async () => { if (skipNoPg) return; duck?.close(); await gate?.stop(); });

test('drop_source(force) during an upload is refused; afterwards every event is in the lake once and in no dead letter', { skip: skipNoPg, timeout: 120000 }, async () => {
  await admin(gate, 'stall', { match: { kind: 'put' }, count: 1 });
  const events = authEvents(20, { seed: 11 });
  copyEvents(events);                          // batch_record_count 20: the worker drains at once
  const held = await waitStalled(gate);
  console.log(`# PUT held by the gate: ${held[0].path}`);
  console.log(`# batch before drop: ${JSON.stringify(query('SELECT id, held_by, cardinality(ids) AS n FROM securitylake.batch'))}`);
  assert.throws(() => psql(`SET ROLE securitylake_admin; SELECT securitylake.drop_source('dropme', force => true);`),
    /has a batch being uploaded right now/);
  await admin(gate, 'stall/release', {});
  let objects = [];
  for (let i = 0; i < 100 && objects.length === 0; i++) { await sleep(200); objects = storedObjects(gate.dataDir, BUCKET); }
  await sleep(1000);
  const lake = await duck.rows(`SELECT metadata.uid AS uid FROM read_parquet([${objects.map((o) => dlit(o.path)).join(',')}])`);
  const dead = query(`SELECT event->'metadata'->>'uid' AS uid, reason FROM securitylake.dead_letter`);
  const both = lake.map((r) => r.uid).filter((u) => dead.some((d) => d.uid === u));
  console.log(`# objects in the lake: ${objects.map((o) => o.key)}`);
  console.log(`# rows in the lake: ${lake.length}; dead letters: ${dead.length} (${[...new Set(dead.map((d) => d.reason))]}); in both: ${both.length}`);
  console.log(`# uploads logged: ${one('SELECT count(*) FROM securitylake.uploads')}`);
  assert.equal(both.length, 0, 'no event may be both in the lake and dead-lettered');
  assert.equal(lake.length, events.length, 'every event delivered once');
  for (let i = 0; i < 50 && one('SELECT count(*) FROM securitylake.batch') > 0; i++) await sleep(200);
  psql(`SET ROLE securitylake_admin; SELECT securitylake.drop_source('dropme', force => true);`);
  assert.equal(one('SELECT count(*) FROM securitylake.dead_letter'), 0, 'nothing was left to dead-letter');
});
