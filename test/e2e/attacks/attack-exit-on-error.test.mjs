// Regression test from the attack review of the 0.2.0 glue (it reproduced the bug described below, now fixed).
// C: a database owner (no superuser) sets exit_on_error = on for the database. The
// worker pins ~50 settings at connection but not this one. Every ERROR the worker means
// to catch (PG_TRY in guarded(), sl_deliver_batch, sink_write) is promoted to FATAL by
// errstart(): one event whose encoding raises an ERROR (simulated with the test hook
// error:event:<uid>; any content ERROR does the same) now kills the worker on every
// attempt instead of being isolated by bisection. Pending batches are taken first in
// every cycle, so every other source stalls too.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { query, copyEvents, skipNoPg, serverLog } from '../../lib/pg.mjs';
import { startGate } from '../../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from '../fixtures.mjs';
import { USER, setFault, setupExtension, flushOutcome, restartWorker, workerPids, sleep, one, lit, psql } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-eoelake';
const DB = process.env.PGDATABASE;
let gate;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  const opts = lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }));
  setupExtension(gate, `
    SELECT securitylake.create_source('a_poisoned', 's3://${BUCKET}/ext/a/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour', options => ${opts}::jsonb);
    SELECT securitylake.create_source('b_bystander', 's3://${BUCKET}/ext/b/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour', options => ${opts}::jsonb);`);
  psql(`DROP ROLE IF EXISTS attack_dbowner; CREATE ROLE attack_dbowner NOLOGIN; ALTER DATABASE ${DB} OWNER TO attack_dbowner;`);
});
after(async () => {
  if (skipNoPg) return;
  psql(`ALTER DATABASE ${DB} RESET exit_on_error; ALTER DATABASE ${DB} OWNER TO postgres;`);
  setFault('');
  await restartWorker();
  await gate?.stop();
});

test('control: without exit_on_error the poison event is isolated and dead-lettered', { skip: skipNoPg, timeout: 120000 }, async () => {
  setFault('error:event:evt-7-3');
  copyEvents(authEvents(40, { seed: 7 }));
  const r = flushOutcome('a_poisoned', '90 s');
  const dead = query(`SELECT event->'metadata'->>'uid' AS uid, reason FROM securitylake.dead_letter`);
  console.log(`# control flush: ${JSON.stringify(r)}; dead letters: ${JSON.stringify(dead)}`);
  assert.equal(r.ok, true);
  assert.deepEqual(dead.map((d) => d.uid), ['evt-7-3']);
});

test('a database owner\'s exit_on_error does not turn caught ERRORs into a crash loop: the poison event is isolated, other sources deliver', { skip: skipNoPg, timeout: 200000 }, async () => {
  psql(`SET ROLE attack_dbowner; ALTER DATABASE ${DB} SET exit_on_error = on;`);
  const w0 = await restartWorker();          // a worker (re)start picks up the database's settings
  const before = (serverLog().match(/FATAL:\s+securitylake test fault while encoding event evt-8-3/g) ?? []).length;
  setFault('error:event:evt-8-3');
  copyEvents(authEvents(40, { seed: 8 }));
  flushOutcome('a_poisoned', '8 s');
  copyEvents(authEvents(20, { seed: 9 }), { source: 'b_bystander' });
  const r = flushOutcome('b_bystander', '45 s');
  const fatals = (serverLog().match(/FATAL:\s+securitylake test fault while encoding event evt-8-3/g) ?? []).length - before;
  const exits = (serverLog().match(/background worker "securitylake worker 0 \([^)]*\)" \(PID \d+\) exited with exit code 1/g) ?? []).length;
  console.log(`# worker at start ${w0}, now ${workerPids()}; FATALs for the poison event: ${fatals}; worker exits (whole log): ${exits}`);
  console.log(`# bystander flush: ${JSON.stringify(r)}`);
  console.log(`# queued: ${JSON.stringify(query(`SELECT route_key, count(*) FROM securitylake.queue GROUP BY 1 ORDER BY 1`))}; dead letters: ${one('SELECT count(*) FROM securitylake.dead_letter')}`);
  console.log(`# batches: ${JSON.stringify(query('SELECT id, source, cardinality(ids) AS n, failures FROM securitylake.batch ORDER BY id'))}`);
  assert.equal(r.ok, true, 'a setting the database owner controls must not stall another source');
});
