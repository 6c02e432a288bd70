// Delivery under S3/STS faults injected by the gate: 30% mixed faults, S3 down for a
// while, STS failing and session tokens expiring mid-run — everything is delivered
// exactly once, and delivery resumes by itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-faultlake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-faults-us-east-1';
const EXTERNAL_ID = 'faults-external-id';
const USER = { accessKeyId: 'AKIAFAULTSTESTUSER01', secretAccessKey: 'faultsSecretKeyForTheGate00000000000001' };
const DOWN_SECONDS = Number(process.env.S3_DOWN_SECONDS ?? 30);
const MIXED_EVENTS = Number(process.env.FAULT_EVENTS ?? 5000);   // events sent through the 30% mixed faults
// securitylake.max_backoff for this suite: short in CI, longer in the long run (test/long).
const MAX_BACKOFF_SECONDS = Number(process.env.FAULTS_MAX_BACKOFF_SECONDS ?? 4);
let gate;
let duck;
const expected = [];

async function admin(path, body) {
  const res = await fetch(`${gate.url}/__gate/${path}`, { method: body === undefined ? 'GET' : 'POST', body: body === undefined ? undefined : JSON.stringify(body), headers: { 'content-type': 'application/json' } });
  assert.equal(res.status, 200, `gate admin ${path}: ${res.status}`);
  return res.json();
}

function queue(n, seed) {
  const events = authEvents(n, { days: 2, seed });
  expected.push(...events.map((e) => e.metadata.uid));
  copyEvents(events);
}

async function lakeCounts() {
  const objects = storedObjects(gate.dataDir, BUCKET);
  const rows = await duck.rows(`SELECT metadata.uid AS uid, count(*) AS n FROM read_parquet([${objects.map((o) => dlit(o.path)).join(',')}]) GROUP BY 1`);
  const seen = new Map(rows.map((r) => [r.uid, Number(r.n)]));
  return {
    lost: expected.filter((u) => !seen.has(u)).length,
    duplicated: [...seen.values()].filter((n) => n > 1).length,
  };
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        ALTER SYSTEM SET securitylake.max_backoff = '${MAX_BACKOFF_SECONDS}s'; SELECT pg_reload_conf();
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('faults', 's3://${BUCKET}/ext/faults/', ${lit(ROLE)}, ${lit(EXTERNAL_ID)}, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 500, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});

after(async () => {
  if (skipNoPg) return;
  try { psql(`ALTER SYSTEM RESET securitylake.max_backoff; SELECT pg_reload_conf();`); } catch { /* reported */ }
  duck?.close();
  await gate?.stop();
});

test('30% mixed faults (500, 503 SlowDown, RequestTimeout, reset, delay): all delivered exactly once', { skip: skipNoPg, timeout: 240000 }, async () => {
  queue(MIXED_EVENTS, 31);
  await admin('faults', { fraction: 0.3, kinds: ['500', '503', 'RequestTimeout', 'reset', 'delay'], delayMs: 1500, target: 'any', seed: 7 });
  const started = Date.now();
  psql(`SELECT count(*) FROM securitylake.flush('faults', '180 s')`);
  const took = (Date.now() - started) / 1000;
  await admin('faults/clear', {});
  const stats = await admin('stats');
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0);
  const counts = await lakeCounts();
  assert.deepEqual(counts, { lost: 0, duplicated: 0 });
  assert.ok(JSON.stringify(stats).match(/InternalError|SlowDown|RequestTimeout/), 'faults were injected');
  console.log(`faults: 30% mixed: ${MIXED_EVENTS} events delivered in ${took.toFixed(1)} s (gate responses by status: ${JSON.stringify(stats)}); lost=${counts.lost} duplicated=${counts.duplicated}`);
});

test(`S3 down for ${DOWN_SECONDS} s: nothing lost, delivery resumes by itself within the backoff cap`, { skip: skipNoPg, timeout: (DOWN_SECONDS + 240) * 1000 }, async () => {
  queue(3000, 32);
  await admin('down', { seconds: DOWN_SECONDS });
  const upAgainAt = Date.now() + DOWN_SECONDS * 1000;
  assert.throws(() => psql(`SELECT count(*) FROM securitylake.flush('faults', '5 s')`), /timed out/);
  const during = one(`SELECT last_error FROM securitylake.status WHERE source = 'faults'`);
  assert.ok(during, 'status shows the error while S3 is down');
  // Producers keep inserting during the outage; nothing of it may be lost either.
  let queuedDuring = 3000;
  while (Date.now() < upAgainAt - 2000) {
    queue(500, 1000 + queuedDuring);
    queuedDuring += 500;
    await sleep(Math.min(10000, Math.max(0, upAgainAt - 2000 - Date.now())));
  }
  // No flush from here on: the worker's own backoff must bring delivery back.
  const deadline = upAgainAt + (MAX_BACKOFF_SECONDS + 60) * 1000;
  while (Date.now() < deadline && one('SELECT count(*) FROM securitylake.queue') > 0) await sleep(250);
  const resumedAfter = (Date.now() - upAgainAt) / 1000;
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0, 'delivered after the outage without a flush');
  const counts = await lakeCounts();
  assert.deepEqual(counts, { lost: 0, duplicated: 0 });
  assert.equal(one(`SELECT last_error FROM securitylake.status WHERE source = 'faults'`), null);
  console.log(`faults: S3 down ${DOWN_SECONDS} s with ${queuedDuring} events queued: drained ${resumedAfter.toFixed(1)} s after it came back ` +
    `(max_backoff ${MAX_BACKOFF_SECONDS} s); lost=${counts.lost} duplicated=${counts.duplicated}`);
  assert.ok(resumedAfter <= MAX_BACKOFF_SECONDS + 30, `resumed within the backoff cap (+ drain time): ${resumedAfter} s`);
});

test('STS failing, then session tokens expiring mid-run: refreshed and delivered', { skip: skipNoPg, timeout: 240000 }, async () => {
  await admin('config', { sessionDurationOverrideSeconds: 3 });
  await admin('faults', { count: 3, kinds: ['503'], target: 'sts' });
  queue(2000, 33);
  psql(`SELECT count(*) FROM securitylake.flush('faults', '120 s')`);
  await sleep(4000);       // the session the worker holds has expired now
  await admin('sessions/expire', {});
  queue(2000, 34);
  psql(`SELECT count(*) FROM securitylake.flush('faults', '120 s')`);
  await admin('config', { sessionDurationOverrideSeconds: 0 });
  const log = await admin('requests');
  // What to look at when this fails on a loaded machine: the queue, the source's state and
  // the gate's answers, in the assertion's message.
  const why = () => JSON.stringify({
    queued: one('SELECT count(*) FROM securitylake.queue'),
    batches: one('SELECT count(*) FROM securitylake.batch'),
    state: query(`SELECT failures, last_error FROM securitylake.source_state`),
    answers: log.filter((r) => r.status !== 200).map((r) => `${r.service} ${r.action ?? r.method} ${r.status} ${r.code ?? ''}`).slice(-20),
  });
  assert.deepEqual(await lakeCounts(), { lost: 0, duplicated: 0 }, why());
  assert.ok(log.filter((r) => r.action === 'AssumeRole' && r.status === 200).length >= 2, 'credentials were refreshed');
  assert.ok(log.some((r) => r.service === 's3' && r.hasSecurityToken), 'uploads used the session token');
  const assumed = log.filter((r) => r.action === 'AssumeRole');
  console.log(`faults: STS: ${assumed.length} AssumeRole calls (${assumed.filter((r) => r.status !== 200).length} failed by injection), ` +
    `sessions expired mid-run and refreshed; 4000 events lost=0 duplicated=0`);
});
