// Issue 11, finding 5: unbounded responses and an uninterruptible worker. The AWS client
// caps answer bodies, bounds every attempt and polls the worker's shutdown (src/aws has
// its own tests); here, end to end, against the real worker:
//   - an upload held by the gate (POST /__gate/stall), then SIGTERM to the worker
//     (pg_terminate_backend) or a fast shutdown of the postmaster: the worker exits
//     within 2 s;
//   - S3 down (every request 503), the client retrying with backoff: SIGTERM, exit within 2 s;
//   - a 403 whose body is 400 MiB (gate fault hugeError), from S3 and from STS: the
//     worker's RssAnon (/proc/<pid>/status, sampled every 10 ms) grows by 3 MiB at most.
// Every event is delivered exactly once in the end. The measured times and growths are printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, skipNoPg, PG_BIN } from '../lib/pg.mjs';
import { openDuck } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { SAFE, PGDATA, asPostgres, PG_CTL, waitForServer, waitForWorker, processAlive, procStatusKb, setSystem, lakeUids, exactlyOnce } from './trust-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-shutdownlake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-shutdown-us-east-1';
const EXTERNAL_ID = 'shutdown-external-id';
const USER = { accessKeyId: 'AKIASHUTDOWNTESTUSR1', secretAccessKey: 'shutdownSecretKeyForTheGate00000000001' };
const EXIT_LIMIT_MS = 2000;
// The client keeps at most 64 KiB of an error answer, and the delivery's own working set was
// reached by the warm-up flush: measured +0 to +16 kB. (With the 4 MiB cap for every answer
// it was +6 to +8 MiB: a growing buffer copied by realloc.)
const RSS_LIMIT_KB = 3 * 1024;
let gate;
let duck;
const expected = { sd_s3: [], sd_sts: [] };
const figures = [];
let seed = 900;

function queue(source, n) {
  const events = authEvents(n, { seed: seed++ });
  expected[source].push(...events.map((e) => e.metadata.uid));
  psql(`COPY securitylake.queue (source, event) FROM STDIN;\n${events.map((e) => `${source}\t${JSON.stringify(e)}`).join('\n')}\n\\.\n`, SAFE);
}

// flush() in the background: it may end with an error when the worker is stopped under it.
function flushAsync(source, timeout) {
  const child = spawn(`${PG_BIN}/psql`, ['-X', '-q', '-At', '-d', process.env.PGDATABASE, '-U', process.env.PGUSER,
    '-c', `SELECT count(*) FROM securitylake.flush(${lit(source)}, ${lit(timeout)})`], { stdio: 'ignore' });
  return new Promise((resolve) => child.on('close', resolve));
}

async function until(what, cond, timeoutMs = 60000, stepMs = 50) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return;
    await sleep(stepMs);
  }
  assert.fail(`timed out waiting for ${what}`);
}

// Milliseconds until the process is gone (polled every 5 ms), or null after 60 s.
async function exitTime(pid, t0) {
  while (Date.now() - t0 < 60000) {
    if (!processAlive(pid)) return Date.now() - t0;
    await sleep(5);
  }
  return null;
}

async function held() {
  return (await admin(gate, 'stall')).length > 0;
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('sd_s3', 's3://${BUCKET}/ext/sd_s3/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);
        SELECT securitylake.create_source('sd_sts', 's3://${BUCKET}/ext/sd_sts/', ${lit(ROLE)}, ${lit(EXTERNAL_ID)}, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true }))}::jsonb);`, SAFE);
  await setSystem('securitylake.max_backoff', '2s');
});

after(async () => {
  if (skipNoPg) return;
  try { await admin(gate, 'stall/release', {}); await admin(gate, 'faults/clear', {}); await admin(gate, 'down', { seconds: 0 }); } catch { /* reported */ }
  try { await setSystem('securitylake.max_backoff', null); } catch { /* reported */ }
  if (figures.length) console.log(`trust: shutdown: ${figures.join('; ')}`);
  duck?.close();
  await gate?.stop();
});

test('an upload held by S3: SIGTERM to the worker ends it within 2 s', { skip: skipNoPg, timeout: 180000 }, async () => {
  const pid = await waitForWorker();
  await admin(gate, 'stall', { match: { kind: 'put' }, count: 1 });
  queue('sd_s3', 50);
  const flushing = flushAsync('sd_s3', '60 s');
  await until('the upload to be held', held);
  const t0 = Date.now();
  psql(`SELECT pg_terminate_backend(${pid})`, SAFE);
  const ms = await exitTime(pid, t0);
  figures.push(`SIGTERM during a held upload: exit in ${ms ?? '> 60000'} ms`);
  await admin(gate, 'stall/release', {});
  assert.ok(ms !== null && ms < EXIT_LIMIT_MS, `the worker exited in ${ms} ms`);
  await flushing;
  await waitForWorker(pid);
  psql(`SELECT count(*) FROM securitylake.flush('sd_s3', '60 s')`, SAFE);
});

test('S3 down, the client backing off between retries: SIGTERM ends the worker within 2 s', { skip: skipNoPg, timeout: 180000 }, async () => {
  const pid = await waitForWorker();
  await admin(gate, 'requests/clear', {});
  await admin(gate, 'down', { seconds: 120 });
  queue('sd_s3', 50);
  const flushing = flushAsync('sd_s3', '60 s');
  // A few refused attempts: the client is now retrying (and sleeping between attempts).
  await until('retries', async () => (await admin(gate, 'requests')).filter((r) => r.status === 503).length >= 3);
  await sleep(150);
  const t0 = Date.now();
  psql(`SELECT pg_terminate_backend(${pid})`, SAFE);
  const ms = await exitTime(pid, t0);
  figures.push(`SIGTERM while retrying against S3 down: exit in ${ms ?? '> 60000'} ms`);
  await admin(gate, 'down', { seconds: 0 });
  assert.ok(ms !== null && ms < EXIT_LIMIT_MS, `the worker exited in ${ms} ms`);
  await flushing;
  await waitForWorker(pid);
  psql(`SELECT count(*) FROM securitylake.flush('sd_s3', '60 s')`, SAFE);
});

test('an upload held by S3: a fast shutdown of the postmaster ends the worker within 2 s', { skip: skipNoPg, timeout: 300000 }, async () => {
  const pid = await waitForWorker();
  await admin(gate, 'stall', { match: { kind: 'put' }, count: 1 });
  queue('sd_s3', 50);
  const flushing = flushAsync('sd_s3', '60 s');
  await until('the upload to be held', held);
  const t0 = Date.now();
  const stopping = new Promise((resolve) => {
    const child = spawn('runuser', ['-u', 'postgres', '--', PG_CTL, '-D', PGDATA, '-m', 'fast', '-w', '-t', '90', 'stop'], { stdio: 'ignore' });
    child.on('close', resolve);
  });
  const ms = await exitTime(pid, t0);
  await stopping;
  const stopped = Date.now() - t0;
  figures.push(`fast shutdown during a held upload: worker exit in ${ms ?? '> 60000'} ms, server stopped in ${stopped} ms`);
  await admin(gate, 'stall/release', {});
  await flushing;
  const r = asPostgres([PG_CTL, '-D', PGDATA, '-l', process.env.SECURITYLAKE_PG_LOG, '-w', 'start']);
  assert.equal(r.status, 0, r.stderr);
  await waitForServer();
  assert.ok(ms !== null && ms < EXIT_LIMIT_MS, `the worker exited in ${ms} ms`);
  await waitForWorker();
  psql(`SELECT count(*) FROM securitylake.flush('sd_s3', '60 s')`, SAFE);
});

// Sample the worker's RssAnon while a 400 MiB error answer comes: the growth over the
// level before it, in kB.
async function rssUnderHugeError(source, target) {
  const pid = await waitForWorker();
  queue(source, 20);
  psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, '60 s')`, SAFE);   // warm: client built, session cached
  await sleep(500);
  const base = procStatusKb(pid, 'RssAnon');
  await admin(gate, 'requests/clear', {});
  await admin(gate, 'faults', { count: 1, kinds: ['hugeError'], target });
  if (target === 'sts') await admin(gate, 'sessions/expire', {});
  queue(source, 20);
  let peak = base;
  let samples = 0;
  const sampler = setInterval(() => {
    const v = procStatusKb(pid, 'RssAnon');
    if (v !== null) { peak = Math.max(peak, v); samples++; }
  }, 10);
  const flushing = flushAsync(source, '60 s');
  try {
    await until('the huge answer to be refused', async () => (await admin(gate, 'requests')).some((r) => r.fault === 'hugeError'), 60000, 20);
    await until('the failure in status', () => (one(`SELECT last_error FROM securitylake.status WHERE source = ${lit(source)}`, SAFE) ?? '').length > 0, 60000, 20);
    await sleep(300);
  } finally {
    clearInterval(sampler);
  }
  await flushing;   // the retry after the backoff delivers
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = ${lit(source)}`, SAFE), 0, 'delivered after the failure');
  return { base, peak, growth: peak - base, samples };
}

test('a 403 with a 400 MiB body from S3, then from STS: the worker\'s RssAnon grows by 3 MiB at most', { skip: skipNoPg, timeout: 300000 }, async () => {
  for (const [source, target] of [['sd_s3', 's3'], ['sd_sts', 'sts']]) {
    const r = await rssUnderHugeError(source, target);
    figures.push(`400 MiB 403 body from ${target}: RssAnon ${r.base} kB -> peak ${r.peak} kB (+${r.growth} kB, ${r.samples} samples)`);
    assert.ok(r.samples > 5, 'the worker was sampled');
    assert.ok(r.growth <= RSS_LIMIT_KB, `RssAnon grew by ${r.growth} kB (limit ${RSS_LIMIT_KB} kB)`);
  }
});

test('every event of these runs is in the lake exactly once', { skip: skipNoPg }, async () => {
  for (const source of Object.keys(expected)) {
    psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, '60 s')`, SAFE);
    const seen = await lakeUids(duck, gate.dataDir, BUCKET, `ext/${source}/`);
    assert.deepEqual(exactlyOnce(seen, expected[source]), { lost: 0, duplicated: 0, unexpected: 0 }, source);
  }
});
