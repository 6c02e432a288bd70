// Two workers: a claim must not take rows another worker delivered while it waited
// (issue 16; found when parallel.test.mjs duplicated one batch of 5000 under load).
//
// A claim starts its transaction (and, today, the snapshot its queue cursor reads with),
// then waits for the source's claim lock. If meanwhile the other worker commits a batch —
// its rows deleted, its batch row gone — the claim's fresh look at the pending batches no
// longer skips those rows, but its older cursor snapshot still sees them queued: they are
// claimed and uploaded a second time. Made deterministic here: worker A's PutObject is held
// at the gate, the test holds the source's claim lock so worker B's claim waits, A's
// upload is released and commits, then the lock is released. Every event must be in the
// lake exactly once.
//
// Todo until the claim reads with a snapshot taken after its lock (the glue rewrite):
// it fails on the current tree. Depends on the claim lock being the advisory lock
// (8466, hashtext(source)) — after the rewrite, hold whatever the claim waits on instead.
// Needs the gate's stall API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, copyEvents, skipNoPg, PG_BIN } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate, stall, waitStalled, releaseStall } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-racelake';
const USER = { accessKeyId: 'AKIARACETESTUSER0001', secretAccessKey: 'raceSecretKeyForTheGate00000000000000001' };
const PGDATA = process.env.SECURITYLAKE_PG_DATA;
let gate;
let duck;

function restartWith(workers) {
  psql(workers === 1 ? 'ALTER SYSTEM RESET securitylake.workers' : `ALTER SYSTEM SET securitylake.workers = ${workers}`);
  const r = spawnSync('runuser', ['-u', 'postgres', '--', `${PG_BIN}/pg_ctl`, '-D', PGDATA,
    '-l', process.env.SECURITYLAKE_PG_LOG, '-w', '-m', 'fast', 'restart'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
}

async function until(what, check, ms = 60000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await sleep(100);
  }
}

const workers = () => one(`SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`);
const workersWaitingForAdvisoryLock = () => one(`SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
  WHERE l.locktype = 'advisory' AND NOT l.granted AND a.backend_type = 'securitylake worker'`);

// Ask the workers for a drain and give up waiting at once: the workers carry on.
function requestDrain(name) {
  try { psql(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '1 s')`); } catch { /* timed out, as meant */ }
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  restartWith(2);
  await until('two workers', () => workers() >= 2);
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('race', 's3://${BUCKET}/ext/race/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});

after(async () => {
  if (skipNoPg) return;
  try { await releaseStall(gate); } catch { /* gate gone */ }
  try { restartWith(1); await until('one worker', () => workers() >= 1); } catch (e) { console.log(`# restart: ${e.message}`); }
  duck?.close();
  await gate?.stop();
});

test('a claim waiting for the claim lock does not take the rows another worker delivered meanwhile', {
  skip: skipNoPg, timeout: 180000, todo: 'the claim cursor reads with the snapshot taken before the claim lock (src/batch.c sl_claim)',
}, async () => {
  const events = authEvents(300, { days: 1, seed: 91 });
  copyEvents(events, { source: 'race' });
  // Worker A claims all 300 and uploads; its PutObject is held.
  await stall(gate, { method: 'PUT', pathPrefix: `/${BUCKET}/ext/race/`, kind: 'put' }, 1);
  requestDrain('race');
  await waitStalled(gate, 1);
  assert.equal(one(`SELECT count(*) FROM securitylake.batch`), 1, 'A holds one batch');

  // The test holds the source's claim lock; worker B's next claim starts and waits for it.
  const holder = spawn(`${PG_BIN}/psql`, ['-X', '-q', '-v', 'ON_ERROR_STOP=1'], { stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    holder.stdin.write(`SELECT pg_advisory_lock(8466, hashtext('race'));\n`);
    await until('the test holds the claim lock', () => one(`SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 8466 AND granted`) === 1, 30000);
    requestDrain('race');
    await until('a worker\'s claim waits for the claim lock', () => workersWaitingForAdvisoryLock() >= 1, 30000);

    // A's upload is answered: A commits, its rows and its batch are gone.
    await releaseStall(gate);
    await until('A committed', () => one(`SELECT count(*) FROM securitylake.queue`) === 0 && one(`SELECT count(*) FROM securitylake.batch`) === 0, 60000);
  } finally {
    holder.stdin.end('SELECT pg_advisory_unlock_all();\n\\q\n');
  }
  psql(`SELECT count(*) FROM securitylake.flush('race', '30 s')`);
  await until('nothing pending', () => one(`SELECT count(*) FROM securitylake.batch`) === 0, 30000);

  const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith('ext/race/'));
  const rows = await duck.rows(`SELECT metadata.uid AS uid, count(*) AS n FROM read_parquet([${objects.map((o) => dlit(o.path)).join(', ')}]) GROUP BY 1`);
  const seen = new Map(rows.map((r) => [r.uid, Number(r.n)]));
  assert.deepEqual({
    lost: events.filter((e) => !seen.has(e.metadata.uid)).length,
    duplicated: rows.filter((r) => Number(r.n) > 1).length,
    objects: objects.length,
  }, { lost: 0, duplicated: 0, objects: 1 });
});
