// Driven by bench/isolation/run.sh (a durable cluster already running; see there).
import { writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, PG_BIN } from '../../test/lib/pg.mjs';
import { startGate } from '../../test/lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from '../../test/e2e/fixtures.mjs';

const OTHER = Number(process.env.OTHER ?? 10000000);       // rows of source A queued
const B_EVENTS = Number(process.env.B_EVENTS ?? 20000);    // events of source B per round
const B_BATCH = Number(process.env.B_BATCH ?? 1000);       // B's batch_record_count
const ROUNDS = Number(process.env.ROUNDS ?? 5);
const INSERT_SECONDS = Number(process.env.INSERT_SECONDS ?? 10);
const COPY_EVENTS = Number(process.env.COPY_EVENTS ?? 200000);
const PARTS = new Set((process.env.PARTS ?? 'hol producers').split(/\s+/));
const TMP = process.env.BENCH_TMP;
const USER = { accessKeyId: 'AKIABENCHUSER0000001', secretAccessKey: 'benchSecretKeyForTheLocalGate00000000001' };
const BUCKET = 'aws-security-data-lake-us-east-1-benchlake';
const now = () => Number(process.hrtime.bigint()) / 1e9;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (x, d = 1) => x.toFixed(d);

// COPY text lines: tab-separated columns, backslashes doubled.
function copyFile(name, lines) {
  const path = `${TMP}/${name}`;
  writeFileSync(path, lines.map((cols) => cols.map((c) => c.replaceAll('\\', '\\\\')).join('\t')).join('\n') + '\n');
  spawnSync('chmod', ['644', path]);
  return path;
}

function pgbench(clients, seconds, sql) {
  const file = `${TMP}/pgbench-${clients}.sql`;
  writeFileSync(file, sql + '\n');
  const r = spawnSync(`${PG_BIN}/pgbench`, ['-n', '-c', String(clients), '-j', String(clients), '-T', String(seconds), '-f', file], { encoding: 'utf8' });
  const m = /tps = ([0-9.]+) \(without initial connection time\)/.exec(r.stdout);
  if (!m) throw new Error(r.stdout + r.stderr);
  return Number(m[1]);
}

function createSource(name, classUid, options, extra = '') {
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/1.0/', NULL, NULL, ${classUid}, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 day', options => ${lit(JSON.stringify(options))}::jsonb ${extra})`);
}

const enable = (name, on) => psql(`SELECT securitylake.alter_source(${lit(name)}, options => ${lit(JSON.stringify({ enabled: on }))}::jsonb)`);

let gate;
if (PARTS.has('hol')) gate = await startGate({ users: [USER], buckets: [BUCKET] });
psql(`CREATE EXTENSION securitylake; SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
      ALTER SYSTEM SET securitylake.max_backoff = '30s'; SELECT pg_reload_conf();`);

// ---------------------------------------------------------------------------------
// 1. Head-of-line: source B's cost per event with source A's backlog queued.
// ---------------------------------------------------------------------------------
if (PARTS.has('hol')) {
  createSource('b', 3002, { endpoint: gate.url, force_path_style: true }, `, batch_record_count => ${B_BATCH}`);
  // A's endpoint refuses connections (nothing listens on port 9): every attempt fails.
  createSource('a', 3001, { endpoint: 'http://127.0.0.1:9', force_path_style: true, enabled: false });
  let seed = 0;
  const bFile = () => copyFile(`b-${seed}.txt`, authEvents(B_EVENTS, { seed: 1000 + seed++ }).map((e) => ['b', JSON.stringify(e)]));

  // One round: COPY B's events, flush('b'); the flush's wall time, and the worker's own
  // time per event from its first to its last upload (the first batch's rows excluded).
  const roundB = (path) => {
    const mark = one(`SELECT coalesce(max(id), 0) FROM securitylake.uploads`);
    psql(`COPY securitylake.queue (source, event) FROM ${lit(path)}`);
    const t0 = now();
    psql(`SELECT count(*) FROM securitylake.flush('b', '30 min')`);
    const seconds = now() - t0;
    const w = one(`SELECT json_build_object('us', extract(epoch FROM max(finished_at) - min(finished_at)) * 1e6,
                                            'rows', sum(rows) - (array_agg(rows ORDER BY id))[1], 'all', sum(rows))
                     FROM securitylake.uploads WHERE id > ${mark} AND source = 'b'`);
    if (Number(w.all) !== B_EVENTS) throw new Error(`round delivered ${w.all} of ${B_EVENTS} events`);
    return { flushUs: seconds * 1e6 / B_EVENTS, workerUs: w.us / w.rows };
  };
  const files = Array.from({ length: ROUNDS + 1 }, bFile);
  const measure = (label) => {
    roundB(files[0]);   // warm-up (not counted)
    const rounds = files.slice(1).map(roundB);
    const r = { label, flushUs: median(rounds.map((x) => x.flushUs)), workerUs: median(rounds.map((x) => x.workerUs)) };
    console.log(`  ${label}: flush() ${fmt(r.flushUs)} us/event, worker ${fmt(r.workerUs)} us/event ` +
      `(rounds: ${rounds.map((x) => `${fmt(x.flushUs)}/${fmt(x.workerUs)}`).join(' ')})`);
    return r;
  };

  console.log(`head-of-line: source B, ${B_EVENTS} events per round in batches of ${B_BATCH}, median of ${ROUNDS} rounds (flush us/event / worker us/event):`);
  const none = measure('nothing else queued');

  const t0 = now();
  for (let done = 0; done < OTHER; done += 1000000) {
    psql(`INSERT INTO securitylake.queue (source, event)
          SELECT 'a', jsonb_build_object('class_uid', 3001, 'time', 1795000000000 + i, 'metadata', jsonb_build_object('uid', 'a-' || i))
            FROM generate_series(${done + 1}, ${Math.min(OTHER, done + 1000000)}) i`);
  }
  psql(`VACUUM ANALYZE securitylake.queue`);
  console.log(`  (${OTHER} rows of source A queued in ${fmt(now() - t0, 0)} s; queue ${one(`SELECT pg_size_pretty(pg_total_relation_size('securitylake.queue'))`)})`);
  const disabled = measure(`${OTHER} rows of A queued, A disabled`);

  enable('a', true);
  spawnSync(`${PG_BIN}/psql`, ['-X', '-q', '-c', `SELECT count(*) FROM securitylake.flush('a', '1 s')`], { encoding: 'utf8' });
  for (let i = 0; i < 1200 && one(`SELECT coalesce(failures, 0) FROM securitylake.source_state WHERE source = 'a'`) === 0; i++) await sleep(500);
  const aState = () => one(`SELECT json_build_object('failures', st.failures, 'pending', (SELECT count(*) FROM securitylake.batch WHERE source = 'a'),
                                                     'rows', (SELECT sum(cardinality(ids)) FROM securitylake.batch WHERE source = 'a'))
                              FROM securitylake.source_state st WHERE st.source = 'a'`);
  const before = aState();
  const failing = measure(`${OTHER} rows of A queued, A failing every attempt`);
  const after = aState();
  console.log(`  (A: ${before.failures} failed attempts before, ${after.failures} after; ${after.pending} pending batch(es) of ${after.rows} rows)`);
  enable('a', false);
  enable('b', false);

  const ratio = (x) => `${fmt(x.flushUs / none.flushUs, 2)}x flush, ${fmt(x.workerUs / none.workerUs, 2)}x worker`;
  console.log(`head-of-line ratio (target <= 1.2): A disabled ${ratio(disabled)}; A failing ${ratio(failing)}`);
  psql(`DELETE FROM securitylake.batch; TRUNCATE securitylake.queue; CHECKPOINT`);
}

// ---------------------------------------------------------------------------------
// 2. Producers: the queue's layout against 0.1.0's, INSERT and COPY.
// ---------------------------------------------------------------------------------
if (PARTS.has('producers')) {
  // Rows of class 3002 stay queued: a disabled source takes them (no worker, no sweep).
  if (!PARTS.has('hol')) createSource('b', 3002, { endpoint: 'http://127.0.0.1:9', enabled: false });
  psql(`CREATE TABLE public.queue_010 (
          id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
          source      text,
          event       jsonb NOT NULL,
          region      text,
          account_id  text,
          enqueued_at timestamptz NOT NULL DEFAULT now());
        ALTER TABLE public.queue_010 SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.05,
                                          autovacuum_vacuum_cost_delay = 0);`);
  const event = JSON.stringify(authEvents(1, { seed: 9 })[0]);
  const copyPath = copyFile('producers.txt', authEvents(COPY_EVENTS, { days: 3, seed: 77 }).map((e) => [JSON.stringify(e)]));
  const layouts = { '0.1.0': 'public.queue_010', current: 'securitylake.queue' };
  const fresh = (table) => psql(`TRUNCATE ${table}; CHECKPOINT;`);
  const results = { '0.1.0': [], current: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of r % 2 ? ['current', '0.1.0'] : ['0.1.0', 'current']) {
      const table = layouts[name];
      const insert = `INSERT INTO ${table} (event) VALUES (${lit(event)});`;
      fresh(table);
      const insert1 = pgbench(1, INSERT_SECONDS, insert);
      fresh(table);
      const insert8 = pgbench(8, INSERT_SECONDS, insert);
      fresh(table);
      const t0 = now();
      psql(`COPY ${table} (event) FROM ${lit(copyPath)}`);
      const copy = COPY_EVENTS / (now() - t0);
      results[name].push({ insert1, insert8, copy });
    }
  }
  fresh('securitylake.queue');
  fresh('public.queue_010');
  console.log(`producers (durable cluster, median of ${ROUNDS} alternating rounds; rows/s):`);
  const med = (name, k) => median(results[name].map((x) => x[k]));
  for (const [k, what] of [['insert1', 'INSERT, 1 session, autocommit'], ['insert8', 'INSERT, 8 sessions, autocommit'], ['copy', `COPY of ${COPY_EVENTS} events`]]) {
    const o = med('0.1.0', k);
    const c = med('current', k);
    console.log(`  ${what}: 0.1.0 layout ${fmt(o, 0)}, current ${fmt(c, 0)} = ${fmt(c / o, 3)}x (target >= 0.95) ` +
      `(rounds 0.1.0 ${results['0.1.0'].map((x) => fmt(x[k], 0)).join(' ')}; current ${results.current.map((x) => fmt(x[k], 0)).join(' ')})`);
  }
}

psql(`ALTER SYSTEM RESET securitylake.max_backoff; SELECT pg_reload_conf();`);
await gate?.stop();
