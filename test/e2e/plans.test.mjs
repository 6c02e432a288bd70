// Routing is defined once and the plans are checked (issue 12.4): every statement that
// reads the queue for one source — the worker's claim, its arrival count, its page
// reads and deletes, flush()'s wait (_flush_pending), status, the sweep's key scan
// (_queued_keys) — goes through the primary key (route_key, id), never a sequential
// scan, with another source's 200,000 rows queued. The worker's statements are taken
// from the C sources themselves and planned as it plans them (its role, its settings,
// one-shot custom plans); the SQL functions' inner statements are caught by auto_explain.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { psql, lit, skipNoPg } from '../lib/pg.mjs';
import { psqlResult } from '../lib/worker.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const OTHER_ROWS = Number(process.env.PLANS_OTHER_ROWS ?? 200000);

// Every SQL statement written as adjacent C string literals in a source file.
function cStatements(file) {
  const src = readFileSync(`${ROOT}/src/${file}`, 'utf8');
  const out = [];
  for (const m of src.matchAll(/(?:"(?:[^"\\\n]|\\.)*"\s*){2,}/g)) {
    const text = [...m[0].matchAll(/"((?:[^"\\\n]|\\.)*)"/g)].map((l) => l[1].replace(/\\"/g, '"')).join('');
    if (/securitylake\.queue [pq]\b/.test(text)) out.push(text);
  }
  return out;
}

function cStatement(file, marker) {
  const found = cStatements(file).filter((s) => s.includes(marker));
  assert.equal(found.length, 1, `one statement of ${file} contains ${marker}: ${JSON.stringify(found)}`);
  return found[0];
}

// The worker's session: its role and the settings it pins (src/loop.c).
const WORKER_SESSION = `SET ROLE securitylake_worker; SET search_path = pg_catalog, pg_temp; SET jit = off;
  SET max_parallel_workers_per_gather = 0; SET work_mem = '4MB'; SET random_page_cost = 4; SET enable_seqscan = on;
  SET enable_indexscan = on; SET enable_bitmapscan = on; SET plan_cache_mode = auto;`;

// What sl_plan_index_probes() (src/step.c) sets for the transaction of the worker's
// claims, page reads, dead-lettering and deletes: planned the same here.
const PROBE_LOCALS = (() => {
  const src = readFileSync(`${ROOT}/src/step.c`, 'utf8');
  const m = /sl_plan_index_probes\(void\)\s*\{[^}]*?settings\[\] = \{([^}]*)\}/.exec(src);
  assert.ok(m, 'src/step.c lists the settings sl_plan_index_probes() turns off');
  return [...m[1].matchAll(/"(\w+)"/g)].map((x) => `SET LOCAL ${x[1]} = off;`).join(' ');
})();

// ... and what sl_plan_tid_scans(true) adds around the statements that name rows by ctid.
const TID_LOCALS = (() => {
  const src = readFileSync(`${ROOT}/src/step.c`, 'utf8');
  const m = /sl_plan_tid_scans\(bool only\)\s*\{[^}]*?settings\[\] = \{([^}]*)\}/.exec(src);
  assert.ok(m, 'src/step.c lists the settings sl_plan_tid_scans() turns off');
  return `${PROBE_LOCALS} ${[...m[1].matchAll(/"(\w+)"/g)].map((x) => `SET LOCAL ${x[1]} = off;`).join(' ')}`;
})();

// EXPLAIN a worker statement: PREPAREd with its parameter types, EXECUTEd with values
// (custom plans, as SPI_execute_with_args makes), after the statement's own SET LOCALs.
function explainWorker(sql, types, args, { setLocal = '' } = {}) {
  const r = psqlResult(`BEGIN; ${WORKER_SESSION} ${setLocal}
    PREPARE s(${types.join(', ')}) AS ${sql};
    EXPLAIN (COSTS OFF) EXECUTE s(${args.join(', ')});
    ROLLBACK;`);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

// The plans of every statement a query runs, nested ones included (auto_explain).
function explainNested(sql) {
  const r = psqlResult(`LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;
    SET auto_explain.log_level = notice; SET client_min_messages = notice; SET auto_explain.log_format = text;
    ${sql}`);
  assert.equal(r.code, 0, r.stderr);
  return r.stderr;
}

// The plan reads the queue through its primary key with route_key in the index
// condition (= a key, or > the last key for the loose scan), and never scans it whole.
function assertByKey(plan, what) {
  assert.doesNotMatch(plan, /Seq Scan on queue/, `${what}: no sequential scan of the queue\n${plan}`);
  assert.match(plan, /Index (Only )?Scan( Backward)? using queue_pkey on queue|Bitmap Index Scan on queue_pkey/, `${what}: the primary key\n${plan}`);
  assert.match(plan, /Index Cond: \(+\(?route_key (=|>) /, `${what}: route_key in the index condition\n${plan}`);
  assert.doesNotMatch(plan, /Bitmap Index Scan on (?!queue_pkey)\w+\s+\([^)]*\)\s+Index Cond: \(route_key/, `${what}: another index\n${plan}`);
}

before(() => {
  if (skipNoPg) return;
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.create_source(n, 's3://aws-security-data-lake-us-east-1-planlake/ext/' || n || '/', NULL, NULL, c, 'us-east-1',
               '123456789012', publish_rate => '1 day', options => '{"enabled": false, "endpoint": "http://127.0.0.1:9"}')
          FROM (VALUES ('big', 3001), ('small', 3002)) v(n, c);
        INSERT INTO securitylake.queue (source, event)
          SELECT 'big', jsonb_build_object('class_uid', 3001, 'time', 1795000000000 + i, 'message', repeat('x', 200)) FROM generate_series(1, ${OTHER_ROWS}) i;
        INSERT INTO securitylake.queue (source, event)
          SELECT NULL, jsonb_build_object('class_uid', 3002, 'time', 1795000000000 + i) FROM generate_series(1, 500) i;
        INSERT INTO securitylake.queue (source, event)
          SELECT 'small', jsonb_build_object('class_uid', 3002, 'time', 1795000000000 + i) FROM generate_series(1, 500) i;
        VACUUM ANALYZE securitylake.queue;`);
});

after(() => {
  if (skipNoPg) return;
  psql(`DELETE FROM securitylake.queue; DROP EXTENSION securitylake CASCADE; CREATE EXTENSION securitylake;`);
});

// The statements that find a batch's rows by id, as the worker plans them.
function probeStatements(key, ids) {
  const n = JSON.parse(ids.replace(/^'\{/, '[').replace(/\}'$/, ']')).length;
  return {
    'page read': explainWorker(cStatement('deliver.c', 'SELECT i.id, q.event'), ['text[]', 'bigint[]'], [lit(`{${key}}`), ids], { setLocal: PROBE_LOCALS }),
    'commit delete': explainWorker(cStatement('commit.c', 'q.id OPERATOR(pg_catalog.>=) $2'), ['text[]', 'bigint', 'bigint', 'bigint[]'],
      [lit(`{${key}}`), '1', String(OTHER_ROWS * 4), ids], { setLocal: PROBE_LOCALS }),
    'dead letters': explainWorker(cStatement('batches.c', 'INSERT INTO securitylake.dead_letter'), ['text', 'bigint[]', 'text[]', 'text[]'],
      [lit(key), ids, lit(`{${Array(n).fill('r').join(',')}}`), lit(`{${key}}`)], { setLocal: PROBE_LOCALS }),
  };
}

// The statement that goes to the rows where the page read found them (src/commit.c; the page
// read itself fetches them from the heap without SQL): a TID scan, whatever the statistics;
// the key and the id only filter.
function tidStatements(key, tids, ids) {
  return {
    'commit delete by TID': explainWorker(cStatement('commit.c', 'WHERE q.ctid'), ['text[]', 'tid[]', 'bigint[]'],
      [lit(`{${key}}`), tids, ids], { setLocal: TID_LOCALS }),
  };
}

function assertTidScan(plan, what) {
  assert.match(plan, /Tid Scan on queue q/, `${what}: a TID scan\n${plan}`);
  assert.match(plan, /TID Cond: \(ctid = ANY/, `${what}: the TIDs as its condition\n${plan}`);
  assert.doesNotMatch(plan, /Seq Scan|Index Scan|Index Only Scan|Bitmap/, `${what}: no other scan\n${plan}`);
}

const smallIds = () => lit(psql(`SELECT array_agg(id) FROM securitylake.queue WHERE route_key = 'small'`).trim());

test('the worker\'s statements on the queue use the (route_key, id) primary key', { skip: skipNoPg }, () => {
  const SMALL_IDS = smallIds();
  const claim = cStatement('claim.c', 'ORDER BY q.id');
  assert.match(readFileSync(`${ROOT}/src/claim.c`, 'utf8'), /sl_plan_index_probes\(\);\s+values\[0\]/, 'the claim plans index probes');
  const plans = {
    claim: explainWorker(claim, ['text', 'bigint'], [lit('small'), '0'], { setLocal: PROBE_LOCALS }),
    'claim (from the head, no SET LOCAL)': explainWorker(claim, ['text', 'bigint'], [lit('small'), '0']),
    'claim of the routing key #3002': explainWorker(claim, ['text', 'bigint'], [lit('#3002'), '0'], { setLocal: PROBE_LOCALS }),
    'arrival count': explainWorker(cStatement('schedule.c', 'pg_catalog.count(*)'), ['text', 'bigint', 'bigint', 'bigint'], [lit('small'), '0', '200000', String(OTHER_ROWS * 2)]),
    ...probeStatements('small', SMALL_IDS),
  };
  const failed = [];
  for (const [what, plan] of Object.entries(plans)) { try { assertByKey(plan, what); } catch (e) { failed.push(e.message); } }
  assert.deepEqual(failed, []);
});

test('flush()\'s wait, status and the sweep\'s key scan use the (route_key, id) primary key', { skip: skipNoPg }, () => {
  const plans = {
    '_flush_pending (one source)': explainNested(`SELECT securitylake._flush_pending('small', ${OTHER_ROWS * 2});`),
    '_flush_pending (all sources)': explainNested(`SELECT securitylake._flush_pending(NULL, ${OTHER_ROWS * 2});`),
    '_flush_skipped': explainNested(`SELECT securitylake._flush_skipped(${OTHER_ROWS * 2});`),
    status: explainNested(`SELECT * FROM securitylake.status;`),
    'status of one source': explainNested(`SELECT * FROM securitylake.status WHERE source = 'small';`),
    '_queued_keys (the sweep)': explainNested(`SELECT * FROM securitylake._queued_keys();`),
  };
  const failed = [];
  for (const [what, plan] of Object.entries(plans)) {
    assert.match(plan, /Query Text:/, `${what}: auto_explain reported the plans`);
    try { assertByKey(plan, what); } catch (e) { failed.push(e.message); }
  }
  assert.deepEqual(failed, []);
});

// The page read and the dead-lettering probe the index once per id: (route_key, id) both in
// the index condition of the inner side of a nested loop over the ids, whatever the
// statistics. Planned for a key whose 20,000 rows came after the last ANALYZE (the planner
// takes it for a rare key): a plan from such statistics once made the key's rows the outer
// side, each compared with the page's 2000 ids, or read them all for each page.
test('with statistics from before a key\'s rows arrived, the page read and the dead-lettering probe the index per id', { skip: skipNoPg }, () => {
  psql(`SELECT securitylake.create_source('late', 's3://aws-security-data-lake-us-east-1-planlake/ext/late/', NULL, NULL, 3002, 'us-east-1',
               '123456789012', publish_rate => '1 day', options => '{"enabled": false, "endpoint": "http://127.0.0.1:9"}');
        ALTER TABLE securitylake.queue SET (autovacuum_enabled = false);
        INSERT INTO securitylake.queue (source, event)
          SELECT 'late', jsonb_build_object('class_uid', 3002, 'time', 1795000000000 + i, 'message', repeat('y', 300)) FROM generate_series(1, 20000) i;`);
  try {
    const ids = lit(psql(`SELECT array_agg(id) FROM (SELECT id FROM securitylake.queue WHERE route_key = 'late' ORDER BY id LIMIT 2000 OFFSET 9000) x`).trim());
    const plans = probeStatements('late', ids);
    const failed = [];
    for (const what of ['page read', 'dead letters']) {
      const plan = plans[what];
      try {
        assert.match(plan, /Nested Loop/, `${what}: a nested loop over the ids\n${plan}`);
        assert.match(plan, /Index Cond: \(\(route_key = ANY \([^)]*\)\) AND \(id = [a-z]\.id\)\)/, `${what}: route_key and id in the index condition\n${plan}`);
        assert.doesNotMatch(plan, /Filter: \(.*id = /, `${what}: ids not compared in a filter\n${plan}`);
      } catch (e) { failed.push(e.message); }
    }
    try { assertByKey(plans['commit delete'], 'commit delete'); } catch (e) { failed.push(e.message); }
    const tids = lit(psql(`SELECT array_agg(ctid) FROM (SELECT ctid FROM securitylake.queue WHERE route_key = 'late' ORDER BY id LIMIT 2000 OFFSET 9000) x`).trim());
    for (const [what, plan] of Object.entries(tidStatements('late', tids, ids))) {
      try { assertTidScan(plan, what); } catch (e) { failed.push(e.message); }
    }
    assert.deepEqual(failed, []);
  } finally {
    psql(`ALTER TABLE securitylake.queue RESET (autovacuum_enabled); DELETE FROM securitylake.queue WHERE source = 'late'`);
  }
});
