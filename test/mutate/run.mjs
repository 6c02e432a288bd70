// The mutation harness (test/mutate/README.md): node test/mutate/run.mjs [options]
//
// Copies the working tree (tracked and untracked, not ignored files) to a scratch
// directory, makes a private PostgreSQL copy there (tools/private-pg), checks that the
// unmutated tree builds and passes each named test, then for every mutation in
// mutations.mjs: applies it, builds, runs its test through test/run (SUITES/NODE_TESTS,
// installing into the private copy), restores the file, and reports
//   killed    the named test failed (or timed out),
//   survived  the named test passed: a missing test,
//   broken    the find text is missing or not unique, the mutant does not build, the
//             unmutated tree fails that test (the result would mean nothing), or test/run
//             gave no verdict twice (its node runner reported no test at all).
// Ends with "mutation score: …"; exit status 0 only when every mutation was killed.
//
// Options:
//   --only ID[,ID…]     run only these mutations
//   --check             only check that every find text occurs exactly once (no build)
//   --list              print the list
//   --env K=V           extra environment for the test runs (repeatable), e.g.
//                       --env EVENTDAY_ZONES=Asia/Tokyo
//   --no-baseline       skip the unmutated runs of the named tests
//   --timeout SECONDS   per test run (default 900); a run that times out counts as killed
//   --keep              keep the scratch directory
// Logs: build/mutate-logs/<id>/ (test/run's logs and output), results.json there.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync, symlinkSync, existsSync, chmodSync, createWriteStream } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MUTATIONS } from './mutations.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LOGS = join(ROOT, 'build/mutate-logs');

function parseArgs(argv) {
  const o = { only: null, check: false, list: false, env: {}, baseline: true, timeout: 900, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--only') o.only = argv[++i].split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--check') o.check = true;
    else if (a === '--list') o.list = true;
    else if (a === '--env') { const [k, ...v] = argv[++i].split('='); o.env[k] = v.join('='); }
    else if (a === '--no-baseline') o.baseline = false;
    else if (a === '--timeout') o.timeout = Number(argv[++i]);
    else if (a === '--keep') o.keep = true;
    else { console.error(`unknown option ${a}`); process.exit(2); }
  }
  return o;
}

const editsOf = (m) => m.edits ?? [{ file: m.file, find: m.find, replace: m.replace }];
const target = (m) => `${m.suites}${m.tests ? ` ${m.tests}` : ''}`;
const count = (text, find) => text.split(find).length - 1;

// Why the mutation cannot be applied to the tree at `dir`, or null.
function checkFinds(m, dir) {
  for (const e of editsOf(m)) {
    const path = join(dir, e.file);
    if (!existsSync(path)) return `${e.file} does not exist`;
    const n = count(readFileSync(path, 'utf8'), e.find);
    if (n !== 1) return `find text occurs ${n} times in ${e.file}: ${JSON.stringify(e.find)}`;
  }
  return null;
}

function sh(cmd, args, opts = {}) {
  return spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
}

// Copy the working tree: every tracked or untracked, not ignored file.
function copyTree(dest) {
  mkdirSync(dest, { recursive: true });
  const files = sh('git', ['-C', ROOT, 'ls-files', '-z', '--cached', '--others', '--exclude-standard']);
  if (files.status !== 0) throw new Error(`git ls-files: ${files.stderr}`);
  const tar = sh('bash', ['-c', `tar -C "${ROOT}" --null --ignore-failed-read -cf - -T - | tar -C "${dest}" -xf -`], { input: files.stdout });
  if (tar.status !== 0) throw new Error(`copying the tree: ${tar.stderr}`);
  if (existsSync(join(ROOT, 'node_modules'))) symlinkSync(join(ROOT, 'node_modules'), join(dest, 'node_modules'));
}

function build(tree, env) {
  const r = sh('make', ['-s', '-j2'], { cwd: tree, env });
  return { ok: r.status === 0, log: r.stdout + r.stderr };
}

// Run test/run for one target; resolves { outcome: 'pass'|'fail'|'timeout'|'error', detail, seconds }.
function runTests(tree, env, m, logDir, timeoutS) {
  mkdirSync(logDir, { recursive: true });
  const out = createWriteStream(join(logDir, 'test-run.out'));
  const started = Date.now();
  const childEnv = { ...env, SUITES: m.suites, TEST_LOGS: logDir, FUZZ_SECONDS: env.FUZZ_SECONDS ?? '20' };
  if (m.tests) childEnv.NODE_TESTS = m.tests; else delete childEnv.NODE_TESTS;
  return new Promise((done) => {
    const child = spawn('bash', ['test/run'], { cwd: tree, env: childEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const keep = (d) => { text += d; out.write(d); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 30000).unref();
    }, timeoutS * 1000);
    child.on('close', () => {
      clearTimeout(timer);
      out.end();
      const seconds = Math.round((Date.now() - started) / 1000);
      if (timedOut) return done({ outcome: 'timeout', detail: `no result within ${timeoutS} s`, seconds });
      const counts = {};
      for (const [, suite, p, f] of text.matchAll(/^(unit|fuzz|regress|pgtap|node): (\d+) passed, (\d+) failed$/gm)) counts[suite] = { p: +p, f: +f };
      const wanted = m.suites.split(/\s+/).filter(Boolean);
      const failedTests = [];
      const nodeLog = join(logDir, 'node.log');
      if (existsSync(nodeLog)) for (const [, name] of readFileSync(nodeLog, 'utf8').matchAll(/^not ok \d+ - (.*)$/gm)) if (!/ # TODO\b/.test(name)) failedTests.push(name);
      // A node run that reported no test at all (its runner died) is no verdict.
      const nodeRan = !wanted.includes('node') || (existsSync(nodeLog) && /^(not )?ok \d+ /m.test(readFileSync(nodeLog, 'utf8')));
      if (!nodeRan) return done({ outcome: 'error', detail: `the node test runner reported no test (see ${join(logDir, 'node.log')})`, seconds });
      if (wanted.some((s) => counts[s]?.f > 0)) {
        const detail = wanted.filter((s) => counts[s]).map((s) => `${s}: ${counts[s].f} of ${counts[s].p + counts[s].f} failed`).join(', ');
        return done({ outcome: 'fail', detail: failedTests.length ? `${detail} — ${failedTests.slice(0, 2).join(' | ')}` : detail, seconds });
      }
      if (wanted.every((s) => counts[s]?.p > 0)) return done({ outcome: 'pass', detail: wanted.map((s) => `${s}: ${counts[s].p} passed`).join(', '), seconds });
      return done({ outcome: 'error', detail: `test/run gave no result for ${wanted.join(' ')} (see ${join(logDir, 'test-run.out')})`, seconds });
    });
  });
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let list = MUTATIONS;
  if (o.only) {
    const unknown = o.only.filter((id) => !MUTATIONS.some((m) => m.id === id));
    if (unknown.length) { console.error(`unknown mutation(s): ${unknown.join(', ')}`); process.exit(2); }
    list = MUTATIONS.filter((m) => o.only.includes(m.id));
  }
  if (o.list) {
    for (const m of list) console.log(`${m.id.padEnd(28)} ${target(m).padEnd(44)} ${m.moving ? `[moving: ${m.moving}] ` : ''}${m.description}`);
    return 0;
  }
  if (o.check) {
    let bad = 0;
    for (const m of list) {
      const why = checkFinds(m, ROOT);
      if (why) bad++;
      console.log(`${why ? 'DRIFTED ' : 'ok      '} ${m.id}${why ? `: ${why}` : ''}`);
    }
    console.log(`${list.length - bad} of ${list.length} mutations apply to this tree`);
    return bad ? 1 : 0;
  }

  rmSync(LOGS, { recursive: true, force: true });
  mkdirSync(LOGS, { recursive: true });
  const scratch = mkdtempSync('/tmp/securitylake-mutate.');
  chmodSync(scratch, 0o755);
  const tree = join(scratch, 'tree');
  const results = [];
  const report = (r) => {
    results.push(r);
    console.log(`${r.result.toUpperCase().padEnd(9)} ${r.id.padEnd(28)} ${r.target.padEnd(44)} ${String(r.seconds ?? 0).padStart(4)} s  ${r.detail}`);
  };
  const started = Date.now();
  try {
    copyTree(tree);
    const pg = sh(join(tree, 'tools/private-pg'), [join(scratch, 'pg')]);
    if (pg.status !== 0) throw new Error(`tools/private-pg: ${pg.stderr}`);
    const env = { ...process.env, PG_CONFIG: /PG_CONFIG=(\S+)/.exec(pg.stdout)[1], ...o.env };
    console.log(`mutation run: ${list.length} mutations, scratch ${scratch}, logs ${LOGS}${Object.keys(o.env).length ? `, env ${JSON.stringify(o.env)}` : ''}`);
    const b0 = build(tree, env);
    if (!b0.ok) throw new Error(`the unmutated tree does not build:\n${b0.log.slice(-3000)}`);

    // The unmutated tree must pass each named test, or its result means nothing.
    const baseline = new Map();
    if (o.baseline) {
      for (const m of list) {
        const t = target(m);
        if (baseline.has(t) || checkFinds(m, tree)) continue;
        const blDir = join(LOGS, 'baseline', t.replace(/[^A-Za-z0-9.-]+/g, '_'));
        let r = await runTests(tree, env, m, blDir, o.timeout);
        if (r.outcome === 'error') r = await runTests(tree, env, m, blDir, o.timeout);
        baseline.set(t, r);
        console.log(`baseline  ${t.padEnd(73)} ${String(r.seconds).padStart(4)} s  ${r.outcome === 'pass' ? 'passes' : `FAILS: ${r.detail}`}`);
      }
    }

    for (const m of list) {
      const base = { id: m.id, target: target(m), moving: m.moving ?? null, description: m.description };
      const why = checkFinds(m, tree);
      if (why) { report({ ...base, result: 'broken', detail: why }); continue; }
      const bl = baseline.get(base.target);
      if (bl && bl.outcome !== 'pass') { report({ ...base, result: 'broken', detail: `the unmutated tree fails this test: ${bl.detail}` }); continue; }
      const pristine = new Map();
      for (const e of editsOf(m)) {
        const path = join(tree, e.file);
        if (!pristine.has(path)) pristine.set(path, readFileSync(path, 'utf8'));
        writeFileSync(path, readFileSync(path, 'utf8').replace(e.find, () => e.replace));
      }
      try {
        const logDir = join(LOGS, m.id);
        mkdirSync(logDir, { recursive: true });
        const t0 = Date.now();
        const b = build(tree, env);
        if (!b.ok) {
          writeFileSync(join(logDir, 'build.log'), b.log);
          report({ ...base, result: 'broken', seconds: Math.round((Date.now() - t0) / 1000), detail: `does not build: ${(/error: .*/.exec(b.log) ?? [b.log.trim().split('\n').pop()])[0]}` });
          continue;
        }
        let r = await runTests(tree, env, m, logDir, o.timeout);
        if (r.outcome === 'error') {
          console.log(`retry     ${m.id}: ${r.detail}`);
          r = await runTests(tree, env, m, logDir, o.timeout);
        }
        const result = r.outcome === 'pass' ? 'survived' : r.outcome === 'error' ? 'broken' : 'killed';
        report({ ...base, result, seconds: Math.round((Date.now() - t0) / 1000), detail: r.detail });
      } finally {
        for (const [path, text] of pristine) writeFileSync(path, text);
      }
    }
  } finally {
    if (!o.keep) rmSync(scratch, { recursive: true, force: true });
    else console.log(`scratch kept: ${scratch}`);
  }
  const n = (k) => results.filter((r) => r.result === k).length;
  const killed = n('killed');
  const survived = n('survived');
  const broken = n('broken');
  writeFileSync(join(LOGS, 'results.json'), JSON.stringify({ env: o.env, results }, null, 2));
  const pct = killed + survived ? Math.round((100 * killed) / (killed + survived)) : 0;
  console.log(`mutation score: ${killed}/${killed + survived} killed (${pct}%), ${survived} survived, ${broken} broken, ` +
    `${results.length} mutations in ${Math.round((Date.now() - started) / 60000)} min`);
  for (const r of results.filter((x) => x.result === 'survived')) console.log(`  survived: ${r.id} — ${r.description} (a missing test)`);
  return survived || broken ? 1 : 0;
}

main().then((rc) => process.exit(rc), (err) => { console.error(`mutation run failed: ${err.stack ?? err}`); process.exit(1); });
