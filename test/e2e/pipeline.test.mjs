// End to end over real parts: PostgreSQL (the cluster test/run started) → the worker →
// the SigV4-verifying S3/STS gate → objects read back by DuckDB, value by value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, query, one, lit, copyEvents, skipNoPg, serverLog } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { awsCli as awsCliAt } from '../lib/awscli.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-e2etestlake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-e2e-us-east-1';
const EXTERNAL_ID = 'e2e-external-id-4711';
const USER = { accessKeyId: 'AKIAE2ETESTUSER00001', secretAccessKey: 'e2eSecretKey/For+The+Gate0000000000000001' };
let gate;
let duck;

const awsCli = (args) => awsCliAt(gate.url, USER, args);

function createSource(name, { location = `s3://${BUCKET}/ext/${name}/1.0/`, externalId = EXTERNAL_ID, classUid = 3002, extra = {} } = {}) {
  const options = { endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true, ...extra };
  psql(`SELECT securitylake.create_source(${lit(name)}, ${lit(location)}, ${lit(ROLE)}, ${lit(externalId)}, ${classUid},
        'us-east-1', '123456789012', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
        publish_rate => '1 hour', options => ${lit(JSON.stringify(options))}::jsonb);`);
}

async function readObject(path) {
  return duck.rows(`SELECT * FROM read_parquet(${dlit(path)})`);
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({
    users: [USER], buckets: [BUCKET],
    roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }],
  });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  duck?.close();
  await gate?.stop();
});

test('events in → flush() → objects at the exact keys → DuckDB reads every value back', { skip: skipNoPg }, async () => {
  createSource('auth');
  const events = [
    ...authEvents(300, { days: 3, seed: 1 }),
    ...authEvents(200, { days: 2, seed: 2, region: 'eu-west-1', account: '210987654321' }),
  ];
  copyEvents(events);
  const flushed = query(`SELECT * FROM securitylake.flush('auth', '60 s')`);
  // 3 days in us-east-1/123456789012 + 2 days in eu-west-1/210987654321.
  assert.equal(flushed.length, 5, JSON.stringify(flushed));
  assert.equal(flushed.reduce((n, r) => n + Number(r.rows), 0), events.length);
  for (const r of flushed) {
    assert.match(r.object_key, /^ext\/auth\/1\.0\/region=(us-east-1|eu-west-1)\/accountId=(123456789012|210987654321)\/eventDay=202611(20|21|22)\/[0-9a-f]{16}-\d+-\d+-[0-9a-f]{16}\.parquet$/);
  }
  // The AWS CLI (botocore, an independent signer) lists exactly these keys.
  const listed = awsCli(['s3api', 'list-objects-v2', '--bucket', BUCKET, '--prefix', 'ext/auth/']);
  assert.deepEqual(listed.Contents.map((c) => c.Key).sort(), flushed.map((r) => r.object_key).sort());
  assert.equal(one('SELECT count(*) FROM securitylake.queue'), 0);
  const uploads = query(`SELECT object_key, rows, bytes, region, account_id, to_char(event_day, 'YYYYMMDD') AS day FROM securitylake.uploads WHERE source = 'auth'`);
  assert.equal(uploads.length, 5);

  // Value by value: every object is read by DuckDB and every event found with equal values.
  const byUid = new Map(events.map((e) => [e.metadata.uid, e]));
  const objects = storedObjects(gate.dataDir, BUCKET);
  let seen = 0;
  for (const obj of objects) {
    const up = uploads.find((u) => u.object_key === obj.key);
    assert.ok(up, `object ${obj.key} is in the upload log`);
    const rows = await readObject(obj.path);
    assert.equal(rows.length, Number(up.rows));
    let lastTime = -Infinity;
    for (const row of rows) {
      const e = byUid.get(row.metadata.uid);
      assert.ok(e, `unknown event ${row.metadata.uid}`);
      seen++;
      assert.ok(Number(row.time) >= lastTime, 'records are ordered by time');
      lastTime = Number(row.time);
      assert.equal(`${new Date(Number(row.time)).toISOString().slice(0, 10).replaceAll('-', '')}`, up.day, 'eventDay is the UTC day of time');
      assert.equal(Number(row.time), e.time);
      assert.equal(row.class_uid, 3002);
      assert.equal(row.Activity_id, e.activity_id, 'seed column Activity_id reads activity_id');
      assert.equal(row.activity_name, e.activity_name);
      assert.equal(Number(row.type_uid), e.type_uid);
      assert.equal(row.is_mfa, e.is_mfa);
      assert.equal(row.message, e.message);
      assert.equal(row.risk_score, e.risk_score);
      assert.deepEqual(row.metadata.profiles, e.metadata.profiles);
      assert.equal(row.metadata.product.name, 'CloudTrail');
      assert.equal(row.src_endpoint.ip, e.src_endpoint.ip);
      assert.equal(row.src_endpoint.port, e.src_endpoint.port);
      if (e.user) {
        assert.equal(row.user.name, e.user.name);
        assert.deepEqual((row.user.groups ?? []).map((g) => g.name), e.user.groups.map((g) => g.name));
      } else {
        assert.equal(row.user, null);
      }
      // Keys without a column are kept in unmapped under their JSONPath, as JSON text.
      const unmapped = Object.fromEntries((row.unmapped ?? []).map(({ key, value }) => [key, value]));
      if (e.vendor_extra) assert.deepEqual(JSON.parse(unmapped["$.vendor_extra"]), e.vendor_extra);
      if (e.cloud) assert.deepEqual(JSON.parse(unmapped["$.cloud"]), JSON.parse(JSON.stringify(e.cloud)));
    }
  }
  assert.equal(seen, events.length, 'every event is in exactly one object');
});

test('a wrong ExternalId leaves rows queued, shows AccessDenied in status, leaks nothing', { skip: skipNoPg }, async () => {
  psql(`UPDATE securitylake.source SET enabled = false WHERE name = 'auth'`);
  createSource('badrole', { externalId: 'not-the-agreed-id', classUid: 3003 });
  const events = authEvents(50, { seed: 3 }).map((e) => ({ ...e, class_uid: 3003 }));
  copyEvents(events);
  assert.throws(() => psql(`SELECT * FROM securitylake.flush('badrole', '3 s')`), /AccessDenied/);
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE event->>'class_uid' = '3003'`), 50);
  const status = one(`SELECT last_error FROM securitylake.status WHERE source = 'badrole'`);
  assert.match(status, /AccessDenied/);
  const everything = JSON.stringify(query('SELECT * FROM securitylake.status')) + JSON.stringify(query('SELECT * FROM securitylake.sources')) + serverLog();
  assert.ok(!everything.includes(USER.secretAccessKey), 'the secret key appears nowhere');
  psql(`SELECT securitylake.drop_source('badrole', force => true)`);
  psql(`UPDATE securitylake.source SET enabled = true WHERE name = 'auth'`);
});
