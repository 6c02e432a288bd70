// Objects of the size AWS asks for (issue 14.3): a drain closes an object when it reaches
// the source's object_size and puts the rest of the batch into the next one, so a backlog
// becomes a few objects near the target rather than many small ones; the records of each
// object, and the objects of one partition, follow `time`; every event lands once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { psql, query, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-objectslake';
const USER = { accessKeyId: 'AKIAOBJECTSUSER00001', secretAccessKey: 'objectsSecretKey/For+The+Gate00000000001' };
const MIB = 1024 * 1024;
let gate;
let duck;

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  duck?.close();
  await gate?.stop();
});

test('a backlog becomes objects near object_size, in time order, every event once', { skip: skipNoPg, timeout: 300000 }, async () => {
  const options = { endpoint: gate.url, force_path_style: true, object_size: 2 * MIB, row_group_size: 1 * MIB };
  psql(`SELECT securitylake.create_source('sized', 's3://${BUCKET}/ext/sized/', NULL, NULL, 3002, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
        options => ${lit(JSON.stringify(options))}::jsonb)`);
  // ~12 MB of JSON in one partition (one day), mostly incompressible text.
  const events = authEvents(8000, { seed: 71 }).map((e) => ({ ...e, message: randomBytes(1050).toString('base64') }));
  copyEvents(events, { source: 'sized' });
  query(`SELECT * FROM securitylake.flush('sized', '180 s')`);
  const uploads = query(`SELECT object_key, rows, bytes FROM securitylake.uploads WHERE source = 'sized' ORDER BY id`);
  assert.ok(uploads.length >= 4, `several objects (${uploads.length})`);
  const bytes = uploads.map((u) => Number(u.bytes));
  // Every object but the last reached about the target (closed at it, by its buffered estimate).
  for (const b of bytes.slice(0, -1)) assert.ok(b >= 1 * MIB && b <= 3 * MIB, `object of ${b} bytes near 2 MiB`);
  assert.equal(one(`SELECT count(*) FROM securitylake.batch`), 0, 'no batch left');
  assert.equal(one(`SELECT count(*) FROM securitylake.queue`), 0);

  // Read back: every event once; each object sorted by time; objects ordered by time.
  const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith('ext/sized/'));
  assert.equal(objects.length, uploads.length);
  const order = new Map(uploads.map((u, i) => [u.object_key, i]));
  objects.sort((a, b) => order.get(a.key) - order.get(b.key));
  const seen = new Set();
  let last = -Infinity;
  for (const o of objects) {
    const rows = await duck.rows(`SELECT metadata.uid AS uid, time FROM read_parquet(${dlit(o.path)})`);
    for (const r of rows) {
      assert.ok(!seen.has(r.uid), `event ${r.uid} once`);
      seen.add(r.uid);
      assert.ok(Number(r.time) >= last, 'records follow time, across the partition\'s objects too');
      last = Number(r.time);
    }
  }
  assert.equal(seen.size, events.length);
  console.log(`# objects: ${events.length} events (~12 MB of JSON) with object_size 2 MiB → ${uploads.length} objects of ${bytes.map((b) => (b / MIB).toFixed(2)).join(', ')} MiB`);
});
