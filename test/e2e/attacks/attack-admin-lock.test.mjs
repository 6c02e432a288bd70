// Regression test from the attack review of the 0.2.0 glue (it reproduced the bug described below, now fixed).
// A, without a test hook: securitylake_admin calls drop_source(force) in a transaction
// while a batch is being uploaded, and does not commit within lock_timeout (30 s, pinned),
// then rolls back. The worker's commit (DELETE FROM securitylake.batch) times out -> ERROR
// -> the batch stays held by the living worker -> the source is stuck until the worker
// restarts (nothing in the code ever releases the lease).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { query, copyEvents, skipNoPg, PG_BIN } from '../../lib/pg.mjs';
import { startGate, admin } from '../../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from '../fixtures.mjs';
import { USER, setupExtension, flushOutcome, waitStalled, restartWorker, workerPids, sleep, one, lit, psql } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-locklake';
let gate;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  setupExtension(gate, `SELECT securitylake.create_source('locked', 's3://${BUCKET}/ext/locked/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 20, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});
after(async () => { if (skipNoPg) return; await gate?.stop(); });

test('an admin transaction held open across the worker\'s lock_timeout does not strand the batch', { skip: skipNoPg, timeout: 240000 }, async () => {
  await admin(gate, 'stall', { match: { kind: 'put' }, count: 1 });
  copyEvents(authEvents(20, { seed: 51 }));
  await waitStalled(gate);
  // The admin's session: drop, think for 40 s, change their mind.
  const adminSession = spawn(`${PG_BIN}/psql`, ['-X', '-v', 'ON_ERROR_STOP=1', '-c',
    `BEGIN; SET ROLE securitylake_admin; SELECT securitylake.drop_source('locked', force => true); SELECT pg_sleep(40); ROLLBACK;`], { stdio: 'ignore' });
  const done = new Promise((r) => adminSession.on('exit', r));
  await sleep(1000);
  await admin(gate, 'stall/release', {});
  await done;
  console.log(`# admin rolled back; batch: ${JSON.stringify(query(`SELECT id, held_by, securitylake._worker_alive(held_by, held_since) AS holder_alive FROM securitylake.batch`))}; worker ${workerPids()}`);
  const r = flushOutcome('locked', '45 s');
  console.log(`# flush 45 s later: ${JSON.stringify(r)}; queued ${one('SELECT count(*) FROM securitylake.queue')}; status ${JSON.stringify(query(`SELECT pending_batches, last_error FROM securitylake.status`))}`);
  assert.equal(r.ok, true, 'the source must deliver again once the admin rolled back');
});
