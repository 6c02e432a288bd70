// Every real OCSF sample (test/ocsf/samples, copied from ../shared/ocsf-examples) whose
// class exists in its version round-trips: queue → flush() → object on the gate → DuckDB
// → JSON, equal to the input (absent vs null aside), with the event rebuilt from the
// typed columns plus the `unmapped` entries (the event's own `unmapped` object under
// its keys, keys without a column under their JSONPath "$.a.b[0].c").
//
// Samples the strict validator refuses by design (`time` in epoch seconds or as a
// string, `time` missing) are dead-lettered with a `time` reason, and a copy with
// `time` written as epoch milliseconds (the only change) round-trips like the rest.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { canonical, rebuild, schemaInfo, withFilledDt } from '../lib/rebuild.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-samplelake';
const USER = { accessKeyId: 'AKIASAMPLESTESTUSER1', secretAccessKey: 'samplesSecretKeyForTheGate0000000000001' };
const SAMPLES = new URL('../ocsf/samples/', import.meta.url).pathname;
const TIME_NOTES = ['time looks like epoch seconds', 'time is not an integer'];
let gate;
let duck;

const sourceName = (version, classUid) => `s${version.replaceAll('.', '')}_${classUid}`;

// The sample as it should be stored: `time` in epoch milliseconds.
function withMillisTime(event, notes) {
  const fixed = structuredClone(event);
  if (notes.includes('time looks like epoch seconds')) fixed.time = event.time * 1000;
  else if (typeof event.time === 'string') fixed.time = Date.parse(event.time);
  else if (event.time === undefined) fixed.time = Date.parse(event.time_dt ?? '2024-01-01T00:00:00Z');
  return fixed;
}

function loadSamples() {
  const { samples } = JSON.parse(readFileSync(join(SAMPLES, 'manifest.json'), 'utf8'));
  return samples.filter((s) => s.class_exists).map((s) => {
    const event = JSON.parse(readFileSync(join(SAMPLES, s.file), 'utf8'));
    const refused = s.notes.some((n) => TIME_NOTES.includes(n));
    return { ...s, event, refused, expected: refused ? withMillisTime(event, s.notes) : event };
  });
}

// ---- the test ------------------------------------------------------------------------

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

// Where the expected event and the closest row part ways (for the failure message).
function firstDifference(want, rows) {
  const common = (a, b) => { let i = 0; while (i < a.length && a[i] === b[i]) i++; return i; };
  const best = rows.reduce((b, r) => (common(want, r) > common(want, b) ? r : b), rows[0] ?? '');
  const at = common(want, best);
  return `  want …${want.slice(Math.max(0, at - 80), at + 200)}\n  got  …${best.slice(Math.max(0, at - 80), at + 200)}`;
}

// What happened to each queued event: its dead-letter reason, or delivered.
function deadLetterReasons() {
  const byEvent = new Map();
  for (const d of query('SELECT event::text AS event, reason FROM securitylake.dead_letter')) {
    byEvent.set(canonical(JSON.parse(d.event)), d.reason);
  }
  return byEvent;
}

test('every OCSF sample whose class exists round-trips through the lake, equal to its input', { skip: skipNoPg, timeout: 300_000 }, async () => {
  const samples = loadSamples();
  const refusals = JSON.parse(readFileSync(join(SAMPLES, "refused.json"), "utf8")).refused;
  const sources = new Map();
  for (const s of samples) {
    const name = sourceName(s.ocsf_version, s.class_uid);
    if (!sources.has(name)) {
      sources.set(name, []);
      psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, ${s.class_uid}, 'us-east-1', '123456789012',
            publish_rate => '1 hour', options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true, ocsf_version: s.ocsf_version }))}::jsonb)`);
    }
    sources.get(name).push(s);
    const events = s.refused ? [s.event, s.expected] : [s.event];
    for (const e of events) psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(name)}, ${lit(JSON.stringify(e))}::jsonb)`);
  }
  psql(`SELECT count(*) FROM securitylake.flush(NULL, '120 s')`);
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0, 'queue drained');

  // Outcome per sample: the raw sample (time in seconds/strings is refused for time), then
  // the event we expect in the lake: delivered and equal, or refused as refused.json says.
  const dead = deadLetterReasons();
  const objects = storedObjects(gate.dataDir, BUCKET);
  const outcomes = [];
  let vendorKeys = 0;
  for (const [name, group] of sources) {
    const files = objects.filter((o) => o.key.startsWith(`ext/${name}/`));
    const rows = files.length === 0 ? [] :
      await duck.rows(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet([${files.map((o) => dlit(o.path)).join(', ')}], hive_partitioning = false) t`);
    const info = schemaInfo(group[0].ocsf_version, group[0].class_uid);
    const rebuilt = rows.map((r) => canonical(rebuild(JSON.parse(r.j), info)));
    for (const s of group) {
      const want = canonical(withFilledDt(s.expected, info));
      if (s.refused) {
        const reason = dead.get(canonical(s.event)) ?? 'delivered';
        if (!/\btime\b/.test(reason)) outcomes.push(`${s.file}: the raw sample should be refused for time, got: ${reason}`);
      }
      const expectRefusal = refusals[s.file];
      if (dead.has(canonical(s.expected))) {
        const reason = dead.get(canonical(s.expected));
        if (!expectRefusal) outcomes.push(`${s.file}: dead-lettered: ${reason}`);
        else if (!reason.includes(expectRefusal.reason)) outcomes.push(`${s.file}: refused for "${reason}", expected "${expectRefusal.reason}"`);
        continue;
      }
      if (expectRefusal) outcomes.push(`${s.file}: delivered, but expected refused for "${expectRefusal.reason}"`);
      const at = rebuilt.indexOf(want);
      if (at < 0) {
        outcomes.push(`${s.file}: not equal\n${firstDifference(want, rebuilt)}`);
        continue;
      }
      rebuilt.splice(at, 1);
      vendorKeys += s.top_level_not_in_class.length;
    }
  }
  assert.deepEqual(outcomes, [], 'every sample round-trips or is refused as refused.json says');
  const nRefused = Object.keys(refusals).length;
  const nTime = samples.filter((s) => s.refused).length;
  console.log(`samples: ${samples.length - nRefused} of ${samples.length} round-tripped equal to their input ` +
    `(${nTime} after time → epoch ms, their raw form refused for time); ${nRefused} refused for a schema violation of the sample itself ` +
    `(refused.json); ${vendorKeys} top-level keys outside their class found in unmapped; ${sources.size} sources`);
  assert.ok(samples.length - nRefused >= 50, 'most samples round-trip');
});

test('unmapped keeps keys without a column under their JSONPath, and strings that read as JSON quoted', { skip: skipNoPg }, async () => {
  const name = sourceName('1.1.0', 3002);
  const event = {
    class_uid: 3002, category_uid: 3, activity_id: 1, type_uid: 300201, severity_id: 1, time: 1714564800000,
    metadata: { version: '1.1.0', product: { name: 'p', vendor_name: 'v' }, 'x-vendor.id': 'a.b', '$odd': 1 },
    actor: { user: { name: 'alice', extra: [1, { a: null }] } },
    user: { name: 'alice' },
    observables: [{ name: 'n', type_id: 1, vendor: true }],
    vendor: { nested: { deep: 'x' } },
    unmapped: { plain: 'text', number_like: '42', bool_like: 'true', number: 42, obj: { k: 'v' }, '$.vendor': 'not a path', dotted: { 'a.b': 1 } },
  };
  psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(name)}, ${lit(JSON.stringify(event))}::jsonb)`);
  const key = psql(`SELECT object_key FROM securitylake.flush(${lit(name)}, '60 s')`).trim();
  assert.ok(key, `delivered (dead letters: ${JSON.stringify(query('SELECT reason FROM securitylake.dead_letter ORDER BY id DESC LIMIT 1'))})`);
  const path = storedObjects(gate.dataDir, BUCKET).find((o) => o.key === key).path;
  const [row] = await duck.rows(`SELECT to_json(unmapped)::VARCHAR AS u FROM read_parquet(${dlit(path)})`);
  assert.deepEqual(JSON.parse(row.u), {
    '$.metadata["x-vendor.id"]': 'a.b',
    '$.metadata["$odd"]': '1',
    '$.actor.user.extra': '[1, {"a": null}]',
    '$.observables[0].vendor': 'true',
    '$.vendor': '{"nested": {"deep": "x"}}',
    plain: 'text',
    number_like: '"42"',
    bool_like: '"true"',
    number: '42',
    obj: '{"k": "v"}',
    '$.unmapped["$.vendor"]': 'not a path',
    dotted: '{"a.b": 1}',
  });
  const info = schemaInfo('1.1.0', 3002);
  assert.equal(canonical(rebuild((await duck.rows(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet(${dlit(path)}, hive_partitioning = false) t`)).map((x) => JSON.parse(x.j))[0], info)),
    canonical(withFilledDt(event, info)), 'the event rebuilds exactly (time_dt filled from time)');
});
