// The committed OCSF event corpora are well-formed and cover what the pipeline tests need
// (runs in CI: no ../shared needed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, '..', '..');
const readJson = (p) => JSON.parse(readFileSync(p, 'utf8'));
const VOCABULARY = [/^class_uid$/, /^missing required attribute [a-z0-9_.[\]]+$/,
  /^expected (integer|long|string|object|array|boolean|number)( at [a-z0-9_.[\]]+)?$/,
  /^out of range at [a-z0-9_.[\]]+$/, /^not finite$/, /^time$/, /^time_dt$/, /^too large$/, /^too deep$/];

test('samples: every manifest entry is a file holding that class, at least one per class', () => {
  const { samples } = readJson(join(here, 'samples/manifest.json'));
  const files = ['1.1.0', '1.3.0'].flatMap((v) => readdirSync(join(here, 'samples', v)).map((f) => `${v}/${f}`));
  assert.deepEqual(samples.map((s) => s.file).sort(), files.sort());
  for (const s of samples) {
    const event = readJson(join(here, 'samples', s.file));
    assert.equal(event.class_uid, s.class_uid, s.file);
    assert.equal(event.metadata?.version, s.declared_version, s.file);
    assert.ok(s.file.startsWith(`${s.ocsf_version}/`), s.file);
  }
  const classes = new Set(samples.map((s) => s.class_uid));
  assert.ok(classes.size >= 19, `${classes.size} classes`);
  for (const v of ['1.1.0', '1.3.0']) assert.ok(samples.filter((s) => s.ocsf_version === v).length >= 30, v);
});

function eventOf(c) {
  return 'event_text' in c ? c.event_text : JSON.stringify(c.event);
}

test('invalid corpus: >= 50 cases, unique names, reasons in the agreed vocabulary, real JSON', () => {
  const cases = readJson(join(here, 'invalid/invalid.json'));
  assert.ok(cases.length >= 50, `${cases.length} cases`);
  assert.equal(new Set(cases.map((c) => c.name)).size, cases.length);
  for (const c of cases) {
    assert.ok(['1.1.0', '1.3.0'].includes(c.ocsf_version), c.name);
    assert.ok(Number.isInteger(c.class_uid), c.name);
    assert.ok(['validate', 'insert'].includes(c.stage), c.name);
    assert.ok([undefined, 'strict_nested', 'declared_profiles'].includes(c.only_if), c.name);
    if (c.stage === 'validate') {
      assert.ok(VOCABULARY.some((re) => re.test(c.reason_contains)), `${c.name}: ${c.reason_contains}`);
      JSON.parse(eventOf(c)); // parses (Infinity for 1e400 is fine)
    }
  }
  const reasons = cases.map((c) => c.reason_contains).join('\n');
  for (const must of ['class_uid', 'missing required attribute time', 'missing required attribute metadata.product',
    'expected integer at', 'expected long at', 'out of range at', 'expected string at', 'expected object at',
    'expected array at', 'expected boolean at', 'expected number at', 'not finite', 'too deep']) {
    assert.ok(reasons.includes(must), must);
  }
});

test('valid corpus covers 3002 and other classes of both versions', () => {
  const cases = readJson(join(here, 'valid/valid.json'));
  const seen = new Set(cases.map((c) => `${c.ocsf_version}/${c.class_uid}`));
  for (const k of ['1.1.0/3002', '1.3.0/3002', '1.1.0/4001', '1.3.0/2004', '1.1.0/6003', '1.3.0/1007']) {
    assert.ok(seen.has(k), k);
  }
  for (const c of cases) JSON.parse(eventOf(c));
});

test('gen-adversarial.py --large writes > 1 MiB and 100k-element cases', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ocsf-large-'));
  try {
    execFileSync('python3', [join(repo, 'tools/ocsf/gen-adversarial.py'), '--large', dir]);
    const invalid = readJson(join(dir, 'invalid-large.json'));
    const valid = readJson(join(dir, 'valid-large.json'));
    assert.ok(invalid.some((c) => c.reason_contains === 'too large' && eventOf(c).length > 1024 * 1024));
    assert.ok(invalid.some((c) => c.event?.metadata?.labels?.length === 100000));
    assert.ok(valid.some((c) => c.event?.metadata?.labels?.length === 100000));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
