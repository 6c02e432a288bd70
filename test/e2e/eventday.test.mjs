// eventDay is the UTC day of the event's `time`, whatever the server's timezone (issue 16;
// AWS: "eventDay … in UTC"). The test cluster runs in UTC, where local time and UTC agree,
// so the pipeline runs here with the server's `timezone` set to a zone behind UTC
// (America/Los_Angeles) and one ahead (Asia/Tokyo), the worker restarted so it really
// runs under it, and events just before and after midnight UTC and local midnight. Every
// object's key eventDay (and its upload log's event_day) must be the UTC day of every
// `time` in it, and every event must be in the lake exactly once.
//
// Both directions are needed: a key formatted from the day's local date is one day early
// behind UTC and right ahead of it (midnight UTC is 09:00 in Tokyo), so with only a zone
// ahead of UTC that bug survives — run the mutation harness with
// EVENTDAY_ZONES=Asia/Tokyo to see it (test/mutate/README.md).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, query, one, lit, copyEvents, skipNoPg, workerPid, waitForWorker } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-daylake';
const USER = { accessKeyId: 'AKIAEVENTDAYTEST0001', secretAccessKey: 'eventDaySecretKeyForTheGate0000000000001' };
const ZONES = (process.env.EVENTDAY_ZONES ?? 'America/Los_Angeles Asia/Tokyo').split(/[\s,]+/).filter(Boolean);
const HOUR = 3600000;
let gate;
let duck;

const utcDay = (ms) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');

// Events around midnight UTC and around midnight in both zones (08:00 and 15:00 UTC in
// November), on three days: just before, at, and just after each boundary.
function boundaryEvents(seed) {
  const times = [];
  for (const day of [Date.UTC(2026, 10, 20), Date.UTC(2026, 10, 21), Date.UTC(2026, 10, 22)]) {
    for (const boundary of [day, day + 8 * HOUR, day + 15 * HOUR]) {
      for (const off of [-3 * HOUR, -60000, -1, 0, 1, 60000, 3 * HOUR]) times.push(boundary + off);
    }
  }
  return authEvents(times.length, { seed }).map((e, i) => ({ ...e, time: times[i], time_dt: times[i] }));
}

// Set the server's timezone and restart the worker, which reads it at connection start.
async function serverTimezone(zone) {
  psql(zone ? `ALTER SYSTEM SET timezone = ${lit(zone)}; SELECT pg_reload_conf();` : 'ALTER SYSTEM RESET timezone; SELECT pg_reload_conf();');
  const old = await waitForWorker();
  const since = one('SELECT now()');
  psql(`SELECT pg_terminate_backend(${old})`);
  const pid = await waitForWorker(undefined, old);
  assert.ok(one(`SELECT backend_start > ${lit(since)}::timestamptz FROM pg_stat_activity WHERE pid = ${pid}`), 'the worker restarted after the change');
  return pid;
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  if (skipNoPg) return;
  try { await serverTimezone(null); } catch (e) { console.log(`# could not reset the timezone: ${e.message}`); }
  duck?.close();
  await gate?.stop();
});

ZONES.forEach((zone, z) => {
  test(`server timezone ${zone}: every object's eventDay is the UTC day of every time in it`, { skip: skipNoPg, timeout: 120000 }, async () => {
    await serverTimezone(zone);
    assert.equal(one("SELECT current_setting('timezone')"), zone);
    const name = `tz${z}`;
    psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, 3002, 'us-east-1', '123456789012',
            schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
            options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
    const events = boundaryEvents(50 + z);
    copyEvents(events, { source: name });
    psql(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '60 s')`);
    assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = ${lit(name)}`), 0, 'delivered');
    assert.equal(one('SELECT count(*) FROM securitylake.dead_letter'), 0, 'nothing dead-lettered');

    const uploads = new Map(query(`SELECT object_key, to_char(event_day, 'YYYYMMDD') AS day FROM securitylake.uploads WHERE source = ${lit(name)}`)
      .map((u) => [u.object_key, u.day]));
    const objects = storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${name}/`));
    const expectedDays = [...new Set(events.map((e) => utcDay(e.time)))].sort();
    const seen = new Map();
    const wrong = [];
    for (const o of objects) {
      const keyDay = /\/eventDay=(\d{8})\//.exec(o.key)?.[1];
      assert.ok(keyDay, `${o.key} names its eventDay`);
      assert.equal(uploads.get(o.key), keyDay, `the upload log's event_day of ${o.key}`);
      for (const r of await duck.rows(`SELECT metadata.uid AS uid, time FROM read_parquet(${dlit(o.path)})`)) {
        seen.set(r.uid, (seen.get(r.uid) ?? 0) + 1);
        if (utcDay(Number(r.time)) !== keyDay) wrong.push(`${new Date(Number(r.time)).toISOString()} in eventDay=${keyDay}`);
      }
    }
    assert.deepEqual(wrong, [], `every time is in its UTC day (timezone ${zone})`);
    assert.deepEqual(objects.map((o) => /\/eventDay=(\d{8})\//.exec(o.key)[1]).sort(), expectedDays, 'one object per UTC day');
    assert.deepEqual(events.filter((e) => seen.get(e.metadata.uid) !== 1).map((e) => e.metadata.uid), [], 'every event exactly once');
  });
});
