// Strict validation into dead letters: every case of the committed corpus of invalid and
// adversarial events (test/ocsf/invalid, plus the large ones generated at test time) lands
// in securitylake.dead_letter with its expected reason, no backend crashes, and the valid
// events queued in the same flush (test/ocsf/valid) are delivered.
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
  return c.event_text ?? JSON.stringify(c.event);
}

function loadCases() {
  const invalid = JSON.parse(readFileSync(join(ROOT, 'test/ocsf/invalid/invalid.json'), 'utf8'));
  execFileSync('python3', [join(ROOT, 'tools/ocsf/gen-adversarial.py'), '--large', tmp]);
  const large = JSON.parse(readFileSync(join(tmp, 'invalid-large.json'), 'utf8'));
  const valid = JSON.parse(readFileSync(join(ROOT, 'test/ocsf/valid/valid.json'), 'utf8'));
  const validLarge = JSON.parse(readFileSync(join(tmp, 'valid-large.json'), 'utf8'));
  return { invalid: [...invalid, ...large], valid: [...valid, ...validLarge] };
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

  const failures = [];
  for (const c of queued) {
    const rows = query(`SELECT reason FROM securitylake.dead_letter WHERE source = ${lit(c.source)} AND event = ${lit(eventText(c))}::jsonb`);
    if (rows.length !== 1) failures.push(`${c.name}: ${rows.length} dead letters`);
    else if (!rows[0].reason.includes(c.reason_contains)) failures.push(`${c.name}: reason "${rows[0].reason.slice(0, 200)}" lacks "${c.reason_contains}"`);
  }
  assert.deepEqual(failures, []);
  const delivered = one(`SELECT coalesce(sum(rows), 0) FROM securitylake.uploads`);
  assert.equal(Number(delivered), valid.length, 'every valid event was delivered');
  assert.equal(one(`SELECT count(*) FROM securitylake.dead_letter`), queued.length, 'nothing else was dead-lettered');
});
