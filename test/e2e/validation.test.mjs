// Strict validation into dead letters: every case of the committed corpus of invalid and
// adversarial events (test/ocsf/invalid, plus the large ones generated at test time) lands
// in securitylake.dead_letter with its expected reason, no backend crashes, and the valid
// events queued in the same flush (test/ocsf/valid) are delivered. securitylake.validate()
// gives each case exactly the worker's reason (NULL for the delivered ones).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { startGate } from '../lib/gate.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-validlake';
const USER = { accessKeyId: 'AKIAVALIDATIONTEST01', secretAccessKey: 'validationSecretKeyForTheGate00000000001' };
const ROOT = new URL('../../', import.meta.url).pathname;
let gate;
let tmp;

const sourceName = (version, classUid, strict) => `v${version.replaceAll('.', '')}_${classUid}${strict ? '_strict' : ''}`;

function ensureSource(version, classUid, strict = false) {
  const name = sourceName(version, classUid, strict);
  if (one(`SELECT count(*) FROM securitylake.source WHERE name = ${lit(name)}`) > 0) return name;
  const options = { endpoint: gate.url, force_path_style: true, ocsf_version: version, ...(strict ? { strict_nested: true } : {}) };
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, ${classUid}, 'us-east-1', '123456789012',
        publish_rate => '1 hour', options => ${lit(JSON.stringify(options))}::jsonb)`);
  return name;
}

function eventText(c) {
  return c.event_text;
}

// PostgreSQL parses the corpus, so numbers keep their exact digits (JavaScript's
// JSON.parse would round 9223372036854775807). Raw texts (duplicate keys, escapes
// jsonb refuses) stay raw.
function readCorpus(path) {
  return query(`SELECT e->>'name' AS name, e->>'ocsf_version' AS ocsf_version, (e->>'class_uid')::int AS class_uid,
                       e->>'stage' AS stage, e->>'reason_contains' AS reason_contains, e->>'only_if' AS only_if,
                       coalesce(e->>'event_text', (e->'event')::text) AS event_text
                  FROM jsonb_array_elements(${lit(readFileSync(path, 'utf8'))}::jsonb) e`);
}

function loadCases() {
  execFileSync('python3', [join(ROOT, 'tools/ocsf/gen-adversarial.py'), '--large', tmp]);
  return {
    invalid: [...readCorpus(join(ROOT, 'test/ocsf/invalid/invalid.json')), ...readCorpus(join(tmp, 'invalid-large.json'))],
    valid: [...readCorpus(join(ROOT, 'test/ocsf/valid/valid.json')), ...readCorpus(join(tmp, 'valid-large.json'))],
  };
}

before(async () => {
  if (skipNoPg) return;
  tmp = mkdtempSync(join(tmpdir(), 'securitylake-validation-'));
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  await gate?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test('invalid events are dead-lettered with precise reasons; valid neighbours are delivered', { skip: skipNoPg, timeout: 300000 }, async () => {
  const { invalid, valid } = loadCases();
  const queued = [];
  for (const c of invalid) {
    const strict = c.only_if === 'strict_nested';
    const name = ensureSource(c.ocsf_version, c.class_uid, strict);
    if (c.stage === 'insert') {
      assert.throws(() => psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(name)}, ${lit(eventText(c))})`),
        /invalid input syntax for type json|unsupported Unicode escape|cannot be converted to text/, c.name);
      continue;
    }
    psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(name)}, ${lit(eventText(c))})`);
    queued.push({ ...c, source: name });
  }
  for (const c of valid) {
    const name = ensureSource(c.ocsf_version, c.class_uid);
    psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(name)}, ${lit(eventText(c))})`);
  }
  psql(`SELECT count(*) FROM securitylake.flush(timeout => '240 s')`);
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0, 'nothing left queued');

  // Several cases may parse to the same jsonb (duplicate keys keep the last value).
  const sameEvent = (c) => `${c.source}\u0000${one(`SELECT ${lit(eventText(c))}::jsonb::text`)}`;
  const multiplicity = new Map();
  for (const c of queued) multiplicity.set(sameEvent(c), (multiplicity.get(sameEvent(c)) ?? 0) + 1);
  const failures = [];
  for (const c of queued) {
    const rows = query(`SELECT reason FROM securitylake.dead_letter WHERE source = ${lit(c.source)} AND event = ${lit(eventText(c))}::jsonb`);
    if (rows.length !== multiplicity.get(sameEvent(c))) failures.push(`${c.name}: ${rows.length} dead letters`);
    else if (!rows[0].reason.includes(c.reason_contains)) failures.push(`${c.name}: reason "${rows[0].reason.slice(0, 200)}" lacks "${c.reason_contains}"`);
  }
  assert.deepEqual(failures, []);
  // validate() gives exactly the worker's reason, case by case (the same code path).
  const differ = [];
  for (const c of queued) {
    const [row] = query(`SELECT reason, securitylake.validate(${lit(eventText(c))}::jsonb, ${lit(c.source)}) AS v
                           FROM securitylake.dead_letter WHERE source = ${lit(c.source)} AND event = ${lit(eventText(c))}::jsonb LIMIT 1`);
    if (!row || row.v !== row.reason) differ.push(`${c.name}: worker "${row?.reason?.slice(0, 160)}", validate() "${row?.v?.slice(0, 160)}"`);
  }
  for (const c of valid) {
    const v = one(`SELECT securitylake.validate(${lit(eventText(c))}::jsonb, ${lit(sourceName(c.ocsf_version, c.class_uid))})`);
    if (v !== null) differ.push(`${c.name}: delivered by the worker, validate() says "${v.slice(0, 160)}"`);
  }
  assert.deepEqual(differ, [], 'validate() equals the worker\'s verdict for every case');
  const rejectedValid = [];
  for (const c of valid) {
    const rows = query(`SELECT reason FROM securitylake.dead_letter WHERE event = ${lit(eventText(c))}::jsonb`);
    if (rows.length) rejectedValid.push(`${c.name}: ${rows[0].reason.slice(0, 200)}`);
  }
  assert.deepEqual(rejectedValid, [], 'no valid event is dead-lettered');
  const delivered = one(`SELECT coalesce(sum(rows), 0) FROM securitylake.uploads`);
  assert.equal(Number(delivered), valid.length, 'every valid event was delivered');
  assert.equal(one(`SELECT count(*) FROM securitylake.dead_letter`), queued.length, 'nothing else was dead-lettered');
  const alive = one('SELECT count(*) FROM pg_stat_activity WHERE backend_type = \'securitylake worker\'');
  console.log(`validation: ${invalid.length} invalid/adversarial cases: ${queued.length} dead-lettered with their expected reason, ` +
    `${invalid.length - queued.length} refused by PostgreSQL at INSERT; ${valid.length} valid neighbours delivered; worker alive: ${alive > 0}`);
});
