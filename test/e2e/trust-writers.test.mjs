// Issue 11, finding 3: writers chose queue ids and enqueued_at. A member of
// securitylake_writer may insert (source, event, region, account_id) only — by INSERT or
// COPY with that column list —, and cannot pick an id (OVERRIDING SYSTEM VALUE), an
// enqueued_at, or COPY every column. And the worker must not assume ids only grow: with a
// row of id 2^63-1 planted (by a superuser: nobody else can now) in a source's key, new
// rows below it still reach the record-count and the data-size thresholds, and are
// delivered without flush().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { openDuck } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { SAFE, loginRole, dropRole, lakeUids, exactlyOnce, waitForWorker } from './trust-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-writerslake';
const USER = { accessKeyId: 'AKIAWRITERSTESTUSER1', secretAccessKey: 'writersSecretKeyForTheGate0000000000001' };
const WRITER = 'trust_writer';
const MAX_ID = '9223372036854775807';
// Distinct ids for the other rows with an id of their own (0.1.0's primary key was the id alone).
const NEAR_MAX = (n) => (BigInt(MAX_ID) - BigInt(n)).toString();
let gate;
let duck;

const asWriter = (sql) => psql(sql, { user: WRITER, ...SAFE });
const tsv = (rows) => rows.map((r) => r.map((v) => (v === null ? '\\N' : String(v).replaceAll('\\', '\\\\'))).join('\t')).join('\n');

function refused(sql, what) {
  assert.throws(() => asWriter(sql), /permission denied/, what);
}

function createSource(name, extra) {
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/1.0/', NULL, NULL, 3002, 'us-east-1', '123456789012',
        schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour', ${extra},
        options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb)`, SAFE);
}

async function waitUploaded(source, rows, timeoutMs) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (one(`SELECT coalesce(sum(rows), 0) FROM securitylake.uploads WHERE source = ${lit(source)}`, SAFE) >= rows) return (timeoutMs - (until - Date.now())) / 1000;
    await sleep(200);
  }
  return null;
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`, SAFE);
  loginRole(WRITER, 'IN ROLE securitylake_writer');
});

after(async () => {
  if (skipNoPg) return;
  dropRole(WRITER);
  duck?.close();
  await gate?.stop();
});

test('a writer cannot choose queue ids or enqueued_at, nor COPY every column; it inserts and copies its four columns', { skip: skipNoPg }, async () => {
  createSource('wr_cols', 'batch_record_count => 10000000');
  const ev = JSON.stringify(authEvents(1, { seed: 700 })[0]);
  refused(`INSERT INTO securitylake.queue (id, source, event) OVERRIDING SYSTEM VALUE VALUES (${NEAR_MAX(10)}, 'wr_cols', ${lit(ev)})`,
    'OVERRIDING SYSTEM VALUE with an id is refused');
  refused(`INSERT INTO securitylake.queue (source, event, enqueued_at) VALUES ('wr_cols', ${lit(ev)}, '2000-01-01')`,
    'an enqueued_at is refused');
  refused(`INSERT INTO securitylake.queue VALUES (DEFAULT, 'wr_cols', ${lit(ev)}, NULL, NULL, DEFAULT)`,
    'an INSERT without a column list is refused');
  refused(`COPY securitylake.queue FROM STDIN;\n1\twr_cols\t${ev}\t\\N\t\\N\t2000-01-01 00:00:00+00\n\\.\n`,
    'COPY without a column list is refused');
  refused(`COPY securitylake.queue (id, source, event) FROM STDIN;\n${NEAR_MAX(11)}\twr_cols\t${ev}\n\\.\n`,
    'COPY of the id is refused');
  refused(`COPY securitylake.queue (source, event, enqueued_at) FROM STDIN;\nwr_cols\t${ev}\t2000-01-01 00:00:00+00\n\\.\n`,
    'COPY of enqueued_at is refused');

  const events = authEvents(4, { seed: 701 });
  asWriter(`INSERT INTO securitylake.queue (source, event, region, account_id) VALUES ('wr_cols', ${lit(JSON.stringify(events[0]))}, 'us-east-1', '123456789012')`);
  asWriter(`INSERT INTO securitylake.queue (source, event) VALUES ('wr_cols', ${lit(JSON.stringify(events[1]))})`);
  asWriter(`COPY securitylake.queue (source, event, region, account_id) FROM STDIN;\n${tsv(events.slice(2).map((e) => ['wr_cols', JSON.stringify(e), 'us-east-1', null]))}\n\\.\n`);
  const rows = query(`SELECT id, enqueued_at > now() - interval '1 minute' AS recent FROM securitylake.queue WHERE source = 'wr_cols'`, SAFE);
  assert.equal(rows.length, 4, 'the four rows are queued');
  assert.ok(rows.every((r) => r.recent && r.id < 1000000), 'with ids from the sequence and enqueued_at set by the server');
  // A region or account that is not AWS-shaped never becomes part of a key: the event goes to
  // accountId=external_<the account, sanitised> in the source's region.
  const [r, a] = authEvents(2, { seed: 702 });
  asWriter(`INSERT INTO securitylake.queue (source, event, region, account_id)
            VALUES ('wr_cols', ${lit(JSON.stringify(r))}, 'us-east-1/../../x', '123456789012'),
                   ('wr_cols', ${lit(JSON.stringify(a))}, 'us-east-1', '../../../evil')`);
  psql(`SELECT count(*) FROM securitylake.flush('wr_cols', '60 s')`, SAFE);
  const seen = await lakeUids(duck, gate.dataDir, BUCKET, 'ext/wr_cols/');
  assert.deepEqual(exactlyOnce(seen, [...events, r, a].map((e) => e.metadata.uid)), { lost: 0, duplicated: 0, unexpected: 0 });
  const keys = query(`SELECT object_key FROM securitylake.uploads WHERE source = 'wr_cols'`, SAFE).map((x) => x.object_key);
  assert.ok(keys.every((k) => /^ext\/wr_cols\/1\.0\/region=us-east-1\/accountId=(123456789012|external(_[A-Za-z0-9-]+)?)\/eventDay=\d{8}\/[0-9a-f-]+\.parquet$/.test(k)),
    `every key is a well-formed partition: ${keys.join(' ')}`);
  assert.ok(keys.some((k) => /accountId=external_/.test(k)), 'the account that was not AWS-shaped became external_<id>');
  assert.equal(one(`SELECT count(*) FROM securitylake.uploads WHERE object_key LIKE '%..%'`, SAFE), 0, 'no object key holds it');
});

test('with a row of id 2^63-1 planted in a source\'s key, new rows still reach the count and size thresholds and are delivered without flush()',
  { skip: skipNoPg, timeout: 300000 }, async () => {
    createSource('wr_count', 'batch_record_count => 5');
    createSource('wr_size', 'batch_record_count => 10000000, batch_data_size => 1048576');
    await waitForWorker();
    const planted = { wr_count: authEvents(1, { seed: 710 })[0], wr_size: authEvents(1, { seed: 711 })[0] };
    for (const [source, e] of Object.entries(planted)) {
      const id = source === 'wr_count' ? MAX_ID : NEAR_MAX(1);
      psql(`INSERT INTO securitylake.queue (id, source, event) OVERRIDING SYSTEM VALUE VALUES (${id}, ${lit(source)}, ${lit(JSON.stringify(e))})`, SAFE);
    }
    // Let the worker count the planted rows (a few cycles of securitylake.naptime).
    await sleep(3000);
    assert.equal(one(`SELECT count(*) FROM securitylake.uploads WHERE source IN ('wr_count', 'wr_size')`, SAFE), 0, 'nothing due yet');

    // The count threshold: 5 new rows (ids far below the planted one).
    const counted = authEvents(5, { seed: 712 });
    psql(`COPY securitylake.queue (source, event) FROM STDIN;\n${tsv(counted.map((e) => ['wr_count', JSON.stringify(e)]))}\n\\.\n`, SAFE);
    const countSeconds = await waitUploaded('wr_count', 5, 30000);
    // The size threshold: a little over 1 MiB of JSON.
    const big = authEvents(12, { seed: 713 }).map((e) => ({ ...e, message: 'x'.repeat(100000) }));
    psql(`COPY securitylake.queue (source, event) FROM STDIN;\n${tsv(big.map((e) => ['wr_size', JSON.stringify(e)]))}\n\\.\n`, SAFE);
    const sizeSeconds = await waitUploaded('wr_size', 12, 30000);
    console.log(`trust: ids: with id 2^63-1 planted, the count threshold delivered in ${countSeconds ?? 'never (30 s)'} s, ` +
      `the size threshold in ${sizeSeconds ?? 'never (30 s)'} s, without flush()`);
    assert.ok(countSeconds !== null, 'batch_record_count still triggers a delivery');
    assert.ok(sizeSeconds !== null, 'batch_data_size still triggers a delivery');

    // Everything, the planted rows included, ends in the lake once.
    for (const source of ['wr_count', 'wr_size']) psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, '60 s')`, SAFE);
    for (const [source, rows] of [['wr_count', counted], ['wr_size', big]]) {
      const seen = await lakeUids(duck, gate.dataDir, BUCKET, `ext/${source}/`);
      assert.deepEqual(exactlyOnce(seen, [...rows, planted[source]].map((e) => e.metadata.uid)), { lost: 0, duplicated: 0, unexpected: 0 }, source);
    }
  });

test('ids at both ends of bigint in a capped source: a writer\'s insert is checked against the real count, not refused by an overflow',
  { skip: skipNoPg }, async () => {
    createSource('wr_cap', 'batch_record_count => 10000000');
    psql(`SELECT securitylake.alter_source('wr_cap', options => '{"max_queued_rows": 3}')`, SAFE);
    const [hi, lo] = authEvents(2, { seed: 720 });
    psql(`INSERT INTO securitylake.queue (id, source, event) OVERRIDING SYSTEM VALUE
          VALUES (${NEAR_MAX(2)}, 'wr_cap', ${lit(JSON.stringify(hi))}), (-1, 'wr_cap', ${lit(JSON.stringify(lo))})`, SAFE);
    const [a, b] = authEvents(2, { seed: 721 });
    // 2 queued, cap 3: the third is accepted; the fourth is over the cap.
    asWriter(`INSERT INTO securitylake.queue (source, event) VALUES ('wr_cap', ${lit(JSON.stringify(a))})`);
    assert.throws(() => asWriter(`INSERT INTO securitylake.queue (source, event) VALUES ('wr_cap', ${lit(JSON.stringify(b))})`),
      /has more than 3 queued events/, 'over the cap: the backpressure error, not an overflow');
    psql(`DELETE FROM securitylake.queue WHERE source = 'wr_cap'`, SAFE);
  });
