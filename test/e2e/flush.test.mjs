// flush() semantics (issue 12.5): without a name it returns while disabled sources
// keep rows queued and says which it skipped; a disabled source by name is an error;
// REPEATABLE READ and SERIALIZABLE are refused; 64-character source names work end to
// end; batch ids beyond 2^31 are delivered and re-driven.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, query, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { psqlResult, setSettings, resetSettings, waitFor } from '../lib/worker.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-flushlake';
const USER = { accessKeyId: 'AKIAFLUSHTESTUSER001', secretAccessKey: 'flushSecretKeyForTheGate00000000000000001' };
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-flush-us-east-1';
const EXTERNAL_ID = 'flush-external-id';
let gate;
let duck;

function createSource(name, { enabled = true, role = false } = {}) {
  psql(`SELECT securitylake.create_source(${lit(name)}, ${lit(`s3://${BUCKET}/ext/${name}/1.0/`)},
        ${role ? lit(ROLE) : 'NULL'}, ${role ? lit(EXTERNAL_ID) : 'NULL'}, 3002, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
        options => ${lit(JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true, enabled }))}::jsonb);`);
}

async function lakeUids(prefix) {
  const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(prefix));
  if (objects.length === 0) return [];
  return (await duck.rows(`SELECT metadata.uid AS uid FROM read_parquet([${objects.map((o) => dlit(o.path)).join(',')}])`)).map((r) => r.uid).sort();
}

const uids = (events) => events.map((e) => e.metadata.uid).sort();

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
  setSettings({ 'securitylake.max_backoff': '2s' });
});

after(async () => {
  if (skipNoPg) return;
  try { resetSettings(['securitylake.max_backoff']); } catch { /* reported by the tests */ }
  duck?.close();
  await gate?.stop();
});

test('flush() without a name returns while disabled sources keep rows queued, and its NOTICE names them', { skip: skipNoPg, timeout: 120000 }, async () => {
  createSource('on');
  createSource('off_b', { enabled: false });
  createSource('off_a', { enabled: false });
  const on = authEvents(200, { seed: 401 });
  copyEvents(on, { source: 'on' });
  copyEvents(authEvents(50, { seed: 402 }), { source: 'off_a' });
  copyEvents(authEvents(50, { seed: 403 }), { source: 'off_b' });

  const t0 = Date.now();
  const r = psqlResult(`SELECT source, rows FROM securitylake.flush(NULL, '60 s')`);
  const seconds = (Date.now() - t0) / 1000;
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /NOTICE: {2}securitylake\.flush\(\) skipped disabled sources: off_a, off_b\n/);
  assert.match(r.stderr, /DETAIL: {2}Their events stay queued until they are enabled again\./);
  assert.equal(r.stdout.trim(), 'on|200');
  assert.ok(seconds < 30, `returned in ${seconds} s`);
  assert.deepEqual(await lakeUids('ext/on/'), uids(on));
  assert.deepEqual(query(`SELECT source, enabled, queued_rows FROM securitylake.status ORDER BY source`), [
    { source: 'off_a', enabled: false, queued_rows: 50 },
    { source: 'off_b', enabled: false, queued_rows: 50 },
    { source: 'on', enabled: true, queued_rows: 0 },
  ]);

  // Nothing disabled with rows: no NOTICE.
  const quiet = psqlResult(`DELETE FROM securitylake.queue; SELECT count(*) FROM securitylake.flush(NULL, '30 s')`);
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.doesNotMatch(quiet.stderr, /NOTICE/);
});

test('flush() of a disabled source by name is a clear error', { skip: skipNoPg }, () => {
  copyEvents(authEvents(5, { seed: 404 }), { source: 'off_a' });
  const r = psqlResult(`\\set VERBOSITY verbose\nSELECT * FROM securitylake.flush('off_a', '5 s')`);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ERROR: {2}55000: securitylake source "off_a" is disabled/);
  assert.match(r.stderr, /DETAIL: {2}A disabled source keeps its events queued; nothing delivers them\./);
  assert.match(r.stderr, /HINT: {2}Enable it with securitylake\.alter_source\(name, options => '\{"enabled": true\}'\)\./);
  const missing = psqlResult(`SELECT * FROM securitylake.flush('no_such_source', '5 s')`);
  assert.match(missing.stderr, /ERROR: {2}securitylake source "no_such_source" does not exist/);
  psql(`DELETE FROM securitylake.queue`);
});

test('flush() in a REPEATABLE READ or SERIALIZABLE transaction is refused with a clear error', { skip: skipNoPg }, () => {
  for (const level of ['REPEATABLE READ', 'SERIALIZABLE']) {
    const r = psqlResult(`\\set VERBOSITY verbose\nBEGIN ISOLATION LEVEL ${level};\nSELECT * FROM securitylake.flush(NULL, '5 s');\nCOMMIT;`);
    assert.notEqual(r.code, 0, level);
    assert.match(r.stderr, /ERROR: {2}25001: securitylake\.flush\(\) cannot run in a REPEATABLE READ or SERIALIZABLE transaction/, level);
    assert.match(r.stderr, /HINT: {2}Call it in a READ COMMITTED transaction, or on its own\./, level);
    // The session default counts too.
    const d = psqlResult(`SET default_transaction_isolation = ${lit(level.toLowerCase())};\nSELECT * FROM securitylake.flush('on', '5 s');`);
    assert.match(d.stderr, /cannot run in a REPEATABLE READ or SERIALIZABLE transaction/, `default ${level}`);
  }
  // READ COMMITTED (explicit) works.
  const ok = psqlResult(`BEGIN ISOLATION LEVEL READ COMMITTED;\nSELECT count(*) FROM securitylake.flush('on', '30 s');\nCOMMIT;`);
  assert.equal(ok.code, 0, ok.stderr);
});

test('64-character source names work end to end: create, queue, deliver, status, the worker\'s tables', { skip: skipNoPg, timeout: 180000 }, async () => {
  // Two names that differ only in their 64th character (a truncation would merge them).
  const base = 'Long.Source_Name-' + 'x'.repeat(46);
  const names = [`${base}A`, `${base}B`];
  for (const n of names) assert.equal(n.length, 64);
  assert.throws(() => createSource(`${base}AB`), /invalid source name/);
  for (const n of names) createSource(n, { role: true });
  const events = names.map((n, i) => authEvents(150, { seed: 410 + i }));
  copyEvents(events[0], { source: names[0] });
  // A bad event (no time) for the first: dead-lettered under the full name.
  psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(names[0])}, '{"class_uid": 3002, "metadata": {"uid": "no-time"}}')`);
  psql(`SELECT count(*) FROM securitylake.flush(${lit(names[0])}, '60 s')`);
  // The second's first upload fails: a pending batch under the full name, re-driven.
  copyEvents(events[1], { source: names[1] });
  await admin(gate, 'faults', { count: 5, kinds: ['500'], target: 's3' });
  const first = psqlResult(`SELECT count(*) FROM securitylake.flush(${lit(names[1])}, '2 s')`);
  assert.match(first.stderr, /timed out/);
  // The client retries a 500 itself before the attempt counts as failed: wait for that.
  await waitFor(() => one(`SELECT count(*) FROM securitylake.batch WHERE attempts >= 1`) === 1, { timeoutMs: 30000, what: 'the failed attempt recorded' });
  assert.deepEqual(query(`SELECT source, attempts FROM securitylake.batch`), [{ source: names[1], attempts: 1 }]);
  psql(`SELECT count(*) FROM securitylake.flush(${lit(names[1])}, '60 s')`);

  for (const [i, n] of names.entries()) {
    assert.deepEqual(await lakeUids(`ext/${n}/1.0/`), uids(events[i]), n);
    const st = one(`SELECT json_build_object('source', source, 'queued', queued_rows, 'pending', pending_batches, 'objects', objects_uploaded,
                                             'rows', rows_uploaded, 'dead', dead_letters, 'error', last_error)
                      FROM securitylake.status WHERE source = ${lit(n)}`);
    assert.deepEqual(st, { source: n, queued: 0, pending: 0, objects: 1, rows: 150, dead: i === 0 ? 1 : 0, error: null });
    assert.equal(one(`SELECT count(*) FROM securitylake.source_state WHERE source = ${lit(n)} AND last_upload_at IS NOT NULL`), 1);
    const up = one(`SELECT json_build_object('key', object_key, 'attempts', attempts) FROM securitylake.uploads WHERE source = ${lit(n)}`);
    assert.ok(up.key.startsWith(`ext/${n}/1.0/region=us-east-1/accountId=123456789012/`), up.key);
    assert.equal(up.attempts, i === 1 ? 2 : 1);
  }
  assert.deepEqual(query(`SELECT source, reason FROM securitylake.dead_letter`), [{ source: names[0], reason: 'missing required attribute time' }]);
  // The object's own metadata names the source in full.
  const [obj] = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${names[0]}/`));
  const kv = await duck.rows(`SELECT decode(value) AS v FROM parquet_kv_metadata(${dlit(obj.path)}) WHERE decode(key) = 'securitylake.source'`);
  assert.deepEqual(kv.map((r) => r.v), [names[0]]);
  // Requests went through AssumeRole (the long name does not fit in a session name).
  assert.ok((await admin(gate, 'requests')).some((r) => r.action === 'AssumeRole' && r.status === 200));
  psql(`DELETE FROM securitylake.dead_letter`);
});

test('batch ids beyond 2^31: delivered, and a pending one re-driven', { skip: skipNoPg, timeout: 180000 }, async () => {
  const start = 2 ** 31 + 7;
  psql(`SELECT setval('securitylake.batch_id_seq', ${start})`);
  const a = authEvents(120, { days: 2, seed: 420 });
  copyEvents(a, { source: 'on' });
  const flushed = query(`SELECT object_key, rows FROM securitylake.flush('on', '60 s')`);
  assert.equal(flushed.length, 2);
  for (const f of flushed) {
    const id = Number(/-(\d+)-[0-9a-f]{16}\.parquet$/.exec(f.object_key)[1]);
    assert.ok(id > start && id < start + 10, `batch id ${id} in ${f.object_key}`);
  }
  // A pending batch with such an id: its first upload fails, the next attempt delivers it.
  const b = authEvents(80, { seed: 421 });
  copyEvents(b, { source: 'on' });
  await admin(gate, 'faults', { count: 5, kinds: ['500'], target: 's3' });
  assert.match(psqlResult(`SELECT count(*) FROM securitylake.flush('on', '2 s')`).stderr, /timed out/);
  await waitFor(() => one(`SELECT count(*) FROM securitylake.batch WHERE attempts >= 1`) === 1, { timeoutMs: 30000, what: 'the failed attempt recorded' });
  const pending = one(`SELECT json_build_object('id', id, 'attempts', attempts) FROM securitylake.batch`);
  assert.ok(pending.id > 2 ** 31, `pending batch ${pending.id}`);
  assert.equal(pending.attempts, 1);
  psql(`SELECT count(*) FROM securitylake.flush('on', '60 s')`);
  const up = one(`SELECT json_build_object('key', object_key, 'attempts', attempts) FROM securitylake.uploads ORDER BY id DESC LIMIT 1`);
  assert.match(up.key, new RegExp(`-${pending.id}-[0-9a-f]{16}\\.parquet$`));
  assert.equal(up.attempts, 2);
  const onAll = [...authEvents(200, { seed: 401 }), ...a, ...b];
  assert.deepEqual(await lakeUids('ext/on/'), uids(onAll));
  assert.equal(one(`SELECT count(*) FROM securitylake.batch`), 0);
});

test('a flush() of a source whose pending batch keeps failing tries it once per backoff, not over and over in one cycle, each retry one request', { skip: skipNoPg, timeout: 120000 }, async () => {
  createSource('retrying');
  copyEvents(authEvents(50, { seed: 430 }), { source: 'retrying' });
  psql(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements`);
  // The worker's lease checks (src/deliver.c), as pg_stat_statements counts them: one before
  // each page of events is read (the page itself is fetched from the heap without SQL), one
  // before the object is completed. The first attempt (50 events: one page) makes two.
  const pageReads = () => one(`SELECT coalesce(sum(calls), 0)::int FROM pg_stat_statements
    WHERE query LIKE 'SELECT $_ FROM securitylake.batch WHERE id OPERATOR(pg_catalog.=) $1 AND held_by%'`);
  const reads0 = pageReads();
  const mark = (await admin(gate, 'requests')).length;
  // A 403 the client does not retry: each attempt fails at once.
  await admin(gate, 'faults', { count: 100000, kinds: ['RequestTimeTooSkewed'], target: 's3' });
  try {
    // The first attempt fails and leaves a pending batch; the flushes then force the source.
    for (let i = 0; i < 3; i++) assert.match(psqlResult(`SELECT count(*) FROM securitylake.flush('retrying', '2 s')`).stderr, /timed out/);
    const attempts = one(`SELECT coalesce(max(attempts), 0) FROM securitylake.batch WHERE source = 'retrying'`);
    console.log(`flush: 3 flushes of 2 s against S3 refusing every request: the pending batch was attempted ${attempts} times`);
    // A retry costs one request now, so several fit in a flush: about one per second (the
    // backoff of 1-2 s, or a flush's forcing), not a loop of up to 64 in one cycle.
    assert.ok(attempts >= 1 && attempts <= 12, `attempts ${attempts}: about one a second, not up to 64 per cycle`);
    // Until a retry has been made and is over (no attempt under way while the log is read).
    for (let i = 0; i < 5 && one(`SELECT max(attempts) FROM securitylake.batch WHERE source = 'retrying'`) < 2; i++) {
      psqlResult(`SELECT count(*) FROM securitylake.flush('retrying', '2 s')`);
    }
    await waitFor(() => one(`SELECT count(*) FROM securitylake.batch WHERE source = 'retrying' AND held_by IS NULL`) === 1,
      { timeoutMs: 30000, what: 'no attempt under way' });
    const retried = one(`SELECT max(attempts) FROM securitylake.batch WHERE source = 'retrying'`);
    const kinds = (await admin(gate, 'requests')).slice(mark).filter((r) => r.path?.includes('/ext/retrying/')).map((r) => r.kind);
    const count = (k) => kinds.filter((x) => x === k).length;
    const reads = pageReads() - reads0;
    console.log(`flush: ${retried} failed attempts: requests ${count('put')} PutObject (the first attempt, with the client's own retries), ` +
      `${count('create')} CreateMultipartUpload, ${count('part')} UploadPart; ${reads} page read(s) of the events`);
    // The first attempt encodes and uploads; each retry of the failing source first asks S3 for
    // an upload, and reads no event while S3 refuses (one request, not the batch encoded again).
    assert.ok(retried >= 2, `a retry was made (${retried} attempts)`);
    assert.ok(count('put') >= 1 && kinds.lastIndexOf('put') < kinds.indexOf('create'), `PutObject in the first attempt only, then CreateMultipartUpload: ${kinds}`);
    // Tried once: the client's own retries (five, with sleeps) would hold the worker from the
    // other sources; the source's backoff spaces the retries instead.
    assert.equal(count('create'), retried - 1, `one CreateMultipartUpload per retry: ${kinds}`);
    assert.equal(count('part'), 0);
    assert.equal(reads, 2, 'the events were read by the first attempt only (its page and its completion)');
  } finally {
    await admin(gate, 'faults', { count: 0 });
  }
  psql(`SELECT count(*) FROM securitylake.flush('retrying', '60 s')`);
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'retrying'`), 0);
});
