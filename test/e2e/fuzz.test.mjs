// In-database fuzzing of the shredder (issue 12.7). test/fuzz/slfuzz.c (a test-only module,
// built here and created by path) mutates real OCSF samples (test/ocsf/samples) and the
// valid corpus: deep nesting in every kind of column, huge strings (also ones that grow on
// escaping), numbers at int and float edges, strings that read as JSON, unicode edge cases,
// duplicate keys, wrong types at every level, huge arrays and maps, values that compress
// small and expand huge.
//
//  1. FUZZ_VALIDATE_CASES (default 1,000,000) cases through securitylake.validate(),
//     generated and validated server-side in batches: no backend crash, no ERROR escapes,
//     no ERROR contained as "could not encode" (each would be a bug found), reasons
//     bounded, the backend's memory bounded.
//  2. FUZZ_WORKER_CASES (default 20,000) cases through the worker into the gate: each event
//     is delivered and reads back equal to its input (DuckDB; rebuilt as README's unmapped
//     rule says), or dead-lettered with exactly validate()'s reason; the queue drains, no
//     source is left failing, the worker's private memory stays bounded.
//  3. The committed regression corpus (test/fuzz/corpus/*.json): every crash, stall or
//     escaped ERROR found becomes a case there, replayed through validate() and the worker.
//
// The normal run: 1,000,000 + 20,000 cases (target 90 s together, FUZZ_SECONDS_BUDGET; printed
// as met or not: the 2 cores here are shared); test/long runs 5,000,000 + 100,000.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, readdirSync, mkdtempSync, copyFileSync, chmodSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { psql, query, one, lit, skipNoPg, PG_BIN, serverLog } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { canonical, rebuild, schemaInfo, withFilledDt } from '../lib/rebuild.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const BUCKET = 'aws-security-data-lake-us-east-1-fuzzlake';
const USER = { accessKeyId: 'AKIAFUZZTESTUSER0001', secretAccessKey: 'fuzzSecretKeyForTheGate000000000000000001' };
const VALIDATE_CASES = Number(process.env.FUZZ_VALIDATE_CASES ?? 1_000_000);
const WORKER_CASES = Number(process.env.FUZZ_WORKER_CASES ?? 20_000);
const BUDGET_S = Number(process.env.FUZZ_SECONDS_BUDGET ?? 90);
const SEED = Number(process.env.FUZZ_SEED ?? 20261202);
const BATCH = 50_000;
const HOSTILE = Number(process.env.FUZZ_HOSTILE ?? 0.0003);
const STREAMS = Number(process.env.FUZZ_STREAMS ?? 2); // backends validating at once
let gate;
let duck;
let tmp;
let elapsed = 0;
let logStart = 0; // the server log before this file (the crash tests kill -9 on purpose)

const sourceName = (version, classUid) => `f${version.replaceAll('.', '')}_${classUid}`;

function seeds() {
  const dir = join(ROOT, 'test/ocsf/samples');
  const { samples } = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const out = [];
  for (const s of samples.filter((x) => x.class_exists)) {
    const e = JSON.parse(readFileSync(join(dir, s.file), 'utf8'));
    if (typeof e.time !== 'number' || e.time < 1e12) e.time = 1732752000000; // seeds start with a valid time
    out.push({ version: s.ocsf_version, classUid: s.class_uid, event: e });
  }
  for (const c of JSON.parse(readFileSync(join(ROOT, 'test/ocsf/valid/valid.json'), 'utf8'))) {
    if (c.event) out.push({ version: c.ocsf_version, classUid: c.class_uid, event: c.event });
  }
  return out;
}

before(async () => {
  if (skipNoPg) return;
  logStart = serverLog().length;
  tmp = mkdtempSync(join(tmpdir(), 'securitylake-fuzz-'));
  chmodSync(tmp, 0o755);
  const pgConfig = join(PG_BIN, 'pg_config');
  const include = execFileSync(pgConfig, ['--includedir-server'], { encoding: 'utf8' }).trim();
  execFileSync('cc', ['-std=gnu11', '-O2', '-Wall', '-Werror', '-Wmissing-prototypes', '-fPIC', '-shared', `-I${include}`,
    '-o', join(tmp, 'slfuzz.so'), join(ROOT, 'test/fuzz/slfuzz.c')]);
  chmodSync(join(tmp, 'slfuzz.so'), 0o755);
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        CREATE OR REPLACE FUNCTION public.slfuzz_cases(jsonb[], text[], int8, int, float8, bool)
          RETURNS TABLE (i int, source text, event jsonb) LANGUAGE c AS ${lit(join(tmp, 'slfuzz.so'))}, 'slfuzz_cases';
        CREATE OR REPLACE FUNCTION public.slfuzz_validate(jsonb[], text[], int8, int, float8)
          RETURNS jsonb LANGUAGE c AS ${lit(join(tmp, 'slfuzz.so'))}, 'slfuzz_validate';
        DROP TABLE IF EXISTS public.fuzz_seeds, public.fuzz_expect;
        CREATE TABLE public.fuzz_seeds (k int, source text, event jsonb);`);
  const made = new Set();
  const list = seeds();
  list.forEach((s, k) => {
    const name = sourceName(s.version, s.classUid);
    if (!made.has(name)) {
      made.add(name);
      psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, ${s.classUid}, 'us-east-1', '123456789012',
            publish_rate => '1 hour', batch_data_size => 16777216,
            options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true, ocsf_version: s.version }))}::jsonb)`);
    }
    psql(`INSERT INTO public.fuzz_seeds VALUES (${k}, ${lit(name)}, ${lit(JSON.stringify(s.event))}::jsonb)`);
  });
});

after(async () => {
  duck?.close();
  await gate?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const SEEDS_SQL = '(SELECT array_agg(event ORDER BY k) FROM public.fuzz_seeds), (SELECT array_agg(source ORDER BY k) FROM public.fuzz_seeds)';

// psql, asynchronously (the validate batches run in STREAMS backends at once).
function psqlAsync(sql) {
  return new Promise((resolve, reject) => {
    const p = spawn(join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'], { env: process.env });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`psql failed: ${err.trim()}`))));
    p.stdin.end(sql);
  });
}

test(`${VALIDATE_CASES} fuzz cases through validate(): no crash, no escaped or contained ERROR, bounded reasons and memory`, { skip: skipNoPg, timeout: 3_600_000 }, async () => {
  const t0 = Date.now();
  let cases = 0;
  let valid = 0;
  let refused = 0;
  let longest = 0;
  let maxMemory = 0;
  const contained = [];
  const reasons = {};
  const batches = [];
  for (let b = 0, left = VALIDATE_CASES; left > 0; b++, left -= BATCH) batches.push({ seed: SEED + b, n: Math.min(BATCH, left) });
  const run = async () => {
    for (let job = batches.shift(); job; job = batches.shift()) {
      const out = (await psqlAsync(`SELECT public.slfuzz_validate(${SEEDS_SQL}, ${job.seed}, ${job.n}, ${HOSTILE});
                                    SELECT sum(total_bytes) FROM pg_backend_memory_contexts;`)).trim().split('\n');
      const r = JSON.parse(out[0]);
      maxMemory = Math.max(maxMemory, Number(out[1]));
      cases += r.cases;
      valid += r.valid;
      refused += r.refused_at_insert;
      longest = Math.max(longest, r.longest_reason);
      for (const c of r.contained_cases) contained.push({ seed: job.seed, ...c });
      for (const [k, v] of Object.entries(r.reasons)) reasons[k] = (reasons[k] ?? 0) + v;
    }
  };
  await Promise.all(Array.from({ length: STREAMS }, run));
  const seconds = (Date.now() - t0) / 1000;
  elapsed += seconds;
  const top = Object.entries(reasons).sort((a, b) => b[1] - a[1]).slice(0, 8).map(([k, v]) => `${k} ${v}`).join('; ');
  console.log(`fuzz: validate(): ${cases} cases in ${seconds.toFixed(1)} s (${Math.round(cases / seconds)}/s, ${STREAMS} backends), ${valid} valid, ` +
    `${cases - valid} refused, ${refused} texts refused by jsonb and redrawn, longest reason ${longest} B, ` +
    `backend memory at most ${(maxMemory / 1048576).toFixed(1)} MiB; top reasons: ${top}`);
  assert.equal(cases, VALIDATE_CASES);
  assert.deepEqual(contained, [], 'no ERROR was contained as an event\'s failure (each is a bug: add it to test/fuzz/corpus)');
  assert.ok(longest <= 2048, `reasons are bounded (${longest} bytes)`);
  assert.ok(maxMemory < 256 * 1048576, `the backend's memory stays bounded (${maxMemory} bytes)`);
  assert.ok(valid > cases / 20 && valid < cases, 'the mix has valid and refused events');
});

// The worker's private (anonymous) memory, sampled while it drains.
function workerPid() {
  return one(`SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`);
}
function rssAnonKiB(pid) {
  try { return Number(/RssAnon:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]); } catch { return 0; }
}

test(`${WORKER_CASES} fuzz cases through the worker: delivered equal, or dead-lettered with validate()'s reason`, { skip: skipNoPg, timeout: 3_600_000 }, async () => {
  const t0 = Date.now();
  const args = `${SEEDS_SQL}, ${SEED + 1_000_003}, ${WORKER_CASES}, ${HOSTILE * 3}, true`;
  psql(`CREATE TABLE public.fuzz_expect AS SELECT c.i, c.source, securitylake.validate(c.event, c.source) AS reason FROM public.slfuzz_cases(${args}) c;
        INSERT INTO securitylake.queue (source, event) SELECT c.source, c.event FROM public.slfuzz_cases(${args}) c ORDER BY c.i;`);
  const pid = workerPid();
  let peak = rssAnonKiB(pid);
  const sampler = setInterval(() => { peak = Math.max(peak, rssAnonKiB(pid)); }, 50);
  const flushing = new Promise((resolve, reject) => {
    try { resolve(psql(`SELECT count(*) FROM securitylake.flush(NULL, '600 s')`)); } catch (e) { reject(e); }
  });
  await flushing;
  clearInterval(sampler);
  peak = Math.max(peak, rssAnonKiB(pid));
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0, 'the queue drained: no source stalls');
  assert.deepEqual(query('SELECT source, failures, last_error FROM securitylake.source_state WHERE failures > 0'), [], 'no source is failing');
  assert.equal(workerPid(), pid, 'the worker is the one that started (no crash, no restart)');

  // dead letters: exactly the cases validate() refuses, with its reason
  const mismatched = query(`SELECT x.i, x.reason AS validate, d.reason AS worker
      FROM public.fuzz_expect x FULL JOIN securitylake.dead_letter d ON (d.event->>'x_fuzz_case')::int = x.i
     WHERE (x.reason IS NOT NULL OR d.id IS NOT NULL) AND x.reason IS DISTINCT FROM d.reason ORDER BY x.i LIMIT 10`);
  assert.deepEqual(mismatched, [], 'every dead letter has validate()\'s reason, and every refused case is a dead letter');
  const expectedRows = one('SELECT count(*) FROM public.fuzz_expect WHERE reason IS NULL');
  assert.equal(Number(one('SELECT coalesce(sum(rows), 0) FROM securitylake.uploads')), Number(expectedRows), 'every valid case was delivered');

  // delivered: each reads back equal to its input
  const inputs = new Map();
  for (const r of query(`SELECT c.i, c.source, c.event::text AS e FROM public.slfuzz_cases(${args}) c JOIN public.fuzz_expect x USING (i) WHERE x.reason IS NULL`)) {
    inputs.set(r.i, { source: r.source, event: JSON.parse(r.e) });
  }
  const versionOf = Object.fromEntries(query('SELECT name, ocsf_version, class_uid FROM securitylake.source').map((s) => [s.name, s]));
  const differ = [];
  let compared = 0;
  for (const o of storedObjects(gate.dataDir, BUCKET)) {
    const name = o.key.split('/')[1];
    const info = schemaInfo(versionOf[name].ocsf_version, versionOf[name].class_uid);
    for (const r of await duck.rows(`SELECT to_json(t)::VARCHAR AS j FROM read_parquet(${dlit(o.path)}, hive_partitioning = false) t`)) {
      const got = rebuild(JSON.parse(r.j), info);
      const input = inputs.get(got.x_fuzz_case);
      compared++;
      if (!input) { differ.push(`row without a known case: ${r.j.slice(0, 200)}`); continue; }
      inputs.delete(got.x_fuzz_case);
      // an empty own `unmapped` object writes no entry: it reads back absent (README)
      if (input.event.unmapped && typeof input.event.unmapped === 'object' && !Array.isArray(input.event.unmapped) &&
          Object.keys(input.event.unmapped).length === 0) delete input.event.unmapped;
      const want = canonical(withFilledDt(input.event, info));
      const have = canonical(got);
      if (want !== have && differ.length < 5) {
        let at = 0;
        while (at < want.length && want[at] === have[at]) at++;
        differ.push(`case ${got.x_fuzz_case}: want …${want.slice(Math.max(0, at - 100), at + 150)}\n  got  …${have.slice(Math.max(0, at - 100), at + 150)}`);
      }
    }
  }
  assert.equal(inputs.size, 0, 'every delivered case was read back');
  assert.deepEqual(differ, [], 'every delivered case reads back equal to its input');
  const seconds = (Date.now() - t0) / 1000;
  elapsed += seconds;
  const batchSize = Number(one(`SELECT max(batch_data_size) FROM securitylake.source`));
  console.log(`fuzz: worker: ${WORKER_CASES} cases in ${seconds.toFixed(1)} s: ${expectedRows} delivered and read back equal, ` +
    `${WORKER_CASES - expectedRows} dead-lettered with validate()'s reason; worker private memory peak ${(peak / 1024).toFixed(0)} MiB ` +
    `(batch_data_size ${batchSize / 1048576} MiB); fuzz phases 1+2: ${elapsed.toFixed(1)} s`);
  assert.ok(peak * 1024 <= 1.5 * batchSize + 64 * 1048576 + 64 * 1048576, `the worker's private memory stays bounded (${peak} KiB)`);
  // The target is BUDGET_S for phases 1 and 2 on an idle 2-core machine; on a shared one the
  // run is reported against it; a stall shows as a flush that times out or a run over 20 minutes.
  console.log(`fuzz: phases 1+2 took ${elapsed.toFixed(1)} s (target ${BUDGET_S} s: ${elapsed <= BUDGET_S ? 'met' : 'not met on this machine'})`);
  assert.ok(elapsed <= 1200, `no stall: the fuzz run took ${elapsed.toFixed(1)} s`);
});

// A committed case: {name, source: {version, class_uid}, event | build, expect: "valid" | reason}
// "build" makes large events in SQL: {"base": {...}, "key": "x_vendor", "repeat": "[", "times": 200000}.
function corpus() {
  const dir = join(ROOT, 'test/fuzz/corpus');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.json')).flatMap((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')).cases);
}

function eventSql(c) {
  if (c.event) return `${lit(JSON.stringify(c.event))}::jsonb`;
  const b = c.build;
  const value = b.wrap === 'array' ? `jsonb_build_array(repeat(${lit(b.repeat)}, ${b.times}))` : `to_jsonb(repeat(${lit(b.repeat)}, ${b.times}) || ${lit(b.suffix ?? '')})`;
  return `(${lit(JSON.stringify(b.base))}::jsonb || jsonb_build_object(${lit(b.key)}, ${value}))`;
}

test('the regression corpus: validate() and the worker agree, as expected', { skip: skipNoPg, timeout: 600_000 }, () => {
  const cases = corpus();
  assert.ok(cases.length >= 8, 'the corpus has its cases');
  psql('TRUNCATE securitylake.dead_letter');
  const failures = [];
  for (const c of cases) {
    const source = sourceName(c.source.version, c.source.class_uid);
    const v = one(`SELECT securitylake.validate(${eventSql(c)}, ${lit(source)})`);
    const ok = c.expect === 'valid' ? v === null : v !== null && v.includes(c.expect);
    if (!ok) failures.push(`${c.name}: validate() says ${v === null ? 'valid' : `"${v.slice(0, 200)}"`}, expected ${c.expect}`);
    if (c.worker === false) continue;
    psql(`INSERT INTO securitylake.queue (source, event) SELECT ${lit(source)}, ${eventSql(c)} || jsonb_build_object('x_corpus', ${lit(c.name)})`);
  }
  psql(`SELECT count(*) FROM securitylake.flush(NULL, '300 s')`);
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0, 'the corpus drained');
  for (const c of cases.filter((x) => x.worker !== false)) {
    const rows = query(`SELECT reason FROM securitylake.dead_letter WHERE event->>'x_corpus' = ${lit(c.name)}`);
    if (c.expect === 'valid' ? rows.length !== 0 : rows.length !== 1 || !rows[0].reason.includes(c.expect)) {
      failures.push(`${c.name}: the worker ${rows.length ? `dead-lettered it: "${rows[0].reason.slice(0, 200)}"` : 'delivered it'}, expected ${c.expect}`);
    }
  }
  assert.deepEqual(failures, []);
  assert.doesNotMatch(serverLog().slice(logStart), /terminated by signal|server process .* was terminated/, 'no backend crashed while fuzzing');
});
