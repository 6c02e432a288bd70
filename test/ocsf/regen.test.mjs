// Regenerate the OCSF tables and the event corpora into a temp dir and diff them with the
// committed files. Needs ../shared/ocsf-schema (the published schema); skips without it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const schemaDir = resolve(repo, '..', 'shared', 'ocsf-schema');
const skip = existsSync(schemaDir) ? false : `no OCSF schema at ${schemaDir} (../shared is not in CI)`;

function inTempDir(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'ocsf-regen-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('generated schema tables match a fresh run of tools/ocsf/gen.py', { skip }, () => {
  inTempDir((dir) => {
    execFileSync('python3', ['tools/ocsf/gen.py', '--schema-dir', schemaDir, '--out-dir', dir],
      { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    for (const name of ['ocsf_schema_1_1_0.c', 'ocsf_schema_1_3_0.c']) {
      const fresh = readFileSync(join(dir, name), 'utf8');
      const committed = readFileSync(join(repo, 'src', 'ocsf', name), 'utf8');
      assert.ok(fresh.length > 100000, `${name} was generated`);
      assert.equal(fresh, committed, `src/ocsf/${name} is stale: run python3 tools/ocsf/gen.py`);
    }
  });
});

test('invalid/valid corpora match a fresh run of tools/ocsf/gen-adversarial.py', { skip }, () => {
  inTempDir((dir) => {
    execFileSync('python3', ['tools/ocsf/gen-adversarial.py', '--write', '--out-dir', dir], { cwd: repo });
    for (const rel of ['invalid/invalid.json', 'valid/valid.json']) {
      assert.equal(readFileSync(join(dir, rel), 'utf8'), readFileSync(join(repo, 'test', 'ocsf', rel), 'utf8'),
        `test/ocsf/${rel} is stale: run python3 tools/ocsf/gen-adversarial.py --write`);
    }
  });
});

test('the reference validator gives every corpus case its expected outcome', { skip }, () => {
  const out = execFileSync('python3', ['tools/ocsf/gen-adversarial.py', '--check', '--schema-dir', schemaDir],
    { cwd: repo, encoding: 'utf8' });
  assert.match(out, /\d+ invalid, \d+ valid cases, 0 failures/);
});

test('leaf counts of every class: the C builder agrees with gen.py --leaf-counts', { skip }, () => {
  const expected = JSON.parse(execFileSync('python3', ['tools/ocsf/gen.py', '--leaf-counts', '--schema-dir', schemaDir],
    { cwd: repo, encoding: 'utf8' }));
  execFileSync('make', ['-s', 'build/ocsf/ocsf_emit'], { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  inTempDir((dir) => {
    const lines = execFileSync(join(repo, 'build/ocsf/ocsf_emit'), [dir], { encoding: 'utf8' }).trim().split('\n');
    const actual = {};
    for (const { version, class_uid: uid, leaves } of lines.map((l) => JSON.parse(l))) {
      (actual[version] ??= {})[uid] = leaves;
    }
    assert.deepEqual(actual, expected);
  });
});

test('test/ocsf/samples matches a fresh run of tools/ocsf/copy-samples.sh', { skip }, () => {
  inTempDir((dir) => {
    const examples = resolve(repo, '..', 'shared', 'ocsf-examples');
    execFileSync('sh', ['tools/ocsf/copy-samples.sh', examples, schemaDir, dir], { cwd: repo, stdio: 'pipe' });
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    assert.ok(manifest.samples.length >= 80);
    assert.equal(readFileSync(join(dir, 'manifest.json'), 'utf8'),
      readFileSync(join(repo, 'test/ocsf/samples/manifest.json'), 'utf8'), 'manifest is stale: run tools/ocsf/copy-samples.sh');
    for (const { file } of manifest.samples) {
      assert.equal(readFileSync(join(dir, file), 'utf8'), readFileSync(join(repo, 'test/ocsf/samples', file), 'utf8'), file);
    }
  });
});
