// Regression test from the attack review of the 0.2.0 glue (it reproduced the bug described below, now fixed).
// G: DROP EXTENSION + CREATE EXTENSION while the worker is in the middle of a batch
// (here: its first multipart part is held by the gate). The worker goes on with the
// batch it had in memory; read_page() reads the remaining pages by queue id from
// securitylake.queue -- now the NEW extension's queue, whose ids restart at 1 -- and
// encodes the new extension's events into the old batch's object. The commit finds no
// batch it holds and deletes nothing, so those events stay queued and are delivered a
// second time under a new key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { query, copyEvents, skipNoPg } from '../../lib/pg.mjs';
import { startGate, admin } from '../../lib/gate.mjs';
import { openDuck, storedObjects, dlit } from '../../lib/duck.mjs';
import { AUTH_SCHEMA, BASE_TIME } from '../fixtures.mjs';
import { USER, setupExtension, flushOutcome, waitStalled, sleep, one, lit, psql } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-recreatelake';
const N = 3000;
let gate;
let duck;

function events(tag) {
  const out = [];
  for (let i = 0; i < N; i++) out.push({ class_uid: 3002, time: BASE_TIME + i, metadata: { uid: `${tag}-${i}` }, message: randomBytes(9000).toString('base64') });
  return out;
}
const sourceSql = (gateUrl) => `SELECT securitylake.create_source('swap', 's3://${BUCKET}/ext/swap/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => ${N}, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gateUrl, force_path_style: true, row_group_size: 1048576 }))}::jsonb);`;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  setupExtension(gate, sourceSql(gate.url));
});
after(async () => { if (skipNoPg) return; duck?.close(); await gate?.stop(); });

test('a batch in flight while the extension is re-created reads none of the new extension\'s events: none delivered twice', { skip: skipNoPg, timeout: 300000 }, async () => {
  await admin(gate, 'stall', { match: { kind: 'part' }, count: 1 });
  copyEvents(events('old'));                         // batch_record_count: drained at once
  const held = await waitStalled(gate, 1, 120000);
  console.log(`# part held: ${held[0].path}`);
  setupExtension(gate, sourceSql(gate.url));          // DROP EXTENSION ... CASCADE; CREATE EXTENSION; same source
  copyEvents(events('new'));
  await admin(gate, 'stall/release', {});
  const r = flushOutcome('swap', '180 s');
  console.log(`# flush after re-creation: ${JSON.stringify(r)}`);
  const objects = storedObjects(gate.dataDir, BUCKET);
  const files = `[${objects.map((o) => dlit(o.path)).join(', ')}]`;
  const per = await duck.rows(`SELECT filename, split_part(metadata.uid, '-', 1) AS gen, count(*) AS n FROM read_parquet(${files}, filename = true) GROUP BY ALL ORDER BY ALL`);
  for (const p of per) console.log(`# ${p.filename.split('/').pop()}: ${p.gen} events: ${p.n}`);
  const dup = await duck.rows(`SELECT count(*) AS n FROM (SELECT metadata.uid FROM read_parquet(${files}) WHERE metadata.uid LIKE 'new-%' GROUP BY 1 HAVING count(*) > 1)`);
  console.log(`# new events found in two objects: ${dup[0].n}; uploads logged: ${one('SELECT count(*) FROM securitylake.uploads')}`);
  assert.equal(Number(dup[0].n), 0, 'no event may be delivered twice');
});
