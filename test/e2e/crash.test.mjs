// Exactly once across crashes: the worker abort()s at each step of the
// claim → upload → commit protocol, and the worker and the postmaster are
// kill -9'ed mid-drain; after recovery and a final flush(), DuckDB counts every
// event exactly once across all objects. Prints `lost=0 duplicated=0 runs=N`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, copyEvents, skipNoPg, serverLog, PG_BIN } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-crashlake';
const USER = { accessKeyId: 'AKIACRASHTESTUSER001', secretAccessKey: 'crashSecretKeyForTheGate0000000000000001' };
const RUNS = Number(process.env.CRASH_RUNS ?? 3);
const EVENTS_PER_RUN = Number(process.env.CRASH_EVENTS ?? 10000);
let gate;
let duck;
let expectedUids = [];
let runsDone = 0;

const PGDATA = process.env.SECURITYLAKE_PG_DATA;
const PG_CTL = `${PG_BIN}/pg_ctl`;

function asPostgres(args) {
  return spawnSync('runuser', ['-u', 'postgres', '--', ...args], { encoding: 'utf8' });
}

// Wait until the server accepts queries again (after a crash and its recovery).
async function waitForServer() {
  for (let i = 0; i < 300; i++) {
    try { psql('SELECT 1'); return; } catch { await sleep(100); }
  }
  throw new Error('server did not come back');
}

async function waitForWorker() {
  for (let i = 0; i < 300; i++) {
    try {
      if (one(`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`) > 0) return;
    } catch { /* recovering */ }
    await sleep(100);
  }
  throw new Error('securitylake worker did not start');
}

function workerPid() {
  return one(`SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`);
}

function postmasterPid() {
  return Number(spawnSync('head', ['-1', `${PGDATA}/postmaster.pid`], { encoding: 'utf8' }).stdout.trim());
}

function setFault(fault) {
  psql(`ALTER SYSTEM SET securitylake.test_fault = ${lit(fault)}; SELECT pg_reload_conf();`);
}

function queueRun(seed) {
  const events = authEvents(EVENTS_PER_RUN, { days: 2, seed });
  expectedUids.push(...events.map((e) => e.metadata.uid));
  copyEvents(events);
}

async function finalFlushAndCount() {
  await waitForServer();
  await waitForWorker();
  psql(`SELECT count(*) FROM securitylake.flush('crash', '120 s')`);
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0, 'queue drained');
  assert.equal(one('SELECT count(*) FROM securitylake.batch'), 0, 'no pending batch');
  const objects = storedObjects(gate.dataDir, BUCKET);
  const files = `[${objects.map((o) => dlit(o.path)).join(', ')}]`;
  const rows = await duck.rows(`SELECT metadata.uid AS uid, count(*) AS n FROM read_parquet(${files}) GROUP BY 1`);
  const seen = new Map(rows.map((r) => [r.uid, Number(r.n)]));
  const expected = new Set(expectedUids);
  const lost = expectedUids.filter((u) => !seen.has(u)).length;
  const duplicated = rows.filter((r) => Number(r.n) > 1).length;
  const unknown = rows.filter((r) => !expected.has(r.uid)).length;
  if (lost || duplicated || unknown) {
    console.log(`# diagnostics: dead letters ${JSON.stringify(query('SELECT reason, count(*) FROM securitylake.dead_letter GROUP BY 1'))}, ` +
      `uploads ${JSON.stringify(query('SELECT count(*), sum(rows) FROM securitylake.uploads'))}, objects ${objects.length}`);
  }
  return { lost, duplicated, unknown, objects: objects.length };
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('crash', 's3://${BUCKET}/ext/crash/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 1000, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});

after(async () => {
  if (skipNoPg) return;
  try { setFault(''); } catch { /* server down */ }
  duck?.close();
  await gate?.stop();
});

for (const step of ['claimed', 'uploaded', 'committed-before', 'committed']) {
  test(`worker abort() at step "${step}" loses and duplicates nothing`, { skip: skipNoPg }, async () => {
    // One-shot (the token): the worker restarted after the crash does not crash again.
    // Armed before the events are queued: the worker may take them at once (its
    // batch_record_count threshold), before the flush below asks.
    setFault(`abort:${step}:run${runsDone}-${Date.now()}`);
    queueRun(100 + runsDone);
    try { psql(`SELECT count(*) FROM securitylake.flush('crash', '10 s')`); } catch { /* the crash ends our session */ }
    await waitForServer();
    assert.match(serverLog(), new RegExp(`test fault: abort at step "${step}"`), 'the fault fired');
    setFault('');
    const r = await finalFlushAndCount();
    runsDone++;
    assert.deepEqual({ lost: r.lost, duplicated: r.duplicated, unknown: r.unknown }, { lost: 0, duplicated: 0, unknown: 0 });
  });
}

for (let run = 0; run < RUNS; run++) {
  test(`kill -9 of the ${run % 2 ? 'postmaster' : 'worker'} mid-drain (run ${run + 1})`, { skip: skipNoPg }, async () => {
    queueRun(200 + run);
    await waitForWorker();
    const flush = import('node:child_process').then(({ spawn }) => spawn(`${PG_BIN}/psql`,
      ['-X', '-c', `SELECT count(*) FROM securitylake.flush('crash', '60 s')`], { stdio: 'ignore' }));
    // A random moment within the drain (it takes roughly EVENTS / 40k s here).
    const killAfterMs = 50 + Math.floor(Math.random() * Math.max(400, EVENTS_PER_RUN / 40));
    await sleep(killAfterMs);
    if (run % 2) {
      process.kill(postmasterPid(), 'SIGKILL');
      // The orphaned backends notice the postmaster's death and exit; until they
      // have, the old shared memory is in use and a new server refuses to start.
      let r;
      for (let i = 0; i < 100; i++) {
        r = asPostgres([PG_CTL, '-D', PGDATA, '-l', process.env.SECURITYLAKE_PG_LOG, '-w', 'start']);
        if (r.status === 0) break;
        await sleep(200);
      }
      assert.equal(r.status, 0, r.stderr);
    } else {
      const pid = workerPid();
      if (pid) process.kill(pid, 'SIGKILL');
    }
    (await flush).kill?.();
    const r = await finalFlushAndCount();
    runsDone++;
    console.log(`crash run ${run + 1}: kill -9 of the ${run % 2 ? 'postmaster' : 'worker'} ${killAfterMs} ms into the drain of ${EVENTS_PER_RUN} events; lost=${r.lost} duplicated=${r.duplicated}`);
    assert.deepEqual({ lost: r.lost, duplicated: r.duplicated, unknown: r.unknown }, { lost: 0, duplicated: 0, unknown: 0 });
  });
}

test('crash figures', { skip: skipNoPg }, async () => {
  const r = await finalFlushAndCount();
  console.log(`lost=${r.lost} duplicated=${r.duplicated} runs=${runsDone} events=${expectedUids.length} objects=${r.objects}`);
  assert.equal(r.lost + r.duplicated, 0);
});
