// Real AWS behaviour through the worker (issue 13, points 1–3): a lake encrypted with a
// customer-managed KMS key, the bucket owner condition, and the production addressing path —
// https, virtual-hosted, regional S3 and STS host names with no endpoint option, routed to the
// gate with the test build's securitylake.test_connect_to over TLS from the gate's throwaway
// CA, so the gate verifies the exact bytes AWS would receive — including a bucket in another
// region (301 PermanentRedirect and 400 AuthorizationHeaderMalformed), shown in status.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { openDuck, storedObjects, dlit } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const ACCOUNT = '123456789012';
const KMS_BUCKET = 'aws-security-data-lake-us-east-1-kmslake';
const FOREIGN_BUCKET = 'aws-security-data-lake-us-east-1-lookalike';
const EU_BUCKET = 'lake-in-eu-west-1-bucket';
const ROLE = `arn:aws:iam::${ACCOUNT}:role/service-role/AmazonSecurityLake-Provider-fidelity-us-east-1`;
const EXTERNAL_ID = 'fidelity-external-id';
const USER = { accessKeyId: 'AKIAFIDELITYUSER0001', secretAccessKey: 'fidelitySecretKey/For+The+Gate000000001' };
let gate;
let duck;

function createSource(name, bucket, { options = {}, region = 'us-east-1' } = {}) {
  psql(`SELECT securitylake.create_source(${lit(name)}, ${lit(`s3://${bucket}/ext/${name}/1.0/`)}, ${lit(ROLE)},
        ${lit(EXTERNAL_ID)}, 3002, ${lit(region)}, ${lit(ACCOUNT)}, schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
        publish_rate => '1 hour', options => ${lit(JSON.stringify(options))}::jsonb)`);
}

const plain = (extra = {}) => ({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true, ...extra });

function setSystem(name, value) {
  psql(`ALTER SYSTEM SET ${name} = ${lit(value)}`);
  psql('SELECT pg_reload_conf()');
}

async function uidsIn(bucket, prefix) {
  const objects = storedObjects(gate.dataDir, bucket).filter((o) => o.key.startsWith(prefix));
  if (objects.length === 0) return [];
  const files = `[${objects.map((o) => dlit(o.path)).join(', ')}]`;
  return (await duck.rows(`SELECT metadata.uid AS uid FROM read_parquet(${files})`)).map((r) => r.uid);
}

// Events of ~1.5 KB of random text each: about as large in Parquet as in JSON.
function bulkyEvents(n, seed) {
  return authEvents(n, { seed }).map((e, i) => ({ ...e, message: randomBytes(1100).toString('base64').slice(0, 1400 + (i % 50)) }));
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({
    https: true,
    users: [USER],
    buckets: [
      { name: KMS_BUCKET, sse: 'aws:kms', kmsKeyId: `arn:aws:kms:us-east-1:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab` },
      { name: FOREIGN_BUCKET, owner: '999999999999' },
      { name: EU_BUCKET, region: 'eu-west-1' },
    ],
    roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 }],
  });
  // The server's OS user reads the gate's CA.
  chmodSync(dirname(gate.caFile), 0o755);
  chmodSync(gate.caFile, 0o644);
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  if (skipNoPg) return;
  try { setSystem('securitylake.test_connect_to', ''); } catch { /* ignore */ }
  duck?.close();
  await gate?.stop();
});

test('a lake encrypted with a customer-managed KMS key drains at the first attempt: single PUT and multipart, ETags never compared with MD5s', { skip: skipNoPg, timeout: 300000 }, async () => {
  createSource('kms', KMS_BUCKET, { options: plain() });
  const small = authEvents(500, { seed: 31, region: 'eu-west-1', account: ACCOUNT });   // a partition of its own
  const bulky = bulkyEvents(16000, 32);   // ~23 MB of JSON: an object of more than one 16 MiB part
  copyEvents([...small, ...bulky], { source: 'kms' });
  await admin(gate, 'requests/clear', {});
  const flushed = query(`SELECT * FROM securitylake.flush('kms', '240 s')`);
  assert.equal(flushed.reduce((n, r) => n + Number(r.rows), 0), small.length + bulky.length);
  const requests = (await admin(gate, 'requests')).filter((r) => r.bucket === KMS_BUCKET);
  const failed = requests.filter((r) => r.status >= 300);
  assert.deepEqual(failed, [], 'no request to the KMS bucket failed (no ETagMismatch, no retry)');
  assert.ok(requests.some((r) => r.kind === 'part'), 'the large object went up in parts');
  assert.ok(requests.some((r) => r.kind === 'put'), 'a small object went up in one PUT');
  for (const r of requests.filter((x) => x.kind === 'put' || x.kind === 'part')) {
    assert.ok(r.contentMd5 && r.checksumSha256, `${r.kind} carries Content-MD5 and x-amz-checksum-sha256`);
  }
  const uids = await uidsIn(KMS_BUCKET, 'ext/kms/');
  assert.equal(uids.length, small.length + bulky.length);
  assert.equal(new Set(uids).size, uids.length, 'no event twice');
  assert.equal(one(`SELECT attempts FROM securitylake.uploads WHERE source = 'kms' ORDER BY attempts DESC LIMIT 1`), 1);
  console.log(`# aws fidelity: SSE-KMS: ${flushed.length} objects, ${requests.filter((r) => r.kind === 'part').length} parts, no failed request`);
});

test('the bucket owner condition: a look-alike bucket of another account is refused (403), the option names the owner or turns it off', { skip: skipNoPg, timeout: 120000 }, async () => {
  createSource('owner', FOREIGN_BUCKET, { options: plain() });
  copyEvents(authEvents(50, { seed: 41 }), { source: 'owner' });
  await admin(gate, 'requests/clear', {});
  assert.throws(() => psql(`SELECT * FROM securitylake.flush('owner', '4 s')`), /AccessDenied/);
  const sent = (await admin(gate, 'requests')).filter((r) => r.bucket === FOREIGN_BUCKET);
  assert.ok(sent.length > 0 && sent.every((r) => r.expectedBucketOwner === ACCOUNT), 'the role ARN\'s account is the expected owner by default');
  assert.match(one(`SELECT last_error FROM securitylake.status WHERE source = 'owner'`), /AccessDenied/);
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'owner'`), 50, 'the events stay queued');
  assert.equal(storedObjects(gate.dataDir, FOREIGN_BUCKET).length, 0, 'nothing written to the look-alike bucket');

  psql(`SELECT securitylake.alter_source('owner', options => '{"expected_bucket_owner": "999999999999"}')`);
  query(`SELECT * FROM securitylake.flush('owner', '60 s')`);
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'owner'`), 0);
  assert.equal((await uidsIn(FOREIGN_BUCKET, 'ext/owner/')).length, 50);
  assert.throws(() => psql(`SELECT securitylake.alter_source('owner', options => '{"expected_bucket_owner": "12345"}')`),
    /invalid value "12345" for option "expected_bucket_owner"/);
});

test('the production addressing path: https, virtual-hosted, regional S3 and STS host names, no endpoint option', { skip: skipNoPg, timeout: 180000 }, async () => {
  setSystem('securitylake.test_connect_to', `::127.0.0.1:${gate.httpsPort}`);
  await sleep(1500);   // the worker reloads its configuration between cycles
  createSource('prod', KMS_BUCKET, { options: { ca_file: gate.caFile } });
  const events = authEvents(300, { seed: 51 });
  copyEvents(events, { source: 'prod' });
  await admin(gate, 'requests/clear', {});
  const flushed = query(`SELECT * FROM securitylake.flush('prod', '60 s')`);
  assert.equal(flushed.reduce((n, r) => n + Number(r.rows), 0), events.length);
  const requests = await admin(gate, 'requests');
  const puts = requests.filter((r) => r.kind === 'put' && r.bucket === KMS_BUCKET);
  assert.ok(puts.length > 0);
  for (const r of puts) {
    assert.equal(r.tls, true, 'over TLS');
    assert.equal(r.host, `${KMS_BUCKET}.s3.us-east-1.amazonaws.com`, 'virtual-hosted, regional');
  }
  const sts = requests.filter((r) => r.service === 'sts');
  assert.ok(sts.length > 0 && sts.every((r) => r.tls && r.host === 'sts.us-east-1.amazonaws.com'), 'regional STS over TLS');
  assert.equal((await uidsIn(KMS_BUCKET, 'ext/prod/')).length, events.length);
});

test('a bucket in another region: 301 PermanentRedirect (virtual-hosted) and 400 AuthorizationHeaderMalformed (path style), signed again once, shown in status', { skip: skipNoPg, timeout: 180000 }, async () => {
  setSystem('securitylake.test_connect_to', `::127.0.0.1:${gate.httpsPort}`);
  await sleep(1500);
  // The bucket's name says nothing of its region: the source's region (us-east-1) is tried first.
  createSource('eu_vhost', EU_BUCKET, { options: { ca_file: gate.caFile } });
  createSource('eu_path', EU_BUCKET, { options: plain() });
  copyEvents(authEvents(40, { seed: 61 }), { source: 'eu_vhost' });
  copyEvents(authEvents(40, { seed: 62 }), { source: 'eu_path' });
  await admin(gate, 'requests/clear', {});
  query(`SELECT * FROM securitylake.flush('eu_vhost', '60 s')`);
  query(`SELECT * FROM securitylake.flush('eu_path', '60 s')`);
  const requests = (await admin(gate, 'requests')).filter((r) => r.bucket === EU_BUCKET);
  assert.ok(requests.some((r) => r.status === 301 && r.code === 'PermanentRedirect'), 'a 301 was answered and followed');
  assert.ok(requests.some((r) => r.status === 400 && r.code === 'AuthorizationHeaderMalformed'), 'a 400 was answered and followed');
  assert.ok(requests.some((r) => r.kind === 'put' && r.status === 200 && r.signedRegion === 'eu-west-1'), 'signed again for eu-west-1');
  assert.deepEqual(query(`SELECT source, bucket_region FROM securitylake.status WHERE source LIKE 'eu_%' ORDER BY source`),
    [{ source: 'eu_path', bucket_region: 'eu-west-1' }, { source: 'eu_vhost', bucket_region: 'eu-west-1' }]);
  assert.equal((await uidsIn(EU_BUCKET, 'ext/eu_vhost/')).length, 40);
  assert.equal((await uidsIn(EU_BUCKET, 'ext/eu_path/')).length, 40);
});
