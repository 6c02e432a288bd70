// Regression test from the attack review of the 0.2.0 glue (it reproduced the bug described below, now fixed).
// A: an ERROR in the commit step (here the built-in test hook error:committed-before;
// in production a lock_timeout, an out-of-memory, ...) leaves the claimed batch held by
// the still-living worker. No code path ever releases it: sl_take_pending skips batches
// whose holder is alive, and source_busy() refuses new claims while any batch exists.
// The source is stuck until the worker process is restarted.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { query, copyEvents, skipNoPg, serverLog } from '../../lib/pg.mjs';
import { startGate } from '../../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from '../fixtures.mjs';
import { USER, setFault, setupExtension, flushOutcome, restartWorker, workerPids, sleep, one, lit } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-attacklake';
let gate;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  setupExtension(gate, `SELECT securitylake.create_source('stuck', 's3://${BUCKET}/ext/stuck/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});
after(async () => { if (skipNoPg) return; setFault(''); await gate?.stop(); });

test('one ERROR at commit gives the batch back: the next flush delivers it without a restart', { skip: skipNoPg, timeout: 200000 }, async () => {
  setFault(`error:committed-before:lease${Date.now()}`);   // fires ONCE
  copyEvents(authEvents(50, { seed: 5 }));
  const first = flushOutcome('stuck', '10 s');
  assert.match(serverLog(), /securitylake test fault at step "committed-before"/, 'the one-shot fault fired');
  setFault('');
  // The fault is gone. Give the worker plenty of cycles (naptime 1 s; max_backoff 300 s
  // does not matter: flush() overrides the backoff).
  await sleep(5000);
  const second = flushOutcome('stuck', '40 s');
  const pids = workerPids();
  const batches = query(`SELECT id, held_by, held_since, attempts, failures,
                                securitylake._worker_alive(held_by, held_since) AS holder_alive
                           FROM securitylake.batch`);
  const queued = one(`SELECT count(*) FROM securitylake.queue`);
  const status = query(`SELECT source, pending_batches, last_error, failures FROM securitylake.status`);
  console.log(`# first flush: ${JSON.stringify(first)}`);
  console.log(`# second flush (fault cleared, 45 s later): ${JSON.stringify(second)}`);
  console.log(`# worker pids: ${pids}; batch rows: ${JSON.stringify(batches)}; queued=${queued}`);
  console.log(`# status: ${JSON.stringify(status)}`);
  // Only a restart of the worker frees it.
  await restartWorker();
  const third = flushOutcome('stuck', '60 s');
  console.log(`# after pg_terminate_backend(worker): ${JSON.stringify(third)}; queued=${one('SELECT count(*) FROM securitylake.queue')}`);
  assert.equal(second.ok, true, 'after a single transient commit ERROR the source should deliver again');
});
