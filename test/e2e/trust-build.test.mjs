// Issue 11, finding 8 (the fault hook): a production build has no fault hook. The crash
// tests' securitylake.test_fault (abort() the worker on request) and the host routing of
// securitylake.test_connect_to are compiled into test builds only (make TEST_HOOKS=1, which
// test/run uses). This builds the extension as `make` would for a package, in a scratch
// copy of the tree, and looks for their names in the library — strings and symbols — and
// checks the same search finds them in the test build that test/run installed (so the
// search itself is shown to work).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PG_BIN } from '../lib/pg.mjs';

const ROOT = new URL('../..', import.meta.url).pathname;
const PG_CONFIG = process.env.PG_CONFIG ?? `${PG_BIN}/pg_config`;
const HOOK_NAMES = /test_fault|test_connect_to/;
const skip = existsSync(PG_CONFIG) ? false : `no pg_config at ${PG_CONFIG}`;
let dir;

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// Lines of `strings -a` and symbols of `nm` (dynamic and, if not stripped, all) naming a hook.
function hookNames(lib) {
  const strings = run('strings', ['-a', lib]).split('\n').filter((l) => HOOK_NAMES.test(l));
  const nm = [...run('nm', ['-D', lib]).split('\n'), ...spawnSync('nm', [lib], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout.split('\n')]
    .filter((l) => HOOK_NAMES.test(l));
  return { strings: [...new Set(strings)], symbols: [...new Set(nm.map((l) => l.trim().split(/\s+/).pop()))] };
}

after(() => { if (dir) rmSync(dir, { recursive: true, force: true }); });

test('a production build (make without TEST_HOOKS) has no test_fault or test_connect_to, as string or symbol', { skip, timeout: 900000 }, () => {
  dir = mkdtempSync(join(tmpdir(), 'securitylake-prod-'));
  for (const p of ['Makefile', 'securitylake.control', 'src', 'sql']) cpSync(join(ROOT, p), join(dir, p), { recursive: true });
  // A clean tree: no object of the test build.
  run('find', [dir, '-name', '*.o', '-delete']);
  rmSync(join(dir, 'build'), { recursive: true, force: true });
  run('make', ['-s', '-j2', `PG_CONFIG=${PG_CONFIG}`], { cwd: dir, env: { ...process.env, TEST_HOOKS: '' } });
  const prod = hookNames(join(dir, 'securitylake.so'));
  assert.deepEqual(prod, { strings: [], symbols: [] }, 'the production library names no test hook');

  // The same search finds them in the test build (test/run installs one with TEST_HOOKS=1).
  const installed = join(run(PG_CONFIG, ['--pkglibdir']).trim(), 'securitylake.so');
  if (existsSync(installed)) {
    const testBuild = hookNames(installed);
    assert.ok(testBuild.strings.some((s) => s.includes('securitylake.test_fault')), 'the test build has the setting securitylake.test_fault');
    assert.ok(testBuild.symbols.includes('sl_test_fault_point'), '... and the symbol sl_test_fault_point');
    console.log(`trust: build: production build: 0 hook strings, 0 hook symbols; the installed test build: ` +
      `${testBuild.strings.length} strings (${testBuild.strings.filter((s) => s.startsWith('securitylake.')).join(', ')}), ` +
      `${testBuild.symbols.length} symbols (${testBuild.symbols.join(', ')})`);
  }
});
