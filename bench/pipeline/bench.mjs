// Driven by bench/pipeline/run.sh (cluster + gate already running).
import { writeFileSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, PG_BIN } from '../../test/lib/pg.mjs';
import { AUTH_SCHEMA, authEvents } from '../../test/e2e/fixtures.mjs';

const EVENTS = Number(process.env.EVENTS ?? 200000);
const MANY = Number(process.env.MANY ?? 1000000);
const FEW = 10000;
// PARTS="queued" runs only the few-vs-many part; "rates" only parts 1-4; "large" the large events.
const PARTS = new Set((process.env.PARTS ?? 'rates queued large').split(/\s+/));
const TMP = process.env.BENCH_TMP;
const AKID = 'AKIADEMOUSER00000001';
const SECRET = 'demoSecretKeyForTheLocalGate000000000001';
const BUCKET = 'aws-security-data-lake-us-east-1-demolake';
const now = () => Number(process.hrtime.bigint()) / 1e9;

function eventsFile(n, seed) {
  const path = `${TMP}/events-${n}-${seed}.txt`;
  const chunk = 100000;
  writeFileSync(path, '');
  for (let i = 0; i < n; i += chunk) {
    const evs = authEvents(Math.min(chunk, n - i), { days: 3, seed: seed * 1000 + i / chunk });
    writeFileSync(path, evs.map((e) => JSON.stringify(e).replaceAll('\\', '\\\\')).join('\n') + '\n', { flag: 'a' });
  }
  spawnSync('chmod', ['644', path]);
  return path;
}

function setSource(opts) {
  const sets = Object.entries(opts).map(([k, v]) => `${k} = ${v}`).join(', ');
  psql(`UPDATE securitylake.source SET ${sets} WHERE name = 'bench'`);
}

function workerPid() {
  return one(`SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE backend_type = 'securitylake worker'`);
}

// The worker's private memory (RssAnon): VmHWM would also count the shared buffers
// it touched, which belong to the whole server.
function rssAnonMiB(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/RssAnon:\s+(\d+) kB/.exec(status)[1]) / 1024;
  } catch { return 0; }
}

// flush() in a child process while sampling the worker's RssAnon every 50 ms.
async function flushSamplingRss(pid) {
  const { spawn } = await import('node:child_process');
  const p = spawn(`${PG_BIN}/psql`, ['-X', '-q', '-c', "SELECT count(*) FROM securitylake.flush('bench', '30 min')"], { stdio: 'ignore' });
  let peak = rssAnonMiB(pid);
  let done = false;
  p.on('exit', () => { done = true; });
  while (!done) {
    peak = Math.max(peak, rssAnonMiB(pid));
    await sleep(50);
  }
  return peak;
}

async function restartWorker() {
  const old = workerPid();
  if (old) process.kill(old, 'SIGTERM');
  for (let i = 0; i < 200; i++) {
    await sleep(100);
    const pid = workerPid();
    if (pid && pid !== old) return pid;
  }
  throw new Error('worker did not restart');
}

// STATEMENTS=1: where the drain's time went, by statement (pg_stat_statements, loaded by the
// bench's cluster with track = all so the worker's own statements count).
function printStatements(events) {
  const rows = psql(`SELECT round(total_exec_time)::int || ' ms ' || calls || ' calls ' || rows || ' rows: ' ||
      regexp_replace(left(query, 150), '\\s+', ' ', 'g')
    FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 15`);
  console.log(`statements by time for ${events} events drained:\n${rows}`);
}

function copyTimed(path) {
  const t0 = now();
  psql(`COPY securitylake.queue (event) FROM ${lit(path)}`);
  return now() - t0;
}

// Where the worker's wall time goes during one flush(): its /proc state and the system call
// it is blocked in, sampled every 5 ms by a child process (this one blocks in psql).
// x86-64 numbers: poll is libcurl waiting on S3 (curl_multi_poll), epoll_wait PostgreSQL's
// latch, pread64 heap pages from the OS, futex the join of the part in flight (its thread
// still sending when the next part is full), the rest writes, fsyncs and other waits. Only
// the worker's main thread is sampled.
const SAMPLER = `
const { readFileSync } = require('node:fs');
const pid = process.argv[1];
const tally = {};
const names = { 7: 'S3 (poll)', 271: 'S3 (poll)', 232: 'latch (epoll_wait)', 281: 'latch (epoll_wait)', 17: 'heap read (pread64)', 0: 'read', 1: 'write', 18: 'pwrite64', 74: 'fsync', 75: 'fdatasync', 202: 'the part in flight (futex: pthread_join)' };
function sample() {
  try {
    const state = readFileSync('/proc/' + pid + '/stat', 'utf8').split(') ')[1][0];
    let k = 'CPU';
    if (state !== 'R') {
      const sc = readFileSync('/proc/' + pid + '/syscall', 'utf8').split(' ')[0].trim();
      k = sc === 'running' ? 'CPU' : names[sc] ?? ('syscall ' + sc);
    }
    tally[k] = (tally[k] ?? 0) + 1;
  } catch {}
}
setInterval(sample, 5);
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify(tally)); process.exit(0); });
`;

async function flushSamplingStates(pid) {
  const { spawn } = await import('node:child_process');
  const sampler = spawn(process.execPath, ['-e', SAMPLER, String(pid)], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  sampler.stdout.on('data', (d) => { out += d; });
  const sampled = new Promise((r) => sampler.on('exit', r));
  await sleep(100);
  const t0 = now();
  const p = spawn(`${PG_BIN}/psql`, ['-X', '-q', '-c', "SELECT count(*) FROM securitylake.flush('bench', '30 min')"], { stdio: 'ignore' });
  await new Promise((r) => p.on('exit', r));
  const seconds = now() - t0;
  sampler.kill('SIGTERM');
  await sampled;
  let tally = {};
  try { tally = JSON.parse(out); } catch {}
  const total = Object.values(tally).reduce((a, b) => a + b, 0) || 1;
  const shares = Object.entries(tally).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${(100 * n / total).toFixed(0)}%`);
  return { seconds, shares: shares.join(', ') };
}

function flushTimed() {
  const t0 = now();
  psql(`SELECT count(*) FROM securitylake.flush('bench', '30 min')`);
  return now() - t0;
}

function pgbench(clients, seconds, file) {
  const r = spawnSync(`${PG_BIN}/pgbench`, ['-n', '-c', String(clients), '-j', String(clients), '-T', String(seconds), '-f', file, '-h', process.env.PGHOST, '-p', process.env.PGPORT, '-U', 'postgres', 'bench'], { encoding: 'utf8' });
  const m = /tps = ([0-9.]+) \(without initial connection time\)/.exec(r.stdout);
  if (!m) throw new Error(r.stdout + r.stderr);
  return Number(m[1]);
}

psql(`CREATE EXTENSION securitylake;
      SELECT securitylake.set_credentials(${lit(AKID)}, ${lit(SECRET)});
      SELECT securitylake.create_source('bench', 's3://${BUCKET}/ext/bench/1.0/', NULL, NULL, 3002, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, batch_record_count => 1000000, batch_data_size => 268435456,
        publish_rate => '1 day', options => ${lit(JSON.stringify({ endpoint: process.env.GATE_URL, force_path_style: true }))}::jsonb);`);

const main = eventsFile(EVENTS, 1);
const avgBytes = Number(one(`SELECT 1`)) && readFileSync(main).length / EVENTS;
console.log(`events: ${EVENTS} OCSF Authentication events, ~${avgBytes.toFixed(0)} B of JSON each; ` +
  `server: fsync on, shared_buffers ${one(`SELECT current_setting('shared_buffers')`)}`);

if (PARTS.has('rates')) {
  // 1. One producer's COPY rate vs the drain rate, same events: ROUNDS rounds of COPY then
  // flush(), medians reported (this VM's run-to-run noise is large).
  const ROUNDS = Number(process.env.ROUNDS ?? 5);
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const rounds = [];
  if (process.env.STATEMENTS) psql(`CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()`);
  for (let r = 0; r < ROUNDS; r++) {
    const copySeconds = copyTimed(main);
    const drainSeconds = flushTimed();
    rounds.push({ copy: EVENTS / copySeconds, drain: EVENTS / drainSeconds });
  }
  if (process.env.STATEMENTS) printStatements(EVENTS * ROUNDS);
  const copyRate = median(rounds.map((r) => r.copy));
  const drainRate = median(rounds.map((r) => r.drain));
  console.log(`rounds (COPY, drain events/s): ${rounds.map((r) => `${r.copy.toFixed(0)}/${r.drain.toFixed(0)}`).join(' ')}; ` +
    `per-round drain/COPY ${rounds.map((r) => (r.drain / r.copy).toFixed(2)).join(' ')}`);

  // 2. One producer's autocommit single-row INSERT rate.
  const one1 = `${TMP}/insert.sql`;
  writeFileSync(one1, `INSERT INTO securitylake.queue (event) VALUES ('${JSON.stringify(authEvents(1, { seed: 9 })[0]).replaceAll("'", "''")}');\n`);
  setSource({ enabled: false });
  const insertRate = pgbench(1, 10, one1);
  psql(`DELETE FROM securitylake.queue`);
  console.log(`drain ${drainRate.toFixed(0)} events/s (median); one producer: COPY ${copyRate.toFixed(0)} events/s, autocommit INSERT ${insertRate.toFixed(0)} events/s`);
  console.log(`ratio drain/COPY = ${(drainRate / copyRate).toFixed(2)} (target >= 1.0); drain/INSERT = ${(drainRate / insertRate).toFixed(1)} (target >= 20)`);

  // 3. Producers (8 sessions, autocommit INSERT) without and with the worker draining.
  const without = pgbench(8, 15, one1);
  psql(`DELETE FROM securitylake.queue; VACUUM securitylake.queue`);
  setSource({ enabled: true, batch_record_count: 20000, publish_rate: "'1 second'" });
  const withWorker = pgbench(8, 15, one1);
  const depth = one('SELECT count(*) FROM securitylake.queue');
  flushTimed();
  console.log(`8 producers: ${without.toFixed(0)} inserts/s without the worker, ${withWorker.toFixed(0)} with it draining = ${(100 * withWorker / without).toFixed(0)}% (target >= 90%); queue depth at the end ${depth}`);
  setSource({ batch_record_count: 1000000, publish_rate: "'1 day'" });

  // 4. Worker peak RSS against batch_data_size.
  for (const mib of [16, 64]) {
    setSource({ batch_data_size: mib * 1048576 });
    const pid = await restartWorker();
    copyTimed(main);
    const rss = await flushSamplingRss(pid);
    console.log(`batch_data_size ${mib} MiB: worker peak private RSS ${rss.toFixed(0)} MiB (target <= ${(1.5 * mib + 64).toFixed(0)} MiB)`);
  }
  setSource({ batch_data_size: 268435456, batch_record_count: 10000 });

}

if (PARTS.has('queued')) {
  // 5. Drain cost per event with few vs many rows queued: the worker's own time per event,
  // from the first to the last upload of one flush (batches of 1,000; flush()'s wake-up and
  // polling, a fixed cost per call, would otherwise dominate the 10k case).
  setSource({ batch_data_size: 268435456, batch_record_count: 1000 });
  const workerUsPerEvent = (path) => {
    const mark = one('SELECT coalesce(max(id), 0) FROM securitylake.uploads');
    copyTimed(path);
    const seconds = flushTimed();
    const r = one(`SELECT extract(epoch FROM max(finished_at) - min(finished_at)) * 1e6 AS us,
                          sum(rows) - (array_agg(rows ORDER BY id))[1] AS rows
                     FROM securitylake.uploads WHERE id > ${mark}`);
    return { us: Number(r.us) / Number(r.rows), seconds };
  };
  const few = eventsFile(FEW, 2);
  const fewRuns = [workerUsPerEvent(few), workerUsPerEvent(few), workerUsPerEvent(few)];
  const fewUs = fewRuns.map((r) => r.us).sort((a, b) => a - b)[1];
  const many = eventsFile(MANY, 3);
  const manyRun = workerUsPerEvent(many);
  console.log(`drain cost per event (worker time, batches of 1,000): ${fewUs.toFixed(1)} us with ${FEW} queued (median of 3), ` +
    `${manyRun.us.toFixed(1)} us with ${MANY} queued; ratio ${(manyRun.us / fewUs).toFixed(2)} (target within 0.8..1.2)`);
  console.log(`  (whole flush() calls, wake-up and polling included: ${(FEW / fewRuns[1].seconds).toFixed(0)} events/s for ${FEW}, ${(MANY / manyRun.seconds).toFixed(0)} events/s for ${MANY})`);
}
if (PARTS.has('large')) {
  // 6. Large events (~1.5 KB of high-entropy text each, one partition): the drain rate in
  // events/s and MB/s of JSON, and what bounds it — the worker's CPU time against the
  // flush's wall time (near 100%: the worker's encoding, zstd and jsonb reading; well
  // below: waiting on PostgreSQL or S3).
  const N = Number(process.env.LARGE_EVENTS ?? 200000);
  setSource({ batch_data_size: 268435456, batch_record_count: 'NULL' });
  psql(`SELECT securitylake.alter_source('bench', options => '{"object_size": 268435456}')`);
  psql(`INSERT INTO securitylake.queue (source, event)
          SELECT 'bench', jsonb_build_object('class_uid', 3002, 'category_uid', 3, 'activity_id', 1, 'severity_id', 1, 'type_uid', 300201,
                   'time', 1764633600000 + i, 'metadata', jsonb_build_object('version', '1.1.0', 'uid', 'large-' || i,
                   'product', jsonb_build_object('name', 'bench', 'vendor_name', 'bench')),
                   'message', (SELECT string_agg(md5(i::text || ':' || j::text), '') FROM generate_series(1, 44) j))
            FROM generate_series(1, ${N}) i`);
  const rawBytes = Number(one(`SELECT sum(securitylake._raw_size(event)) FROM securitylake.queue`));
  const pid = workerPid();
  const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
  const cpu0 = cpu();
  if (process.env.STATEMENTS) psql(`SELECT pg_stat_statements_reset()`);
  const { seconds, shares } = await flushSamplingStates(pid);
  if (process.env.STATEMENTS) printStatements(N);
  const cpuSeconds = cpu() - cpu0;
  console.log(`large events: ${N} of ~${(rawBytes / N).toFixed(0)} B (high-entropy text): drained in ${seconds.toFixed(1)} s = ` +
    `${(N / seconds).toFixed(0)} events/s, ${(rawBytes / seconds / 1e6).toFixed(1)} MB/s of JSON; the worker's CPU ${cpuSeconds.toFixed(1)} s ` +
    `= ${(100 * cpuSeconds / seconds).toFixed(0)}% of the wall time (near 100%: bound by the worker's own encoding on one core)`);
  console.log(`  the worker's wall time, sampled every 5 ms: ${shares}`);
}
const bloat = one(`SELECT pg_size_pretty(pg_total_relation_size('securitylake.queue'))`);
console.log(`queue relation size after the runs (autovacuum keeps up?): ${bloat}`);
