// What operators alert on: securitylake.metrics and dead_letter_metrics hold the real
// queue depth and lag, deliveries, failures with their AWS error code and dead letters per
// reason class; they read the queue through its primary key only; and
// docs/postgres_exporter.yaml, served by a real postgres_exporter connected as a pg_monitor
// member, exposes exactly the names, labels and types it declares.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse as parseYaml } from 'yaml';
import { psql, query, one, lit, skipNoPg, PG_BIN } from '../lib/pg.mjs';
import { sqlError } from '../lib/sqlerror.mjs';
import { startGate } from '../lib/gate.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const EXPORTER_FILE = `${ROOT}docs/postgres_exporter.yaml`;
const EXPORTER_BIN = '/usr/bin/prometheus-postgres-exporter';
const BUCKET = 'aws-security-data-lake-us-east-1-metricslake';
const USER = { accessKeyId: 'AKIAMETRICSTEST00001', secretAccessKey: 'metricsSecretKey/ForTheGate0000000000001' };
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-m_ok-us-east-1';
const MONITOR = 'sl_metrics_monitor';
let gate;

function createSource(name, classUid, { externalId = 'metrics-ext-id', role = ROLE, extra = {} } = {}) {
  const options = { endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true, ...extra };
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/1.0/', ${lit(role)}, ${lit(externalId)}, ${classUid},
        'us-east-1', '123456789012', publish_rate => '1 hour', options => ${lit(JSON.stringify(options))}::jsonb)`);
}

const event = (uid, extra = {}) => ({
  class_uid: 3002, category_uid: 3, activity_id: 1, type_uid: 300201, severity_id: 1, time: Date.UTC(2026, 10, 20, 8),
  metadata: { version: '1.1.0', uid, product: { name: 'metrics-test', vendor_name: 'securitylake' } }, user: { name: 'bob' }, ...extra,
});
const row = (source, e, age = '0') => `(${lit(source)}, ${lit(JSON.stringify(e))}, now() - interval ${lit(age)})`;
const metricsOf = (source) => one(`SELECT row_to_json(m) FROM securitylake.metrics m WHERE source = ${lit(source)}`);

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({
    users: [USER], buckets: [BUCKET],
    roles: [{ roleArn: ROLE, externalId: 'metrics-ext-id', maxSessionDuration: 3600 }],
  });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});
        DROP ROLE IF EXISTS ${MONITOR}; CREATE ROLE ${MONITOR} LOGIN IN ROLE pg_monitor;`);
  createSource('m_ok', 3002);
  createSource('m_bad', 3002, { externalId: 'not-the-agreed-id' });   // rows name it: m_ok routes the class
});

after(async () => {
  if (!skipNoPg) psql(`DROP ROLE IF EXISTS ${MONITOR}`);
  await gate?.stop();
});

test('metrics: queue depth and lag, deliveries, failures with their error code, dead letters per reason class', { skip: skipNoPg }, async () => {
  // 40 events queued ten minutes ago, three that break rules, one no source takes.
  psql(`INSERT INTO securitylake.queue (source, event, enqueued_at) VALUES
        ${Array.from({ length: 40 }, (_, i) => row('m_ok', event(`m-${i}`), '10 min')).join(',\n')},
        ${row('m_ok', event('bad-class', { class_uid: 4001 }))},
        ${row('m_ok', event('bad-time', { time: 'yesterday' }))},
        ${row('m_ok', (({ time, ...e }) => e)(event('no-time')))},
        ${row(null, event('nobody', { class_uid: 4002 }))}`);
  let m = metricsOf('m_ok');
  assert.equal(m.queue_events, 43);
  assert.ok(m.queue_oldest_event_age_seconds >= 600 && m.queue_oldest_event_age_seconds < 700, `lag ${m.queue_oldest_event_age_seconds}`);
  assert.equal(m.enabled, 1);
  assert.equal(m.delivered_events_total, 0);
  assert.equal(m.last_delivery_timestamp_seconds, 0);

  const flushed = query(`SELECT * FROM securitylake.flush('m_ok', '60 s')`);
  psql(`SELECT count(*) FROM securitylake.flush(NULL, '60 s')`);   // the unrouted row too
  m = metricsOf('m_ok');
  assert.equal(m.queue_events, 0);
  assert.equal(m.queue_oldest_event_age_seconds, 0);
  assert.equal(m.pending_batches, 0);
  const uploads = one(`SELECT json_build_object('objects', count(*), 'rows', sum(rows), 'bytes', sum(bytes)) FROM securitylake.uploads WHERE source = 'm_ok'`);
  assert.deepEqual([m.delivered_objects_total, m.delivered_events_total, m.delivered_bytes_total], [uploads.objects, 40, uploads.bytes]);
  assert.equal(flushed.reduce((n, r) => n + Number(r.rows), 0), 40);
  assert.ok(Math.abs(Date.now() / 1000 - m.last_delivery_timestamp_seconds) < 120);
  assert.equal(m.consecutive_failures, 0);
  assert.equal(m.error_code, null);
  assert.equal(m.dead_letter_events, 3);
  assert.deepEqual(query(`SELECT source, reason, events FROM securitylake.dead_letter_metrics ORDER BY source, reason`), [
    { source: '', reason: 'no_source', events: 1 },
    { source: 'm_ok', reason: 'class_mismatch', events: 1 },
    { source: 'm_ok', reason: 'missing_attribute', events: 1 },
    { source: 'm_ok', reason: 'wrong_type', events: 1 },
  ]);

  // A source whose provider role refuses the ExternalId: failing, and why.
  psql(`INSERT INTO securitylake.queue (source, event, enqueued_at) VALUES ${row('m_bad', event('refused'))}`);
  assert.throws(() => psql(`SELECT * FROM securitylake.flush('m_bad', '3 s')`), /AccessDenied/);
  m = metricsOf('m_bad');
  assert.ok(m.consecutive_failures >= 1, JSON.stringify(m));
  assert.equal(m.error_code, 'AccessDenied');
  assert.match(m.last_error, /^AccessDenied \(HTTP 403\) during AssumeRole/);
  assert.ok(Math.abs(Date.now() / 1000 - m.last_error_timestamp_seconds) < 120);
  assert.equal(m.queue_events, 1);
});

test('error codes and reason classes: the delivery errors and dead-letter reasons the worker writes', { skip: skipNoPg }, () => {
  const codes = {
    'AccessDenied (HTTP 403) during AssumeRole: User is not authorized [request id 1] (source "a", bucket b)': 'AccessDenied',
    'SignatureDoesNotMatch (HTTP 403) during PutObject: The request signature we calculated does not match': 'SignatureDoesNotMatch',
    'ConnectionError during PutObject: Could not connect to server': 'ConnectionError',
    'source "a" may not send requests to http://x: the host is not allowed (securitylake.allowed_endpoints)': 'EndpointNotAllowed',
    'cannot configure the S3 client of source "a": InvalidConfig during configure: bad region': 'InvalidConfig',
    'something else entirely': 'Other',
  };
  for (const [error, code] of Object.entries(codes)) assert.equal(one(`SELECT securitylake.error_code(${lit(error)})`), code, error);
  assert.equal(one(`SELECT securitylake.error_code(NULL)`), null);
  const classes = {
    'could not be delivered: out of memory': 'encode_error',
    'no source for class_uid 4002': 'no_source',
    'no source named ghost': 'no_source',
    'source dropped': 'source_dropped',
    "class_uid 4001 does not match the source's class_uid 3002": 'class_mismatch',
    'region "mars-1" is not an AWS region name': 'partition',
    'account "12" is not a 12-digit AWS account id, "external" or "external_<id>"': 'partition',
    'event too large (20000000 bytes of JSON; max_event_size is 16777216)': 'too_large',
    'value too large (2000000 bytes; a Parquet page holds at most 1 MiB) at message': 'too_large',
    'missing required attribute time': 'missing_attribute',
    'null in a required attribute at metadata.version': 'missing_attribute',
    'too deep at a.b.c': 'too_deep',
    'expected integer at observables[1].type_id': 'wrong_type',
    'time 5 is not epoch milliseconds between 1990 and 2200 (out of range at time)': 'out_of_range',
    'not finite at risk_score': 'out_of_range',
    'a reason nobody wrote yet': 'other',
  };
  for (const [reason, klass] of Object.entries(classes)) assert.equal(one(`SELECT securitylake.dead_letter_reason_class(${lit(reason)})`), klass, reason);
});

// Every statement the metrics run, with its plan (auto_explain, nested statements included).
function plansOf(sql) {
  const r = spawnSync(`${PG_BIN}/psql`, ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1'], {
    input: `LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; SET auto_explain.log_nested_statements = on;
            SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on; SET auto_explain.log_level = notice;
            SET client_min_messages = notice; ${sql}`,
    encoding: 'utf8', env: process.env,
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stderr;
}

test('metrics read the queue through its primary key: another source\'s backlog costs them nothing', { skip: skipNoPg }, () => {
  createSource('m_big', 1001, { extra: { enabled: false } });
  psql(`INSERT INTO securitylake.queue (source, event)
        SELECT 'm_big', jsonb_build_object('class_uid', 1001, 'time', 1795000000000 + g) FROM generate_series(1, 200000) g;
        INSERT INTO securitylake.queue (source, event) VALUES ('m_ok', ${lit(JSON.stringify(event('small-1')))});
        ANALYZE securitylake.queue;`);
  const plans = plansOf(`SELECT source, queue_events FROM securitylake.metrics WHERE source = 'm_ok'`);
  assert.doesNotMatch(plans, /Seq Scan on queue/, plans);
  const count = plans.split('Query Text:').find((p) => /SELECT \(SELECT count\(\*\) FROM securitylake\.queue/.test(p));
  assert.ok(count, plans);
  assert.match(count, /Index Only Scan using queue_pkey on queue/);
  // Buffers touched for the small source: a handful, not the 200,000 rows of m_big.
  const hits = [...count.matchAll(/Buffers: shared hit=(\d+)(?: read=(\d+))?/g)].map((b) => Number(b[1]) + Number(b[2] ?? 0));
  assert.ok(Math.max(...hits) < 100, `buffers ${hits}`);
  assert.deepEqual(query(`SELECT source, queue_events FROM securitylake.metrics WHERE source IN ('m_ok', 'm_big') ORDER BY source`),
    [{ source: 'm_big', queue_events: 200000 }, { source: 'm_ok', queue_events: 1 }]);
  psql(`SELECT securitylake.drop_source('m_big', force => true); DELETE FROM securitylake.dead_letter WHERE source = 'm_big';`);
});

test('pg_monitor reads the metrics, and nothing else of the extension', { skip: skipNoPg }, () => {
  const as = { user: MONITOR };
  assert.ok(query(`SELECT * FROM securitylake.metrics`, as).length >= 2);
  assert.ok(query(`SELECT * FROM securitylake.dead_letter_metrics`, as).length >= 1);
  for (const sql of [`SELECT count(*) FROM securitylake.queue`, `SELECT * FROM securitylake.status`, `SELECT * FROM securitylake.dead_letter`,
    `SELECT * FROM securitylake.sources`, `SELECT * FROM securitylake.flush()`, `SELECT securitylake.retry_dead_letter()`]) {
    assert.equal(sqlError(sql, as)?.state, '42501', sql);
  }
});

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// The Prometheus text format: { name → { type, help, samples: [{ labels, value }] } }.
function parseExposition(text) {
  const out = {};
  const family = (n) => (out[n] ??= { type: null, help: null, samples: [] });
  for (const line of text.split('\n')) {
    let m;
    if ((m = line.match(/^# TYPE (\S+) (\S+)$/))) family(m[1]).type = m[2];
    else if ((m = line.match(/^# HELP (\S+) (.*)$/))) family(m[1]).help = m[2];
    else if ((m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/))) {
      const labels = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
      family(m[1]).samples.push({ labels, value: Number(m[3]) });
    }
  }
  return out;
}

test('docs/postgres_exporter.yaml: every query runs, and postgres_exporter serves exactly the declared names, labels and types', { skip: skipNoPg, timeout: 60000 }, async () => {
  const doc = parseYaml(readFileSync(EXPORTER_FILE, 'utf8'));
  const declared = [];
  for (const [namespace, spec] of Object.entries(doc)) {
    assert.match(namespace, /^securitylake(_[a-z]+)*$/, namespace);
    assert.equal(spec.master, true, `${namespace}: run in the extension's database only`);
    const columns = spec.metrics.map((m) => Object.keys(m)[0]);
    const usage = Object.fromEntries(spec.metrics.map((m) => { const [k, v] = Object.entries(m)[0]; return [k, v.usage]; }));
    for (const [c, u] of Object.entries(usage)) assert.ok(['LABEL', 'GAUGE', 'COUNTER'].includes(u), `${namespace}.${c}: ${u}`);
    for (const m of spec.metrics) assert.ok(Object.values(m)[0].description, `${namespace}.${Object.keys(m)[0]} has a description`);
    // The query, as the monitoring role: exactly the declared columns, labels text, values numbers.
    const cols = JSON.parse(psql(`CREATE TEMP VIEW q AS ${spec.query};
      SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod)) ORDER BY a.attnum)
        FROM pg_attribute a WHERE a.attrelid = 'q'::regclass AND a.attnum > 0;`, { user: MONITOR }).trim());
    assert.deepEqual(cols.map((c) => c[0]), columns, `${namespace}: the query returns the declared columns, in order`);
    for (const [c, t] of cols) {
      if (usage[c] === 'LABEL') assert.equal(t, 'text', `${namespace}.${c} is a label`);
      else assert.match(t, /^(integer|bigint|double precision|numeric)$/, `${namespace}.${c} is a number`);
    }
    for (const c of columns) {
      if (usage[c] === 'LABEL') continue;
      const name = `${namespace}_${c}`;
      // Prometheus naming: counters end in _total, nothing else does; base units only.
      assert.equal(name.endsWith('_total'), usage[c] === 'COUNTER', `${name}: _total exactly for counters`);
      assert.doesNotMatch(name, /_(milliseconds|ms|kb|mb|count_total)$|[A-Z]/, name);
      declared.push({ name, type: usage[c].toLowerCase(), labels: columns.filter((l) => usage[l] === 'LABEL') });
    }
  }
  assert.equal(new Set(declared.map((d) => d.name)).size, declared.length, 'no metric name twice');

  // The real exporter, as a member of pg_monitor.
  const port = await freePort();
  const exporter = spawn(EXPORTER_BIN, [`--extend.query-path=${EXPORTER_FILE}`, '--disable-default-metrics', '--disable-settings-metrics',
    '--no-collector.database', '--no-collector.bgwriter', `--web.listen-address=127.0.0.1:${port}`], {
    env: { PATH: process.env.PATH, DATA_SOURCE_NAME: `host=${process.env.PGHOST} port=${process.env.PGPORT} dbname=${process.env.PGDATABASE} user=${MONITOR} sslmode=disable` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  exporter.stdout.on('data', (d) => { log += d; });
  exporter.stderr.on('data', (d) => { log += d; });
  let text = null;
  try {
    for (let i = 0; i < 50 && text === null; i++) {
      await sleep(200);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        if (res.ok) text = await res.text();
      } catch { /* not listening yet */ }
    }
  } finally {
    exporter.kill('SIGTERM');
  }
  assert.ok(text, `the exporter answered: ${log}`);
  const families = parseExposition(text);
  assert.equal(families.pg_up?.samples[0]?.value, 1, log);
  assert.equal(families.pg_exporter_last_scrape_error?.samples[0]?.value, 0, log);
  assert.equal(families.pg_exporter_user_queries_load_error?.samples[0]?.value, 0, log);
  const ours = Object.keys(families).filter((n) => n.startsWith('securitylake'));
  assert.deepEqual(ours.sort(), declared.map((d) => d.name).sort(), 'the exporter serves exactly the declared metrics');
  for (const d of declared) {
    const f = families[d.name];
    assert.equal(f.type, d.type, `${d.name} is a ${d.type}`);
    assert.ok(f.samples.length > 0, `${d.name} has samples`);
    for (const s of f.samples) assert.deepEqual(Object.keys(s.labels).sort(), ['server', ...d.labels].sort(), `${d.name} labels`);
  }
  // The values are the view's.
  const value = (name, labels) => families[name].samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
  const ok = metricsOf('m_ok');
  assert.equal(value('securitylake_delivered_events_total', { source: 'm_ok' }), ok.delivered_events_total);
  assert.equal(value('securitylake_delivered_bytes_total', { source: 'm_ok' }), ok.delivered_bytes_total);
  assert.equal(value('securitylake_queue_events', { source: 'm_bad' }), 1);
  assert.equal(value('securitylake_error_info', { source: 'm_bad', code: 'AccessDenied' }), 1);
  assert.equal(value('securitylake_dead_letter_events', { source: 'm_ok', reason: 'wrong_type' }), 1);
  assert.equal(value('securitylake_dead_letter_events', { source: '', reason: 'no_source' }), 1);
});

test('docs/monitoring.md: its tables name the view\'s columns and reason classes, its alert rules the exported metrics', { skip: skipNoPg }, async () => {
  const { fencedBlocks, tableRows } = await import('../lib/markdown.mjs');
  const doc = readFileSync(`${ROOT}docs/monitoring.md`, 'utf8');
  const named = tableRows(doc, /^## `securitylake\.metrics`/).flatMap((r) => [...r[0].matchAll(/`([a-z_]+)`/g)].map((m) => m[1]));
  const columns = query(`SELECT attname FROM pg_attribute WHERE attrelid = 'securitylake.metrics'::regclass AND attnum > 0 ORDER BY attnum`).map((r) => r.attname);
  assert.deepEqual([...named].sort(), [...columns].sort(), 'the table documents every column of securitylake.metrics');
  const classes = tableRows(doc, /^## `securitylake\.dead_letter_metrics`/).map((r) => r[0].replace(/`/g, ''));
  const defined = one(`SELECT pg_get_functiondef('securitylake.dead_letter_reason_class(text)'::regprocedure)`);
  assert.deepEqual([...classes].sort(), [...new Set([...defined.matchAll(/THEN '([a-z_]+)'|ELSE '([a-z_]+)'/g)].map((m) => m[1] ?? m[2]))].sort(),
    'the table lists exactly the classes the function returns');

  // The alerting rules: Prometheus's rule shape, and only metrics and labels the exporter serves.
  const exporter = parseYaml(readFileSync(EXPORTER_FILE, 'utf8'));
  const served = new Map();
  for (const [ns, spec] of Object.entries(exporter)) {
    const labels = spec.metrics.filter((m) => Object.values(m)[0].usage === 'LABEL').map((m) => Object.keys(m)[0]);
    for (const m of spec.metrics) if (Object.values(m)[0].usage !== 'LABEL') served.set(`${ns}_${Object.keys(m)[0]}`, labels);
  }
  const rulesBlock = fencedBlocks(doc).find((b) => b.lang === 'yaml' && b.attrs.file === 'securitylake-alerts.yml');
  const rules = parseYaml(rulesBlock.body).groups.flatMap((g) => g.rules);
  assert.ok(rules.length >= 5);
  for (const rule of rules) {
    assert.match(rule.alert, /^SecurityLake[A-Za-z]+$/);
    assert.ok(['warning', 'critical', 'info'].includes(rule.labels.severity), rule.alert);
    const metrics = [...rule.expr.matchAll(/securitylake_[a-z_]+/g)].map((m) => m[0]);
    assert.ok(metrics.length > 0, rule.alert);
    for (const m of metrics) assert.ok(served.has(m), `${rule.alert}: ${m} is exported`);
    for (const [, label] of JSON.stringify(rule.annotations).matchAll(/\$labels\.([a-z_]+)/g)) {
      assert.ok(metrics.some((m) => served.get(m).includes(label)), `${rule.alert}: label ${label}`);
    }
    if (rule.for) assert.match(rule.for, /^\d+[smh]$/);
  }
  // The SQL of the page runs (as a pg_monitor member, the role it creates).
  for (const b of fencedBlocks(doc).filter((x) => x.lang === 'sql')) {
    if (/CREATE ROLE securitylake_monitor/.test(b.body)) {
      psql(`DROP ROLE IF EXISTS securitylake_monitor; ${b.body}`);
      assert.equal(one(`SELECT pg_has_role('securitylake_monitor', 'pg_monitor', 'member')`), true);
      psql('DROP ROLE securitylake_monitor');
    } else {
      psql(b.body, { user: MONITOR });
    }
  }
});
