// Parallel drain: with securitylake.workers = 2 the workers claim disjoint batches —
// nothing duplicated, nothing lost — and the drain rate is compared with one worker
// on the same events (printed; this 2-core machine also runs PostgreSQL and the gate).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, copyEvents, skipNoPg, PG_BIN } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-parallellake';
const USER = { accessKeyId: 'AKIAPARALLELTEST0001', secretAccessKey: 'parallelSecretKeyForTheGate000000000001' };
const EVENTS = Number(process.env.PARALLEL_EVENTS ?? 60000);
const PGDATA = process.env.SECURITYLAKE_PG_DATA;
let gate;
let duck;

function restartWith(workers) {
  psql(`ALTER SYSTEM SET securitylake.workers = ${workers}`);
  const r = spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', PGDATA,
    '-l', process.env.SECURITYLAKE_PG_LOG, '-w', '-m', 'fast', 'restart'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

async function waitForWorkers(n) {
  for (let i = 0; i < 200; i++) {
    if (one(`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`) >= n) return;
    await sleep(100);
  }
  throw new Error(`${n} workers did not start`);
}

async function drain(source, seed) {
  const events = authEvents(EVENTS, { days: 4, seed });
  copyEvents(events, { source });
  const t0 = process.hrtime.bigint();
  psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, '300 s')`);
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return { events, seconds };
}

async function countInLake(prefix) {
  const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(prefix));
  const rows = await duck.rows(`SELECT metadata.uid AS uid, count(*) AS n FROM read_parquet([${objects.map((o) => dlit(o.path)).join(',')}]) GROUP BY 1`);
  return new Map(rows.map((r) => [r.uid, Number(r.n)]));
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
  for (const name of ['one', 'two']) {
    psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 5000, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb)`);
  }
  // Both sources take class 3002; only 'one' routes by class, rows name their source.
});

after(async () => {
  if (skipNoPg) return;
  try { restartWith(1); await waitForWorkers(1); } catch { /* reported by the test */ }
  duck?.close();
  await gate?.stop();
});

test('two workers drain disjoint batches: nothing lost, nothing duplicated', { skip: skipNoPg, timeout: 600000 }, async () => {
  await waitForWorkers(1);
  const single = await drain('one', 11);
  restartWith(2);
  await waitForWorkers(2);
  const double = await drain('two', 12);
  for (const [prefix, run] of [['ext/one/', single], ['ext/two/', double]]) {
    const seen = await countInLake(prefix);
    const lost = run.events.filter((e) => !seen.has(e.metadata.uid)).length;
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    assert.deepEqual({ prefix, lost, duplicated }, { prefix, lost: 0, duplicated: 0 });
  }
  const rate1 = EVENTS / single.seconds;
  const rate2 = EVENTS / double.seconds;
  console.log(`parallel drain: 1 worker ${rate1.toFixed(0)} events/s, 2 workers ${rate2.toFixed(0)} events/s, gain ${(rate2 / rate1).toFixed(2)}x (${EVENTS} events, batches of 5000, 2 cores shared with PostgreSQL and the gate)`);
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0);
});
