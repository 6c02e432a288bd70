// Crashes *during* the upload (issue 16). The gate holds the worker's PutObject (or a
// multipart part) unanswered; while it hangs, the batch's rows must still be queued and
// recorded as a pending batch with its key — a worker that deleted them before the upload
// would lose them here. The worker is then kill -9'ed, the re-drive after recovery must go
// to the same key (held again, to look at it), and once released the lake holds every
// event exactly once, with no multipart upload left open.
//
// Also: the extension dropped and created again while an upload hangs — the new queue's
// ids restart at 1, so the late commit of the old batch must not delete the new rows.
//
// Needs the gate's stall API (POST /__gate/stall, stall/release, GET stall).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { psql, query, one, lit, copyEvents, skipNoPg, waitForServer, waitForWorker, workerPid, serverLog, PG_BIN } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate, admin, stall, stalled, waitStalled, releaseStall } from '../lib/gate.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { setSettings, resetSettings } from '../lib/worker.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-stalllake';
const USER = { accessKeyId: 'AKIASTALLTESTUSER001', secretAccessKey: 'stallSecretKeyForTheGate0000000000000001' };
let gate;
let duck;

function createSource(name, options = {}) {
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true, ...options }))}::jsonb);`);
}

function freshExtension() {
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
}

// Ask the workers for a drain without waiting for it (the worker carries on alone).
function startDrain(name) {
  const p = spawn(`${PG_BIN}/psql`, ['-X', '-q', '-c', `SELECT count(*) FROM securitylake.flush(${lit(name)}, '120 s')`], { stdio: 'ignore' });
  p.on('error', () => {});
  return p;
}

// The source's pending batches and its queued row ids, as the database has them now.
function inFlight(name) {
  return {
    queued: query(`SELECT id FROM securitylake.queue WHERE source = ${lit(name)} ORDER BY id`).map((r) => Number(r.id)),
    batches: query(`SELECT object_key, upload_id, ARRAY(SELECT unnest(ids) ORDER BY 1) AS ids FROM securitylake.batch WHERE source = ${lit(name)}`),
  };
}

// Every uid exactly once in the objects under ext/<name>/ (and nothing else there).
async function assertExactlyOnce(name, uids) {
  const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${name}/`));
  assert.ok(objects.length > 0, 'objects in the lake');
  const rows = await duck.rows(`SELECT metadata.uid AS uid, count(*) AS n FROM read_parquet([${objects.map((o) => dlit(o.path)).join(', ')}]) GROUP BY 1`);
  const seen = new Map(rows.map((r) => [r.uid, Number(r.n)]));
  const want = new Set(uids);
  assert.deepEqual({
    lost: uids.filter((u) => !seen.has(u)).length,
    duplicated: rows.filter((r) => Number(r.n) > 1).length,
    unknown: rows.filter((r) => !want.has(r.uid)).length,
  }, { lost: 0, duplicated: 0, unknown: 0 });
  return objects;
}

// The first held request other than the one with this id.
async function waitStalledOther(id, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const other = (await stalled(gate)).find((h) => h.id !== id);
    if (other) return other;
    if (Date.now() > until) throw new Error(`no re-drive request held within ${timeoutMs} ms`);
    await sleep(100);
  }
}

// Flush what is left of the source: every event in one object exactly once, nothing queued or
// pending, no multipart upload left open. Returns the object.
async function deliveredOnce(name, events) {
  psql(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '120 s')`);
  assert.deepEqual(inFlight(name), { queued: [], batches: [] }, 'delivered and committed');
  const objects = await assertExactlyOnce(name, events.map((e) => e.metadata.uid));
  assert.equal(objects.length, 1, 'one object');
  const open = (await admin(gate, 'multipart')).filter((u) => u.path.startsWith(`/${BUCKET}/ext/${name}/`) && u.state === 'open');
  assert.deepEqual(open, [], 'no multipart upload left open');
  return objects[0];
}

// Random text does not compress: n events of ~3 KiB of Parquet each (7000: ~21 MiB, over the
// 16 MiB part size).
function bigEvents(n, seed) {
  return authEvents(n, { days: 1, seed }).map((e) => ({ ...e, message: randomBytes(3072).toString('base64') }));
}

// Hold the first upload request of `kind` under ext/<name>/, kill -9 the worker while it
// hangs, and follow the re-drive to the end.
async function crashDuringUpload(name, events, kind) {
  const prefix = `/${BUCKET}/ext/${name}/`;
  createSource(name);
  copyEvents(events, { source: name });
  const ids = query(`SELECT id FROM securitylake.queue WHERE source = ${lit(name)} ORDER BY id`).map((r) => Number(r.id));
  // Two: the dying worker's request and the re-drive's, both held.
  await stall(gate, { method: 'PUT', pathPrefix: prefix, kind }, 2);
  const drain = startDrain(name);
  try {
    const [first] = await waitStalled(gate, 1);
    const key = decodeURIComponent(first.path.slice(`/${BUCKET}/`.length)); // the gate logs paths as sent (URI-encoded)
    // The upload hangs: its rows are still queued and recorded as a pending batch with its key.
    let now = inFlight(name);
    assert.deepEqual(now.queued, ids, `while the ${kind} hangs, every row is still queued`);
    assert.equal(now.batches.length, 1, `while the ${kind} hangs, the batch is recorded: ${JSON.stringify(now.batches.map((b) => b.object_key))}`);
    assert.equal(now.batches[0].object_key, key, 'the request goes to the recorded key');
    assert.deepEqual(now.batches[0].ids.map(Number), ids, 'the batch records exactly the rows');
    if (kind === 'part') {
      assert.equal(now.batches[0].upload_id, first.uploadId, 'the multipart UploadId is recorded before its parts are sent');
    }

    const pid = workerPid();
    assert.ok(pid, 'a worker is uploading');
    process.kill(pid, 'SIGKILL');
    await waitForServer();
    await waitForWorker(undefined, pid);

    // The re-drive after recovery: the same key, the same rows, and for multipart the
    // dead worker's upload aborted first.
    // (The dead worker's request left the gate's list when its connection closed.)
    const redrive = await waitStalledOther(first.id);
    assert.equal(redrive.path, first.path, 'the re-drive uploads to the same key');
    now = inFlight(name);
    assert.deepEqual(now.queued, ids, 'after the crash every row is still queued');
    assert.deepEqual(now.batches.map((b) => b.object_key), [key], 'after the crash the same batch is pending');
    if (kind === 'part') {
      const ledger = await admin(gate, 'multipart');
      assert.equal(ledger.find((u) => u.uploadId === first.uploadId)?.state, 'aborted', 'the dead worker\'s multipart upload was aborted');
      assert.equal(now.batches[0].upload_id, redrive.uploadId, 'the new UploadId is recorded');
    }
  } finally {
    await releaseStall(gate);
    drain.kill();
  }
  return deliveredOnce(name, events);
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  freshExtension();
});

after(async () => {
  if (skipNoPg) return;
  try { await releaseStall(gate); } catch { /* gate gone */ }
  duck?.close();
  await gate?.stop();
});

test('kill -9 of the worker while its PutObject hangs: rows stay queued, the re-drive uses the same key, exactly once', { skip: skipNoPg, timeout: 180000 }, async () => {
  const events = authEvents(2000, { days: 1, seed: 61 });
  await crashDuringUpload('stallput', events, 'put');
});

test('kill -9 of the worker while a multipart part hangs: UploadId recorded, old upload aborted, exactly once', { skip: skipNoPg, timeout: 240000 }, async () => {
  const events = bigEvents(7000, 62);
  const obj = await crashDuringUpload('stallpart', events, 'part');
  const completed = (await admin(gate, 'multipart')).filter((u) => decodeURIComponent(u.path) === `/${BUCKET}/${obj.key}` && u.state === 'completed');
  assert.equal(completed.length, 1, 'the object went multipart');
});

test('the extension dropped and created again while an upload hangs: the old batch\'s late commit deletes none of the new rows', { skip: skipNoPg, timeout: 120000 }, async () => {
  freshExtension();
  createSource('guard');
  const old = authEvents(300, { days: 1, seed: 63 });
  copyEvents(old, { source: 'guard' });
  await stall(gate, { method: 'PUT', pathPrefix: `/${BUCKET}/ext/guard/`, kind: 'put' }, 1);
  // A flush that gives up at once: the worker drains on, and no session holds the tables.
  assert.throws(() => psql(`SELECT securitylake.flush('guard', '1 s')`), /timed out/);
  try {
    await waitStalled(gate, 1);
    freshExtension();
    createSource('guard');
    const fresh = authEvents(300, { days: 1, seed: 64 });
    copyEvents(fresh, { source: 'guard' });
    assert.equal(one(`SELECT min(id) FROM securitylake.queue`), 1, 'the new queue\'s ids restart, the same ids as the old batch\'s rows');
    // Answered, the old batch commits (the worker does nothing else meanwhile); then the new rows are delivered.
    await releaseStall(gate);
    psql(`SELECT count(*) FROM securitylake.flush('guard', '60 s')`);
    await assertExactlyOnce('guard', [...old, ...fresh].map((e) => e.metadata.uid));
  } finally {
    await releaseStall(gate);
  }
});

// The worker's CPU seconds so far (user + system, /proc/<pid>/stat), or null once it is gone.
function cpuSeconds(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch { return null; }
}

test('a part held by S3: the worker encodes the rest of the object meanwhile; SIGTERM then ends it within 2 s, no crash, exactly once', { skip: skipNoPg, timeout: 240000 }, async () => {
  // ~21 MiB of Parquet: part 1 (16 MiB) is held; the rest of the object is written while it
  // hangs (one part at a time, the sink would still be blocked in part 1), and the worker
  // then waits for part 1 before it sends the last part ("uploading a batch").
  const name = 'overlap';
  const prefix = `/${BUCKET}/ext/${name}/`;
  const events = bigEvents(7000, 63);
  createSource(name);
  copyEvents(events, { source: name });
  const logStart = serverLog().length;
  await stall(gate, { method: 'PUT', pathPrefix: prefix, kind: 'part' }, 1);
  const drain = startDrain(name);
  let exitMs = null;
  let cpuWhileHeld = null;
  try {
    const [first] = await waitStalled(gate, 1);
    const pid = workerPid();
    const cpu0 = cpuSeconds(pid);
    const until = Date.now() + 60000;
    while (one(`SELECT query FROM pg_stat_activity WHERE pid = ${pid}`) !== 'securitylake: uploading a batch') {
      assert.ok(Date.now() < until, `the worker finished encoding the object while part 1 was held (it shows: ${one(`SELECT query FROM pg_stat_activity WHERE pid = ${pid}`)})`);
      await sleep(50);
    }
    cpuWhileHeld = cpuSeconds(pid) - cpu0;
    assert.deepEqual((await stalled(gate)).map((h) => h.id), [first.id], 'part 1 is still held, and nothing else was sent');
    // The worker now waits for part 1's thread: SIGTERM must end both at once.
    const t0 = Date.now();
    psql(`SELECT pg_terminate_backend(${pid})`);
    while (Date.now() - t0 < 60000 && cpuSeconds(pid) !== null) await sleep(5);
    exitMs = Date.now() - t0;
    assert.ok(exitMs < 2000, `the worker exited ${exitMs} ms after SIGTERM`);
    await waitForWorker(undefined, pid);
  } finally {
    await releaseStall(gate);
    drain.kill();
  }
  console.log(`upload-stall: part 1 held: the worker wrote the rest of the object meanwhile (${cpuWhileHeld?.toFixed(2)} s of CPU after the hold was seen), then exited ${exitMs} ms after SIGTERM`);
  assert.doesNotMatch(serverLog().slice(logStart), /terminated by signal|was terminated by|server process .* exited with exit code [^01]/, 'the worker exited cleanly: no crash, no restart of the server');
  await deliveredOnce(name, events);
});

test('no thread can be started for a part (test fault nothread:part): the worker sends its parts itself, exactly once', { skip: skipNoPg, timeout: 240000 }, async () => {
  const name = 'nothread';
  const prefix = `/${BUCKET}/ext/${name}/`;
  const events = bigEvents(7000, 64);
  setSettings({ 'securitylake.test_fault': 'nothread:part' });
  try {
    await sleep(1500);   // the worker reads the setting at its next wake-up
    createSource(name);
    copyEvents(events, { source: name });
    psql(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '120 s')`);
    assert.equal(one(`SELECT last_error FROM securitylake.status WHERE source = ${lit(name)}`), null, 'no attempt failed');
  } finally {
    resetSettings(['securitylake.test_fault']);
  }
  await deliveredOnce(name, events);
  const uploads = (await admin(gate, 'multipart')).filter((u) => u.path.startsWith(prefix));
  assert.deepEqual(uploads.map((u) => u.state), ['completed'], 'one multipart upload, completed the first time');
});

test('an ERROR in the worker while part 1 is held (a cancel during a page read): the part is ended and joined, its upload aborted, no crash, exactly once', { skip: skipNoPg, timeout: 240000 }, async () => {
  // Row groups of 4 MiB: part 1 goes out while the worker still reads and encodes pages,
  // each page read slowed by the test fault, during which the cancel raises an ERROR.
  const name = 'cancelled';
  const prefix = `/${BUCKET}/ext/${name}/`;
  const events = bigEvents(12000, 65);
  const logStart = serverLog().length;
  setSettings({ 'securitylake.test_fault': 'sleep:page-read:1500' });
  await sleep(1500);   // the worker reads the setting at its next wake-up
  createSource(name, { row_group_size: 4 * 1024 * 1024 });
  copyEvents(events, { source: name });
  await stall(gate, { method: 'PUT', pathPrefix: prefix, kind: 'part' }, 1);
  const drain = startDrain(name);
  let droppedMs = null;
  let first;
  try {
    [first] = await waitStalled(gate, 1);
    await sleep(300);
    const t0 = Date.now();
    psql(`SELECT pg_cancel_backend(${workerPid()})`);
    while (droppedMs === null && Date.now() - t0 < 30000) {
      if (!(await stalled(gate)).some((h) => h.id === first.id)) droppedMs = Date.now() - t0;
      else await sleep(20);
    }
    assert.ok(droppedMs !== null && droppedMs < 5000, `the held part was ended ${droppedMs} ms after the cancel`);
  } finally {
    resetSettings(['securitylake.test_fault']);
    await releaseStall(gate);
    drain.kill();
  }
  console.log(`upload-stall: a cancel while part 1 was held: the part was ended ${droppedMs} ms later`);
  await deliveredOnce(name, events);
  assert.doesNotMatch(serverLog().slice(logStart), /terminated by signal|was terminated by|server process .* exited with exit code [^01]|in flight/, 'no crash, no S3 call while a part was in flight');
  const ledger = (await admin(gate, 'multipart')).filter((u) => u.path.startsWith(prefix));
  assert.equal(ledger.find((u) => u.uploadId === first.uploadId)?.state, 'aborted', 'the cancelled attempt\'s upload was aborted');
  assert.deepEqual(ledger.filter((u) => u.state !== 'aborted').map((u) => u.state), ['completed'], 'one upload completed');
});

