// Poison-proof delivery (issue 12.2): one event that makes its whole batch fail is
// isolated by bisection and dead-lettered with the error, every other event reaches
// the lake exactly once (DuckDB read-back), in about 2·log2(N) attempts, while another
// source keeps delivering; the failure is charged to its source and the log names it.
// And a pending batch whose upload keeps failing is charged to its own source, with its
// backoff, while other sources' pending batches are delivered.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { psqlAsync, logMark, logSince, setSettings, resetSettings, waitFor } from '../lib/worker.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-isolationlake';
const USER = { accessKeyId: 'AKIAISOLATIONUSER001', secretAccessKey: 'isolationSecretKeyForTheGate000000000001' };
const N = Number(process.env.ISOLATION_EVENTS ?? 1000);
const SETTINGS = ['securitylake.test_fault', 'securitylake.naptime', 'securitylake.max_backoff'];
let gate;
let gate2;
let duck;

function createSource(name, g, { publishRate = '1 hour', batchRecordCount = 'NULL' } = {}) {
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/1.0/', NULL, NULL, 3002, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => ${batchRecordCount}, publish_rate => ${lit(publishRate)},
        options => ${lit(JSON.stringify({ endpoint: g.url, force_path_style: true }))}::jsonb);`);
}

// uid → how many times it is in the objects of a source.
async function lakeUids(g, source) {
  const objects = storedObjects(g.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${source}/`));
  if (objects.length === 0) return new Map();
  const rows = await duck.rows(`SELECT metadata.uid AS uid, count(*) AS n FROM read_parquet([${objects.map((o) => dlit(o.path)).join(',')}]) GROUP BY 1`);
  return new Map(rows.map((r) => [r.uid, Number(r.n)]));
}

function exactlyOnce(seen, uids) {
  return {
    lost: uids.filter((u) => !seen.has(u)).length,
    duplicated: [...seen.values()].filter((n) => n > 1).length,
    extra: [...seen.keys()].filter((u) => !uids.includes(u)).length,
  };
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  gate2 = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  if (skipNoPg) return;
  try { resetSettings(SETTINGS); } catch { /* reported by the tests */ }
  duck?.close();
  await gate?.stop();
  await gate2?.stop();
});

test(`a batch of ${N} that fails for one event: that event dead-lettered, the rest once, ~2·log2(N) attempts, another source delivering meanwhile`,
  { skip: skipNoPg, timeout: 300000 }, async () => {
    createSource('poisoned', gate);
    createSource('steady', gate, { publishRate: '1 second', batchRecordCount: 20 });
    const events = authEvents(N, { days: 1, seed: 7 });
    const poison = events[Math.floor(N * 0.37)].metadata.uid;
    const mark = logMark();
    setSettings({ 'securitylake.test_fault': `error:event:${poison}`, 'securitylake.naptime': '200ms' });
    await sleep(500);
    copyEvents(events, { source: 'poisoned' });

    // The other source's producer keeps inserting while the poisoned batch is bisected.
    const steadyUids = [];
    let seed = 100;
    let producing = true;
    const producer = (async () => {
      while (producing) {
        const evs = authEvents(20, { seed: seed++ });
        steadyUids.push(...evs.map((e) => e.metadata.uid));
        copyEvents(evs, { source: 'steady' });
        await sleep(250);
      }
    })();
    // Status while it runs: the failures are the poisoned source's, never the steady one's.
    let chargedToPoisoned = 0;
    let chargedToSteady = 0;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const s of query(`SELECT source, failures, last_error FROM securitylake.status`)) {
          if (s.source === 'poisoned' && s.failures > 0 && /test fault while encoding event/.test(s.last_error ?? '')) chargedToPoisoned++;
          if (s.source === 'steady' && (s.failures > 0 || s.last_error)) chargedToSteady++;
        }
        await sleep(100);
      }
    })();

    const t0 = Date.now();
    const flushed = await psqlAsync(`SELECT count(*) FROM securitylake.flush('poisoned', '240 s')`);
    const seconds = (Date.now() - t0) / 1000;
    producing = false;
    watching = false;
    await producer;
    await watcher;
    assert.equal(flushed.code, 0, flushed.stderr);
    setSettings({ 'securitylake.test_fault': '' });
    psql(`SELECT count(*) FROM securitylake.flush('steady', '120 s')`);

    // The poison event alone is dead-lettered, with the error as its reason.
    const dead = query(`SELECT source, event->'metadata'->>'uid' AS uid, reason FROM securitylake.dead_letter`);
    assert.equal(dead.length, 1, JSON.stringify(dead));
    assert.equal(dead[0].source, 'poisoned');
    assert.equal(dead[0].uid, poison);
    assert.match(dead[0].reason, new RegExp(`^could not be delivered: securitylake test fault while encoding event ${poison}$`));

    // Every other event is in the lake exactly once; nothing queued, nothing pending.
    const good = events.map((e) => e.metadata.uid).filter((u) => u !== poison);
    assert.deepEqual(exactlyOnce(await lakeUids(gate, 'poisoned'), good), { lost: 0, duplicated: 0, extra: 0 });
    assert.deepEqual(exactlyOnce(await lakeUids(gate, 'steady'), steadyUids), { lost: 0, duplicated: 0, extra: 0 });
    assert.equal(one(`SELECT count(*) FROM securitylake.queue`), 0);
    assert.equal(one(`SELECT count(*) FROM securitylake.batch`), 0);

    // About 2·log2(N) attempts: each split delivers one half and splits the other; the
    // last event fails twice before it is dead-lettered.
    const log = logSince(mark);
    const failed = (log.match(/securitylake: delivery for source "poisoned" failed: batch \d+ \(\d+ events\) failed: securitylake test fault while encoding event/g) ?? []).length;
    const objects = one(`SELECT count(*) FROM securitylake.uploads WHERE source = 'poisoned'`);
    const bound = 2 * Math.ceil(Math.log2(N)) + 2;
    console.log(`isolation: ${N} events, 1 failing its batch: dead-lettered after ${failed} failed attempts and ${objects} objects ` +
      `(${failed + objects} attempts; 2*log2(N) = ${(2 * Math.log2(N)).toFixed(1)}) in ${seconds.toFixed(1)} s; ` +
      `${steadyUids.length} events of another source delivered meanwhile`);
    assert.ok(failed >= Math.ceil(Math.log2(N)) && failed + objects <= bound, `${failed} failed + ${objects} delivered attempts, bound ${bound}`);

    // The other source delivered while the batch was being bisected, not after.
    const window = one(`SELECT json_build_object('from', min(u.finished_at), 'to', (SELECT max(failed_at) FROM securitylake.dead_letter))
                          FROM securitylake.uploads u WHERE u.source = 'poisoned'`);
    const during = one(`SELECT count(*) FROM securitylake.uploads WHERE source = 'steady'
                          AND finished_at BETWEEN ${lit(window.from)} AND ${lit(window.to)}`);
    const windowMs = one(`SELECT (extract(epoch FROM ${lit(window.to)}::timestamptz - ${lit(window.from)}::timestamptz) * 1000)::int`);
    // The steady source (publish_rate 1 s) never waited long for an upload while the other
    // was bisected: the largest gap between its uploads, the bisection's window included.
    const gapMs = one(`SELECT coalesce(max(gap), 0) FROM (
                         SELECT (extract(epoch FROM finished_at - lag(finished_at) OVER (ORDER BY finished_at)) * 1000)::int AS gap
                           FROM securitylake.uploads WHERE source = 'steady'
                            AND finished_at <= ${lit(window.to)}::timestamptz + interval '2 s') g`);
    console.log(`isolation: bisection window ${windowMs} ms, ${during} steady uploads in it, largest gap between steady uploads ${gapMs} ms`);
    assert.ok(windowMs < 1500 || during >= 1, `the steady source uploaded ${during} objects during the bisection (${window.from} .. ${window.to})`);
    assert.ok(gapMs < 5000, `the steady source waited ${gapMs} ms between uploads`);

    // Charged to the poisoned source (status showed it), never to the other, and the log
    // names the source in every line about it.
    assert.ok(chargedToPoisoned > 0, 'status showed the failure on the poisoned source');
    assert.equal(chargedToSteady, 0, 'the steady source was never charged');
    assert.doesNotMatch(log, /\(none\)/);
    const faultLines = log.split('\n').filter((l) => l.includes('test fault while encoding'));
    assert.ok(faultLines.length > 0);
    assert.deepEqual(faultLines.filter((l) => !l.includes('source "poisoned"')), [], 'every line about the failure names its source');
    const st = one(`SELECT json_build_object('queued', queued_rows, 'pending', pending_batches, 'dead_letters', dead_letters)
                      FROM securitylake.status WHERE source = 'poisoned'`);
    assert.deepEqual(st, { queued: 0, pending: 0, dead_letters: 1 });
  });

test('a pending batch whose upload keeps failing is charged to its source with backoff; other pending batches are delivered',
  { skip: skipNoPg, timeout: 300000 }, async () => {
    psql(`DELETE FROM securitylake.dead_letter`);
    setSettings({ 'securitylake.naptime': '200ms', 'securitylake.max_backoff': '8s', 'securitylake.test_fault': '' });
    createSource('failing', gate2);
    createSource('recovering', gate);
    const mark = logMark();

    // 1. 'failing' gets a pending batch first (lower batch id): its S3 is down for good.
    await admin(gate2, 'down', { seconds: 600 });
    const failingEvents = authEvents(300, { seed: 201 });
    copyEvents(failingEvents, { source: 'failing' });
    assert.throws(() => psql(`SELECT count(*) FROM securitylake.flush('failing', '2 s')`), /timed out/);
    await waitFor(() => one(`SELECT count(*) FROM securitylake.batch WHERE source = 'failing' AND attempts > 0`) > 0,
      { what: 'a failed upload of the failing source' });

    // 2. 'recovering' gets one failed upload (every retry of its first PUT answers 500),
    // then its pending batch must be delivered while 'failing' keeps failing — also in a
    // cycle that takes both pending batches, 'failing''s first (its id is lower).
    await admin(gate, 'faults', { count: 100000, kinds: ['500'], target: 's3' });
    const recoveringEvents = authEvents(300, { seed: 202 });
    copyEvents(recoveringEvents, { source: 'recovering' });
    assert.throws(() => psql(`SELECT count(*) FROM securitylake.flush('recovering', '2 s')`), /timed out/);
    await waitFor(() => one(`SELECT count(*) FROM securitylake.batch WHERE source = 'recovering' AND attempts > 0`) > 0,
      { what: 'a failed upload of the recovering source' });
    await admin(gate, 'faults/clear', {});
    psql(`UPDATE securitylake.source_state SET next_attempt_at = now() WHERE source IN ('failing', 'recovering')`);
    const flushed = await psqlAsync(`SELECT count(*) FROM securitylake.flush('recovering', '120 s')`);
    assert.equal(flushed.code, 0, flushed.stderr);

    const recovering = one(`SELECT json_build_object('attempts', attempts, 'rows', rows) FROM securitylake.uploads WHERE source = 'recovering'`);
    assert.ok(recovering.attempts >= 2 && recovering.rows === 300, `delivered as a pending batch: ${JSON.stringify(recovering)}`);
    assert.deepEqual(exactlyOnce(await lakeUids(gate, 'recovering'), recoveringEvents.map((e) => e.metadata.uid)), { lost: 0, duplicated: 0, extra: 0 });

    // 'failing' meanwhile: its pending batch retried on its own backoff, charged to it alone.
    await sleep(3000);
    const failing = one(`SELECT json_build_object('failures', st.failures, 'last_error', st.last_error,
                                                  'backoff_ms', extract(epoch FROM st.next_attempt_at - st.last_error_at) * 1000,
                                                  'attempts', (SELECT max(attempts) FROM securitylake.batch b WHERE b.source = 'failing'),
                                                  'pending', (SELECT count(*) FROM securitylake.batch b WHERE b.source = 'failing'))
                           FROM securitylake.source_state st WHERE st.source = 'failing'`);
    const rec = one(`SELECT json_build_object('failures', failures, 'last_error', last_error, 'pending', pending_batches)
                       FROM securitylake.status WHERE source = 'recovering'`);
    console.log(`isolation: pending batches: 'failing' ${JSON.stringify(failing)}; 'recovering' delivered at attempt ${recovering.attempts}, now ${JSON.stringify(rec)}`);
    assert.ok(failing.failures >= 2, `failures charged to the failing source: ${failing.failures}`);
    assert.ok(failing.attempts >= 2, `its pending batch was retried: ${failing.attempts} attempts`);
    assert.equal(failing.pending, 1);
    assert.match(failing.last_error, /SlowDown|503|ServiceUnavailable/);
    assert.ok(failing.backoff_ms > 0, `a backoff was set: ${failing.backoff_ms} ms`);
    assert.deepEqual(rec, { failures: 0, last_error: null, pending: 0 });
    const log = logSince(mark);
    assert.match(log, /securitylake: delivery for source "failing" failed: /);
    assert.doesNotMatch(log, /delivery for source "recovering" failed: [^\n]*SlowDown/);
    assert.doesNotMatch(log, /\(none\)/);

    // A flush of the other source does not make the failing one try again (its backoff
    // holds), so it never waits for that attempt.
    // (An attempt in flight when the backoff is set would set its own when it fails: set it
    // again until it holds with no attempt in flight.)
    for (let i = 0; i < 30; i++) {
      psql(`UPDATE securitylake.source_state SET next_attempt_at = now() + interval '10 min' WHERE source = 'failing'`);
      await sleep(1000);
      if (one(`SELECT count(*) FROM securitylake.source_state WHERE source = 'failing' AND next_attempt_at > now() + interval '9 min'`) === 1 &&
          one(`SELECT count(*) FROM securitylake.batch WHERE source = 'failing' AND held_by IS NOT NULL`) === 0) break;
    }
    const attemptsBefore = one(`SELECT max(attempts) FROM securitylake.batch WHERE source = 'failing'`);
    const mark2 = logMark();
    const more = [];
    for (let i = 0; i < 3; i++) {
      const evs = authEvents(50, { seed: 210 + i });
      more.push(...evs);
      copyEvents(evs, { source: 'recovering' });
      const t0 = Date.now();
      psql(`SELECT count(*) FROM securitylake.flush('recovering', '60 s')`);
      assert.ok(Date.now() - t0 < 10000, `flush('recovering') took ${Date.now() - t0} ms`);
    }
    assert.equal(one(`SELECT max(attempts) FROM securitylake.batch WHERE source = 'failing'`), attemptsBefore,
      'flush() of another source left the failing source to its backoff');
    assert.doesNotMatch(logSince(mark2), /delivery for source "failing" failed/);
    assert.deepEqual(exactlyOnce(await lakeUids(gate, 'recovering'), [...recoveringEvents, ...more].map((e) => e.metadata.uid)),
      { lost: 0, duplicated: 0, extra: 0 });

    // S3 back: the failing source's batch goes out too, exactly once.
    await admin(gate2, 'down', { seconds: 0 });
    psql(`SELECT count(*) FROM securitylake.flush('failing', '120 s')`);
    assert.deepEqual(exactlyOnce(await lakeUids(gate2, 'failing'), failingEvents.map((e) => e.metadata.uid)), { lost: 0, duplicated: 0, extra: 0 });
    assert.equal(one(`SELECT count(*) FROM securitylake.dead_letter`), 0);
  });

test('an ERROR while one event is encoded refuses that event alone, with the reason, in the same attempt (per-event containment)', { skip: skipNoPg, timeout: 120000 }, async () => {
  createSource('contained', gate);
  const events = authEvents(200, { days: 1, seed: 17 });
  // The test build's fault: an ERROR inside the shredding of the first event encoded (once:
  // the token's marker file in the data directory remembers it fired).
  const token = `contained${Date.now()}`;
  setSettings({ 'securitylake.test_fault': `error:shred:${token}` });
  await sleep(500);
  const mark = logMark();
  copyEvents(events, { source: 'contained' });
  psql(`SELECT count(*) FROM securitylake.flush('contained', '60 s')`);
  setSettings({ 'securitylake.test_fault': '' });
  const dead = query(`SELECT event->'metadata'->>'uid' AS uid, reason FROM securitylake.dead_letter WHERE source = 'contained'`);
  assert.equal(dead.length, 1, JSON.stringify(dead));
  assert.match(dead[0].reason, /^could not encode: securitylake test fault at step "shred"/, 'the encoder refused that event itself');
  const good = events.map((e) => e.metadata.uid).filter((u) => u !== dead[0].uid);
  assert.deepEqual(exactlyOnce(await lakeUids(gate, 'contained'), good), { lost: 0, duplicated: 0, extra: 0 });
  // No attempt failed: the ERROR never left the event.
  assert.doesNotMatch(logSince(mark), /delivery for source "contained" failed/);
  assert.equal(one(`SELECT count(*) FROM securitylake.uploads WHERE source = 'contained'`), 1);
});
