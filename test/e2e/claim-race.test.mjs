// Two workers: a claim must not take rows another worker delivered while it was starting
// (issue 16; found when parallel.test.mjs duplicated one batch of 5000 under load).
//
// A claim's step begins a transaction with a snapshot, then takes the source's row lock
// (source_state, FOR UPDATE SKIP LOCKED) and checks that the source has no batch pending.
// If the other worker commits its batch in between — its rows deleted, its batch row gone —
// the check (a fresh statement) sees no batch; a queue cursor reading with the step's
// older snapshot would still see those rows queued and claim them a second time. The
// cursor therefore takes a snapshot of its own (src/claim.c). Made deterministic here:
// worker A's PutObject is held at the gate, worker B's claim is held right after its step
// began (test fault sleep:claim-begun), A's upload is released and commits, then B goes on.
// Every event must be in the lake exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
const claimsBegun = () => one(`SELECT count(*) FROM pg_stat_activity
  WHERE backend_type = 'securitylake worker' AND query = 'securitylake: claiming a batch' AND state = 'active'`);
function setFault(fault) {
  psql(`ALTER SYSTEM SET securitylake.test_fault = ${lit(fault)}; SELECT pg_reload_conf();`);
}

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
  try { psql(`ALTER SYSTEM RESET securitylake.test_fault; SELECT pg_reload_conf();`); } catch { /* server gone */ }
  try { restartWith(1); await until('one worker', () => workers() >= 1); } catch (e) { console.log(`# restart: ${e.message}`); }
  duck?.close();
  await gate?.stop();
});

test('a claim begun before another worker committed does not take the rows that worker delivered', {
  skip: skipNoPg, timeout: 180000,
}, async () => {
  const events = authEvents(300, { days: 1, seed: 91 });
  copyEvents(events, { source: 'race' });
  // Worker A claims all 300 and uploads; its PutObject is held.
  await stall(gate, { method: 'PUT', pathPrefix: `/${BUCKET}/ext/race/`, kind: 'put' }, 1);
  requestDrain('race');
  await waitStalled(gate, 1);
  assert.equal(one(`SELECT count(*) FROM securitylake.batch`), 1, 'A holds one batch');

  // Worker B's claim begins its step (its snapshot still shows A's rows queued) and waits there.
  setFault('sleep:claim-begun:6000');
  try {
    requestDrain('race');
    await until('a worker\'s claim has begun and sleeps', () => claimsBegun() >= 1, 30000);
    // A's upload is answered: A commits, its rows and its batch are gone, while B sleeps.
    await releaseStall(gate);
    await until('A committed', () => one(`SELECT count(*) FROM securitylake.queue`) === 0 && one(`SELECT count(*) FROM securitylake.batch`) === 0, 5000);
    assert.ok(claimsBegun() >= 1, 'B is still inside its claim when A has committed');
  } finally {
    setFault('');
  }
  await sleep(6500);   // B's claim goes on after A's commit
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
