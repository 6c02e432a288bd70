// Records within an object are ordered by `time` (AWS's custom-source rules), whatever
// order they were queued in (issue 16: the fixtures queue each partition's events in time
// order already, so a worker that skipped the sort passed every other test). Events are
// queued shuffled, with every time given twice; the object must hold them by time, ties
// in queue order.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, query, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents, BASE_TIME } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-orderlake';
const USER = { accessKeyId: 'AKIAORDERTESTUSER001', secretAccessKey: 'orderSecretKeyForTheGate0000000000000001' };
const N = 500;
let gate;
let duck;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        SELECT securitylake.create_source('order', 's3://${BUCKET}/ext/order/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
});

after(async () => {
  duck?.close();
  await gate?.stop();
});

test('records are written sorted by time (ties in queue order), though queued shuffled', { skip: skipNoPg }, async () => {
  // Event i at minute (i * 7919) mod N/2 of the day: a permutation of N/2 minutes, each twice.
  const events = authEvents(N, { days: 1, seed: 81 }).map((e, i) => {
    const t = BASE_TIME + 60000 * ((i * 7919) % (N / 2));
    return { ...e, time: t, time_dt: t };
  });
  copyEvents(events, { source: 'order' });
  const flushed = query(`SELECT object_key FROM securitylake.flush('order', '60 s')`);
  assert.equal(flushed.length, 1);
  const [obj] = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key === flushed[0].object_key);
  // DuckDB with one thread returns a file's rows in file order.
  const rows = await duck.rows(`SELECT metadata.uid AS uid, time FROM read_parquet(${dlit(obj.path)})`);
  const expected = events.map((e, i) => ({ uid: e.metadata.uid, time: e.time, i }))
    .sort((a, b) => a.time - b.time || a.i - b.i).map((e) => e.uid);
  assert.equal(rows.length, N);
  const firstOutOfOrder = rows.findIndex((r, k) => k > 0 && Number(r.time) < Number(rows[k - 1].time));
  assert.equal(firstOutOfOrder, -1, `records ordered by time (row ${firstOutOfOrder} is earlier than the one before it)`);
  assert.deepEqual(rows.map((r) => r.uid), expected, 'equal times keep queue order');
});
