// Regression test from the attack review of the 0.2.0 glue (it reproduced the bug described below, now fixed).
// F: memory the worker allocates outside any context of its own. CommitTransactionCommand
// leaves CurrentMemoryContext = TopMemoryContext, and the glue allocates after steps
// without switching back: read_page()'s parameters for every page after the first
// (CStringGetTextDatum + sl_int8_array: ~16 bytes per event), every rejected event's
// reason (sl_encoder_add's pstrdup), and -- pending_step runs in TopMemoryContext --
// every pending batch taken (SlBatch, strings) with its ids and sizes (12 bytes per event)
// on every retry. TopMemoryContext is never reset: the worker grows with every event it
// delivers, forever.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { query, copyEvents, skipNoPg, serverLog } from '../../lib/pg.mjs';
import { startGate, admin } from '../../lib/gate.mjs';
import { AUTH_SCHEMA, BASE_TIME } from '../fixtures.mjs';
import { USER, setupExtension, flushOutcome, workerPids, sleep, one, lit, psql } from './attack-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-leaklake';
const N = Number(process.env.LEAK_EVENTS ?? 30000);
let gate;
let seq = 0;

function events(n, bad = false) {
  const out = [];
  for (let i = 0; i < n; i++, seq++) {
    out.push({ class_uid: 3002, time: BASE_TIME + (seq % 80000000), severity_id: bad ? 'x' : 1, metadata: { uid: `leak-${seq}` } });
  }
  return out;
}

async function topContext(pid) {
  const mark = serverLog().length;
  psql(`SELECT pg_log_backend_memory_contexts(${pid})`);
  for (let i = 0; i < 50; i++) {
    await sleep(200);
    const log = serverLog().slice(mark);
    const top = new RegExp(`\\[${pid}\\] LOG:  level: 0; TopMemoryContext: (\\d+) total`).exec(log);
    const grand = new RegExp(`\\[${pid}\\] LOG:  Grand total: (\\d+) bytes`).exec(log);
    if (top && grand) return { top: Number(top[1]), grand: Number(grand[1]) };
  }
  throw new Error('no memory context dump');
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  setupExtension(gate, `SELECT securitylake.create_source('leaky', 's3://${BUCKET}/ext/leaky/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);
    ALTER SYSTEM SET securitylake.max_backoff = '2s'; SELECT pg_reload_conf();`);
});
after(async () => {
  if (skipNoPg) return;
  psql(`ALTER SYSTEM RESET securitylake.max_backoff; SELECT pg_reload_conf();`);
  await gate?.stop();
});

test('the worker\'s TopMemoryContext does not grow with events delivered, rejected or retried', { skip: skipNoPg, timeout: 600000 }, async () => {
  copyEvents(events(100));
  assert.equal(flushOutcome('leaky', '60 s').ok, true);
  const pid = workerPids()[0];
  const samples = [];
  samples.push({ after: 'warm-up (100 events)', ...(await topContext(pid)) });
  for (let round = 1; round <= 2; round++) {
    copyEvents(events(N));
    const r = flushOutcome('leaky', '300 s');
    assert.equal(r.ok, true);
    samples.push({ after: `round ${round}: ${N} events delivered`, ...(await topContext(pid)) });
  }
  copyEvents(events(N / 5, true));
  assert.equal(flushOutcome('leaky', '300 s').ok, true);
  samples.push({ after: `${N / 5} events rejected (dead-lettered)`, ...(await topContext(pid)) });
  // S3 unavailable for 25 s: the pending batch is retried (taken again) several times.
  copyEvents(events(N));
  await admin(gate, 'requests/clear', {});
  await admin(gate, 'down', { seconds: 25 });
  const r = flushOutcome('leaky', '300 s');
  assert.equal(r.ok, true);
  const puts = (await admin(gate, 'requests')).filter((x) => x.method === 'PUT').length;
  samples.push({ after: `${N} events, S3 down 25 s (${puts} PUT attempts)`, ...(await topContext(pid)) });
  assert.deepEqual(workerPids(), [pid], 'same worker process throughout');
  for (const s of samples) console.log(`# ${s.after}: TopMemoryContext ${s.top} bytes, grand total ${s.grand} bytes`);
  const growth = samples[samples.length - 1].top - samples[0].top;
  console.log(`# TopMemoryContext grew by ${growth} bytes (${(growth / (2 * N + N / 5 + N)).toFixed(1)} bytes per event handled)`);
  // Some fixed growth is fine (caches, a client per source); per event it was ~16 bytes.
  assert.ok(growth / (2 * N + N / 5 + N) < 2, 'memory must not grow with the events delivered');
});
