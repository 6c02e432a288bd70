// The worker's statements on the queue find a batch's rows by TID or by index probes, whatever the
// planner's statistics say. The queue is filled by COPY and drained before autovacuum has
// analysed it, or analysed when it held other sources' rows: a plan chosen from such
// statistics once read every row of the route key for each page of 2000 events (a drain
// of 200k events at 17k events/s instead of 79k; 1,100 events/s for large events).
// Counted here, not timed: the heap tuples the server fetched from the queue per event
// delivered (pg_stat_user_tables), with the statistics made stale on purpose.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-planslake';
const USER = { accessKeyId: 'AKIAPLANSTESTUSER001', secretAccessKey: 'plansSecretKeyForTheGate0000000000000001' };
const OTHER = 50000;    // rows of a disabled source, queued and analysed
const EVENTS = 20000;   // the delivered source's events, queued after the ANALYZE
let gate;

function createSource(name, enabled) {
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/1.0/', NULL, NULL, 3002, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
        options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true, enabled }))}::jsonb)`);
}

// Tuples read from the queue's heap (index and sequential scans) and rows deleted, as the
// statistics system has them. A backend publishes its counts at most once a second.
const counters = () => one(`SELECT json_build_object('read', coalesce(idx_tup_fetch, 0) + coalesce(seq_tup_read, 0), 'deleted', n_tup_del)
                              FROM pg_stat_user_tables WHERE relid = 'securitylake.queue'::regclass`);

async function settled() {
  let last = counters();
  for (let i = 0; i < 30; i++) {
    await sleep(1500);
    const now = counters();
    if (now.read === last.read && now.deleted === last.deleted) return now;
    last = now;
  }
  return last;
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        ALTER TABLE securitylake.queue SET (autovacuum_enabled = false);`);
});

after(async () => {
  if (skipNoPg) return;
  try { psql(`ALTER TABLE securitylake.queue RESET (autovacuum_enabled)`); } catch { /* reported */ }
  await gate?.stop();
});

test('a batch is read, dead-lettered and deleted by TID and index probes, with statistics taken when the queue held another source', { skip: skipNoPg, timeout: 300000 }, async () => {
  createSource('plan_other', false);
  createSource('plan_b', true);
  psql(`INSERT INTO securitylake.queue (source, event)
          SELECT 'plan_other', jsonb_build_object('class_uid', 3002, 'time', 1795000000000 + i, 'metadata', jsonb_build_object('uid', 'o-' || i))
            FROM generate_series(1, ${OTHER}) i;
        ANALYZE securitylake.queue;`);
  // Three event days (three batches, their ids interleaved); one event in ten has a string
  // where the schema has an INT32, refused as it is encoded and dead-lettered page by page.
  const events = authEvents(EVENTS, { days: 3, seed: 77 });
  events.forEach((e, i) => { if (i % 10 === 3) e.category_uid = 'three'; });
  copyEvents(events, { source: 'plan_b' });
  const before = await settled();
  psql(`SELECT count(*) FROM securitylake.flush('plan_b', '180 s')`);
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'plan_b'`), 0);
  let after = counters();
  for (let i = 0; i < 60 && after.deleted - before.deleted < EVENTS; i++) { await sleep(500); after = counters(); }
  after = await settled();
  const dead = one(`SELECT count(*) FROM securitylake.dead_letter WHERE source = 'plan_b'`);
  const perEvent = (after.read - before.read) / EVENTS;
  console.log(`plans: ${EVENTS} events (${dead} dead-lettered) delivered with statistics from ${OTHER} rows of another source: ` +
    `${perEvent.toFixed(1)} queue tuples read per event`);
  assert.equal(dead, EVENTS / 10);
  assert.ok(after.deleted - before.deleted >= EVENTS, `the statistics caught up (${after.deleted - before.deleted} deletes counted)`);
  // Measured: about 6. The claim and the arrival count read each row once through the
  // index, the page reads and the delete once each by TID (a TID scan is not counted here),
  // and this test's own count reads the other source's 50,000 rows (2.5 per event). About 9
  // when the page reads probed by id and the deletes walked the key's id range once per
  // event day; 19 when the TID statements were planned as scans of the key through the
  // index, the TIDs a filter; about 30 with the plans these statistics gave before (each
  // page of 2000 read every row of the key).
  assert.ok(perEvent <= 9, `${perEvent.toFixed(1)} queue tuples read per event delivered (about 6 expected)`);
});
