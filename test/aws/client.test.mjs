// Integration tests of src/aws through build/aws/awsctl against the gate (a local S3 + STS
// endpoint that verifies every SigV4 signature with AWS's own signer). Run from the repo root:
//   node --test test/aws/client.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { createServer as createHttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startGate, admin, DEFAULTS } from '../lib/gate.mjs';

const AWSCTL = 'build/aws/awsctl';
const USER = DEFAULTS.users[0];
const ROLE = DEFAULTS.roles[0];
const BUCKET = DEFAULTS.buckets[0];
const EU_BUCKET = 'aws-security-data-lake-eu-west-1-testlake';
const KMS_BUCKET = 'kms-lake-us-east-1';
const FOREIGN_BUCKET = 'look-alike-lake-us-east-1';   // owned by another account
const OTHER_USER = { accessKeyId: 'AKIAGATENOPERMISSION', secretAccessKey: 'gateOtherSecretKey/00000000000000000000002' };
// The user's secret and every token the stubs hand out.
const SECRETS = [USER.secretAccessKey, 'gateOtherSecretKey/00000000000000000000002', 'imds-session-token-1', 'ecs-auth-token', 'eyJ.web-identity-token.sig'];
const printed = [];   // everything awsctl wrote, grepped for secrets at the end

let gate;
let dir;

before(async () => {
  execFileSync('make', ['-s', AWSCTL], { stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'awsctl-'));
  gate = await startGate({
    https: true,
    users: [...DEFAULTS.users, OTHER_USER],
    buckets: [BUCKET, { name: EU_BUCKET, region: 'eu-west-1' }, { name: KMS_BUCKET, sse: 'aws:kms' }, { name: FOREIGN_BUCKET, owner: '210987654321' }],
  });
});

after(async () => {
  await gate?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function baseEnv(extra = {}) {
  return {
    PATH: process.env.PATH,
    HOME: dir,    // no ~/.aws of the machine
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_ACCESS_KEY_ID: USER.accessKeyId,
    AWS_SECRET_ACCESS_KEY: USER.secretAccessKey,
    AWSCTL_ENDPOINT: gate.url,
    AWSCTL_STS_ENDPOINT: gate.url,
    AWSCTL_PATH_STYLE: '1',
    AWSCTL_BASE_DELAY_MS: '20',
    AWSCTL_MAX_DELAY_MS: '200',
    ...extra,
  };
}

function record(out, err) {
  printed.push(String(out ?? ''), String(err ?? ''));
}

// Run awsctl; resolves to { code, json, stderr } whatever the exit status.
function awsctl(args, env = baseEnv()) {
  return new Promise((resolve) => {
    execFile(AWSCTL, args, { env, maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      record(stdout, stderr);
      let json = null;
      try { json = JSON.parse(stdout); } catch { /* left null: the assertion shows stdout */ }
      resolve({ code: error ? error.code : 0, json, stdout, stderr });
    });
  });
}

function file(name, data) {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}

const sha = (b) => createHash('sha256').update(b).digest('hex');
const roleEnv = (extra = {}) => baseEnv({ AWSCTL_ROLE_ARN: ROLE.roleArn, AWSCTL_EXTERNAL_ID: ROLE.externalId, ...extra });
const requests = () => admin(gate, 'requests');

test('signed PUT and GET round-trip; keys with spaces, =, +, unicode', async () => {
  for (const key of ['plain.txt', 'with space/a b.txt', 'eq=and+plus/x=1+2.parquet', 'unicode/é漢字🙂.bin', 'tilde~/(paren)!*\'']) {
    const body = randomBytes(1000 + key.length);
    const put = await awsctl(['put', BUCKET, key, file('in', body)]);
    assert.equal(put.code, 0, `put ${key}: ${put.stdout}`);
    assert.deepEqual(put.json, { ok: true, size: body.length });
    const get = await awsctl(['get', BUCKET, key, join(dir, 'out')]);
    assert.equal(get.code, 0, `get ${key}: ${get.stdout}`);
    assert.ok(readFileSync(join(dir, 'out')).equals(body), `bytes of ${key}`);
    const head = await awsctl(['head', BUCKET, key]);
    assert.equal(head.json.exists, true, key);
  }
  const list = await awsctl(['list', BUCKET, 'unicode/']);
  assert.deepEqual(list.json.keys.map((k) => k.key), ['unicode/é漢字🙂.bin']);
  const missing = await awsctl(['head', BUCKET, 'no/such/key']);
  assert.equal(missing.json.exists, false);
  const log = await requests();
  assert.ok(log.filter((r) => r.method === 'PUT').every((r) => r.status === 200 && r.signedHeaders.includes('x-amz-content-sha256')));
});

test('virtual-hosted addressing (bucket.s3.localhost:PORT) is signed and accepted', async () => {
  await admin(gate, 'requests/clear', {});
  const body = randomBytes(777);
  const env = baseEnv({ AWSCTL_ENDPOINT: `http://s3.localhost:${gate.port}`, AWSCTL_PATH_STYLE: '0' });
  const put = await awsctl(['put', BUCKET, 'vhost/a b+c.txt', file('in', body)], env);
  assert.equal(put.code, 0, put.stdout);
  const get = await awsctl(['get', BUCKET, 'vhost/a b+c.txt', join(dir, 'vh.out')], env);
  assert.equal(get.code, 0, get.stdout);
  assert.ok(readFileSync(join(dir, 'vh.out')).equals(body));
  const log = await requests();
  assert.ok(log.some((q) => q.method === 'PUT' && q.status === 200 && !q.path.startsWith(`/${BUCKET}/`)), 'the bucket was in the host, not the path');
});

test('a wrong secret is reported as SignatureDoesNotMatch, not retried', async () => {
  const r = await awsctl(['put', BUCKET, 'wrong-secret', file('in', 'x')], baseEnv({ AWS_SECRET_ACCESS_KEY: 'not-the-secret-0000000000000000000000000' }));
  assert.notEqual(r.code, 0);
  assert.equal(r.json.error.code, 'SignatureDoesNotMatch');
  assert.equal(r.json.error.http_status, 403);
  assert.equal(r.json.error.retryable, false);
  assert.equal(r.json.error.attempts, 1);
  assert.match(r.json.error.request_id, /\S/);
  assert.ok(!r.stdout.includes('not-the-secret'));
});

test('a 40 MiB object goes multipart and reads back byte-exact', async () => {
  const body = randomBytes(40 << 20);
  await admin(gate, 'requests/clear', {});
  const up = await awsctl(['upload', BUCKET, 'big/40mib.bin', file('big', body)]);
  assert.equal(up.code, 0, up.stdout);
  assert.match(up.stderr, /upload-id \S+/);
  const log = await requests();
  // The log keeps paths without the query: UploadPart is a PUT, Create and Complete are POSTs.
  const onKey = log.filter((r) => r.path === `/${BUCKET}/big/40mib.bin`);
  assert.equal(onKey.filter((r) => r.method === 'PUT' && r.status === 200).length, 5, '40 MiB in 8 MiB parts');
  assert.equal(onKey.filter((r) => r.method === 'POST' && r.status === 200).length, 2, 'Create + Complete');
  const uploadId = up.stderr.match(/upload-id (\S+)/)[1];
  const ledger = JSON.stringify(await admin(gate, 'multipart'));
  assert.ok(ledger.includes(uploadId), 'the gate knows the printed UploadId');
  const get = await awsctl(['get', BUCKET, 'big/40mib.bin', join(dir, 'big.out')]);
  assert.equal(get.code, 0, get.stdout);
  assert.equal(sha(readFileSync(join(dir, 'big.out'))), sha(body));
});

test('caller-driven multipart: create, 5 parts of 8 MiB with SHA-256 checksums, complete; reads back byte-exact', async () => {
  await admin(gate, 'requests/clear', {});
  const big = randomBytes(40 << 20);
  const r = await awsctl(['multipart', BUCKET, 'mp/big', file('mp1', big)]);
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.json, { ok: true, size: big.length, parts: 5 });
  const uploadId = r.stderr.match(/upload-id (\S+)/)[1];
  const entry = (await admin(gate, 'multipart')).find((m) => m.uploadId === uploadId);
  assert.equal(entry.state, 'completed');
  assert.equal(entry.checksumAlgorithm, 'SHA256', 'created with x-amz-checksum-algorithm: SHA256');
  const log = (await requests()).filter((q) => q.path === `/${BUCKET}/mp/big`);
  assert.deepEqual(log.map((q) => `${q.kind} ${q.status}`), ['create 200', 'part 200', 'part 200', 'part 200', 'part 200', 'part 200', 'complete 200']);
  assert.ok(log.filter((q) => q.kind === 'part').every((q) => q.checksumSha256 && q.contentMd5 && q.signedHeaders.includes('x-amz-checksum-sha256')));
  const g = await awsctl(['get', BUCKET, 'mp/big', join(dir, 'mp.out')]);
  assert.equal(g.code, 0, g.stdout);
  assert.equal(sha(readFileSync(join(dir, 'mp.out'))), sha(big));
});

test('caller-driven multipart aborted half-way leaves the upload aborted; abort by id is idempotent', async () => {
  const r = await awsctl(['multipart', BUCKET, 'mp/aborted', file('mp3', randomBytes(30 << 20))], baseEnv({ AWSCTL_ABORT_AFTER: String(16 << 20) }));
  assert.equal(r.json.aborted, true, r.stdout);
  const uploadId = r.stderr.match(/upload-id (\S+)/)[1];
  const entry = (await admin(gate, 'multipart')).find((m) => m.uploadId === uploadId);
  assert.equal(entry?.state, 'aborted');
  const again = await awsctl(['abort', BUCKET, 'mp/aborted', uploadId]);
  assert.equal(again.code, 0, again.stdout);
  const head = await awsctl(['head', BUCKET, 'mp/aborted']);
  assert.equal(head.json.exists, false);
});

test('the library refuses parts S3 would refuse: a 1 MiB part that is not the last', async () => {
  const r = await awsctl(['multipart', BUCKET, 'mp/small-parts', file('mp4', randomBytes(3 << 20))], baseEnv({ AWSCTL_PART_SIZE: String(1 << 20) }));
  assert.equal(r.json.ok, false, r.stdout);
  assert.equal(r.json.error.code, 'InvalidPart');
  assert.equal(r.json.error.operation, 'CompleteMultipartUpload');
  assert.match(r.json.error.message, /smaller than 5 MiB/);
  assert.equal(r.json.error.http_status, 0, 'refused before sending');
});

test('AssumeRole with the right ExternalId: the session token signs the PUT', async () => {
  await admin(gate, 'requests/clear', {});
  const r = await awsctl(['put', BUCKET, 'role/obj', file('in', 'role')], roleEnv());
  assert.equal(r.code, 0, r.stdout);
  const log = await requests();
  const assume = log.find((q) => q.action === 'AssumeRole');
  assert.equal(assume?.status, 200);
  const put = log.find((q) => q.method === 'PUT');
  assert.equal(put.status, 200);
  assert.equal(put.hasSecurityToken, true);
  assert.ok(put.signedHeaders.includes('x-amz-security-token'));
  assert.notEqual(put.accessKeyId, USER.accessKeyId, 'temporary key, not the user');
});

test('GetCallerIdentity names the base identity, even with a role configured', async () => {
  await admin(gate, 'requests/clear', {});
  const r = await awsctl(['whoami'], roleEnv());
  assert.equal(r.code, 0, r.stdout);
  assert.deepEqual(r.json, { ok: true, account: '123456789012', arn: 'arn:aws:iam::123456789012:user/gate' });
  const log = (await requests()).filter((q) => q.service === 'sts');
  // Signed with the user's own key (the principal that assumes provider roles), no AssumeRole.
  assert.deepEqual(log.map((q) => [q.action, q.accessKeyId, q.status]),
    [['GetCallerIdentity', USER.accessKeyId, 200]]);
  const bad = await awsctl(['whoami'], baseEnv({ AWS_SECRET_ACCESS_KEY: 'wrong-secret-0000000000000000000000000' }));
  assert.equal(bad.json.ok, false);
  assert.equal(bad.json.error.code, 'SignatureDoesNotMatch');
  assert.equal(bad.json.error.operation, 'GetCallerIdentity');
});

test('a wrong ExternalId gives a clear AccessDenied', async () => {
  const r = await awsctl(['creds'], roleEnv({ AWSCTL_EXTERNAL_ID: 'wrong-external-id' }));
  assert.notEqual(r.code, 0);
  assert.equal(r.json.error.code, 'AccessDenied');
  assert.equal(r.json.error.operation, 'AssumeRole');
  assert.equal(r.json.error.retryable, false);
  assert.match(r.json.error.message, /sts:AssumeRole/);
});

// Two PUTs 2 s apart from one client; the sessions expire between them. The gate's log.
async function putAcrossExpiry(name, env = {}) {
  await admin(gate, 'requests/clear', {});
  const run = awsctl(['put', BUCKET, `role/${name}`, file(name, 'e')], roleEnv({ AWSCTL_REPEAT: '2', AWSCTL_REPEAT_SLEEP_S: '2', ...env }));
  await new Promise((r) => setTimeout(r, 1000));
  await admin(gate, 'sessions/expire', {});
  const r = await run;
  assert.equal(r.code, 0, r.stdout);
  const log = await requests();
  assert.ok(log.some((q) => q.code === 'ExpiredToken'), 'the second PUT met ExpiredToken');
  assert.equal(log.filter((q) => q.method === 'PUT' && q.status === 200).length, 2);
  return log;
}

test('expired temporary credentials are refreshed without failing the upload', async () => {
  const log = await putAcrossExpiry('expiring');
  assert.equal(log.filter((q) => q.action === 'AssumeRole' && q.status === 200).length, 2, 'assumed again');
});

test('a client allowed one attempt still refreshes an expired session and retries at once', async () => {
  // The worker tries a failing source's first request once (src/upload.c): stale credentials
  // must not turn that one try into a failure.
  await putAcrossExpiry('expiring-once', { AWSCTL_MAX_ATTEMPTS: '1' });
});

test('with 30% injected 500/503/RequestTimeout/reset/delay faults uploads still succeed', async () => {
  await admin(gate, 'requests/clear', {});
  await admin(gate, 'faults', { fraction: 0.3, kinds: ['500', '503', 'RequestTimeout', 'reset', 'delay'], delayMs: 200, target: 'any', seed: 7 });
  try {
    const env = roleEnv({ AWSCTL_MAX_ATTEMPTS: '10', AWSCTL_THRESHOLD: String(5 << 20), AWSCTL_PART_SIZE: String(5 << 20) });
    const bodies = [randomBytes(3000), randomBytes(12 << 20), randomBytes(100)];
    for (const [i, body] of bodies.entries()) {
      const r = await awsctl(['upload', BUCKET, `faults/${i}`, file(`f${i}`, body)], env);
      assert.equal(r.code, 0, r.stdout);
    }
    await admin(gate, 'faults/clear', {});
    for (const [i, body] of bodies.entries()) {
      const g = await awsctl(['get', BUCKET, `faults/${i}`, join(dir, 'f.out')]);
      assert.equal(g.code, 0, g.stdout);
      assert.equal(sha(readFileSync(join(dir, 'f.out'))), sha(body));
    }
    const log = await requests();
    assert.ok(log.filter((q) => q.fault).length >= 3, `faults injected: ${log.filter((q) => q.fault).length}`);
  } finally {
    await admin(gate, 'faults/clear', {});
  }
});

test('a local clock an hour off: RequestTimeTooSkewed is corrected from Date and re-signed', async () => {
  await admin(gate, 'requests/clear', {});
  const body = randomBytes(5000);
  const r = await awsctl(['put', BUCKET, 'skew/obj', file('in', body)], baseEnv({ AWSCTL_TEST_CLOCK_SKEW_S: '-3600' }));
  assert.equal(r.code, 0, r.stdout);
  const log = (await requests()).filter((q) => q.path === `/${BUCKET}/skew/obj`);
  assert.deepEqual(log.map((q) => q.code ?? q.status), ['RequestTimeTooSkewed', 200]);
});

test('an endpoint that is down fails after the configured attempts with a retryable error', async () => {
  const port = await new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  const started = Date.now();
  const r = await awsctl(['put', BUCKET, 'down', file('in', 'd')], baseEnv({ AWSCTL_ENDPOINT: `http://127.0.0.1:${port}`, AWSCTL_MAX_ATTEMPTS: '3' }));
  assert.notEqual(r.code, 0);
  assert.equal(r.json.error.retryable, true);
  assert.equal(r.json.error.attempts, 3);
  assert.equal(r.json.error.http_status, 0);
  assert.ok(Date.now() - started < 10000);
});

test('max elapsed time bounds the retries before max attempts does', async () => {
  await admin(gate, 'down', { seconds: 30 });
  try {
    const started = Date.now();
    const r = await awsctl(['put', BUCKET, 'elapsed', file('in', 'e')], baseEnv({
      AWSCTL_MAX_ATTEMPTS: '1000', AWSCTL_BASE_DELAY_MS: '100', AWSCTL_MAX_DELAY_MS: '100', AWSCTL_MAX_ELAPSED_MS: '600' }));
    const took = Date.now() - started;
    assert.equal(r.json.error.retryable, true);
    assert.ok(r.json.error.attempts > 1 && r.json.error.attempts < 100, `attempts ${r.json.error.attempts}`);
    assert.ok(took < 3000, `took ${took} ms`);
  } finally {
    await admin(gate, 'down', { seconds: 0 });
  }
});

test('an S3 outage (503 for every request) fails retryably after the attempts', async () => {
  await admin(gate, 'down', { seconds: 30 });
  try {
    const r = await awsctl(['put', BUCKET, 'outage', file('in', 'o')], baseEnv({ AWSCTL_MAX_ATTEMPTS: '2' }));
    assert.notEqual(r.code, 0);
    assert.equal(r.json.error.http_status, 503);
    assert.equal(r.json.error.retryable, true);
    assert.equal(r.json.error.attempts, 2);
  } finally {
    await admin(gate, 'down', { seconds: 0 });
  }
});

test('locations: s3:// and virtual-hosted https:// parse to bucket and prefix', async () => {
  const a = await awsctl(['location', 's3://aws-security-data-lake-us-east-1-abc/ext/my_source/']);
  assert.deepEqual(a.json, { ok: true, bucket: 'aws-security-data-lake-us-east-1-abc', prefix: 'ext/my_source/' });
  const b = await awsctl(['location', 'https://aws-security-data-lake-us-east-1-abc.s3.us-east-1.amazonaws.com/ext/src/1.0/']);
  assert.deepEqual(b.json, { ok: true, bucket: 'aws-security-data-lake-us-east-1-abc', prefix: 'ext/src/1.0/' });
  const bad = await awsctl(['location', 'ftp://nope']);
  assert.equal(bad.json.ok, false);
});

// Environment without static keys: the chain must find them elsewhere.
function chainEnv(extra = {}) {
  const env = baseEnv(extra);
  delete env.AWS_ACCESS_KEY_ID;
  delete env.AWS_SECRET_ACCESS_KEY;
  return env;
}

// A metadata stub (IMDSv2 + ECS) on 127.0.0.1 that hands out the gate user's keys.
async function startMetadataStub() {
  const seen = [];
  const creds = JSON.stringify({
    Code: 'Success', Type: 'AWS-HMAC', AccessKeyId: USER.accessKeyId, SecretAccessKey: USER.secretAccessKey,
    Token: '', Expiration: new Date(Date.now() + 3600e3).toISOString(),
  });
  const server = createHttpServer((req, res) => {
    seen.push({ method: req.method, url: req.url, token: req.headers['x-aws-ec2-metadata-token'] ?? null,
      ttl: req.headers['x-aws-ec2-metadata-token-ttl-seconds'] ?? null, auth: req.headers.authorization ?? null });
    const reply = (status, body) => { res.writeHead(status); res.end(body); };
    if (req.method === 'PUT' && req.url === '/latest/api/token') return reply(200, 'imds-session-token-1');
    if (req.url.startsWith('/latest/meta-data/')) {
      if (req.headers['x-aws-ec2-metadata-token'] !== 'imds-session-token-1') return reply(401, '');
      if (req.url === '/latest/meta-data/iam/security-credentials/') return reply(200, 'test-instance-role\n');
      if (req.url === '/latest/meta-data/iam/security-credentials/test-instance-role') return reply(200, creds);
    }
    if (req.url === '/ecs/creds') return req.headers.authorization === 'ecs-auth-token' ? reply(200, creds) : reply(401, '');
    return reply(404, '');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, seen, stop: () => new Promise((r) => server.close(r)) };
}

test('EC2 IMDSv2: token PUT, role GET, credentials GET, then a signed PUT', async () => {
  const stub = await startMetadataStub();
  try {
    const env = chainEnv({ AWS_EC2_METADATA_DISABLED: '', AWS_EC2_METADATA_SERVICE_ENDPOINT: stub.url });
    const r = await awsctl(['put', BUCKET, 'providers/imds', file('in', 'imds')], env);
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(stub.seen.map((s) => `${s.method} ${s.url}`), [
      'PUT /latest/api/token', 'GET /latest/meta-data/iam/security-credentials/',
      'GET /latest/meta-data/iam/security-credentials/test-instance-role']);
    assert.ok(stub.seen[0].ttl, 'token TTL header');
    assert.ok(stub.seen.slice(1).every((s) => s.token === 'imds-session-token-1'));
  } finally {
    await stub.stop();
  }
});

test('ECS container credentials with an authorization token (from a file)', async () => {
  const stub = await startMetadataStub();
  try {
    const env = chainEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${stub.url}/ecs/creds`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: file('ecs-token', 'ecs-auth-token\n') });
    const r = await awsctl(['put', BUCKET, 'providers/ecs', file('in', 'ecs')], env);
    assert.equal(r.code, 0, r.stdout);
    assert.equal(stub.seen.length, 1);
    assert.equal(stub.seen[0].auth, 'ecs-auth-token');
    const denied = await awsctl(['creds'], chainEnv({ AWS_CONTAINER_CREDENTIALS_FULL_URI: `${stub.url}/ecs/creds`,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: 'wrong' }));
    assert.equal(denied.json.ok, false);
    assert.equal(denied.json.error.http_status, 401);
  } finally {
    await stub.stop();
  }
});

test('web identity: AssumeRoleWithWebIdentity, then the temporary keys sign', async () => {
  const token = 'eyJ.web-identity-token.sig';
  await admin(gate, 'config', { webIdentity: { token, roleArn: ROLE.roleArn } });
  await admin(gate, 'requests/clear', {});
  const env = chainEnv({ AWS_WEB_IDENTITY_TOKEN_FILE: file('wi-token', token), AWS_ROLE_ARN: ROLE.roleArn });
  const r = await awsctl(['put', BUCKET, 'providers/web-identity', file('in', 'wi')], env);
  assert.equal(r.code, 0, r.stdout);
  const log = await requests();
  assert.equal(log.find((q) => q.action === 'AssumeRoleWithWebIdentity')?.status, 200);
  const put = log.find((q) => q.method === 'PUT');
  assert.equal(put.hasSecurityToken, true);
  const bad = await awsctl(['creds'], chainEnv({ AWS_WEB_IDENTITY_TOKEN_FILE: file('wi-bad', 'forged'), AWS_ROLE_ARN: ROLE.roleArn }));
  assert.equal(bad.json.ok, false);
  assert.equal(bad.json.error.operation, 'AssumeRoleWithWebIdentity');
  assert.ok(!bad.stdout.includes('forged') && !r.stdout.includes(token));
});

test('shared files: AWS_PROFILE picks a section of credentials, or "profile x" of config', async () => {
  const creds = file('credentials', `[default]\naws_access_key_id = AKIAWRONGDEFAULT0000\naws_secret_access_key = wrong\n\n` +
    `[lake]\n  aws_access_key_id=${USER.accessKeyId}\naws_secret_access_key = ${USER.secretAccessKey}  \n`);
  const config = file('config', `[default]\nregion = us-east-1\n[profile fromconfig]\naws_access_key_id = ${USER.accessKeyId}\n` +
    `aws_secret_access_key = ${USER.secretAccessKey}\n`);
  const env = (profile) => chainEnv({ AWS_SHARED_CREDENTIALS_FILE: creds, AWS_CONFIG_FILE: config, AWS_PROFILE: profile });
  const ok = await awsctl(['put', BUCKET, 'providers/profile', file('in', 'p')], env('lake'));
  assert.equal(ok.code, 0, ok.stdout);
  const fromConfig = await awsctl(['put', BUCKET, 'providers/profile2', file('in', 'p')], env('fromconfig'));
  assert.equal(fromConfig.code, 0, fromConfig.stdout);
  const dflt = await awsctl(['put', BUCKET, 'providers/profile3', file('in', 'p')], env('default'));
  assert.equal(dflt.json.error.code, 'InvalidAccessKeyId');
});

test('TLS: a self-signed endpoint is refused by default and accepted with its CA configured', async () => {
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  let served = 0;
  // A minimal S3 PutObject answer: the ETag is the body's MD5, as S3 returns it.
  const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      served++;
      res.writeHead(200, { etag: `"${createHash('md5').update(Buffer.concat(chunks)).digest('hex')}"` });
      res.end();
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  try {
    const url = `https://127.0.0.1:${server.address().port}`;
    const refused = await awsctl(['put', BUCKET, 'tls', file('in', 't')], baseEnv({ AWSCTL_ENDPOINT: url, AWSCTL_MAX_ATTEMPTS: '2' }));
    assert.equal(refused.json.ok, false);
    assert.equal(refused.json.error.curl_code, 60, refused.stdout);   // CURLE_PEER_FAILED_VERIFICATION
    assert.equal(served, 0);
    const accepted = await awsctl(['put', BUCKET, 'tls', file('in', 't')], baseEnv({ AWSCTL_ENDPOINT: url, AWSCTL_CA_FILE: cert }));
    assert.equal(accepted.code, 0, accepted.stdout);
    assert.equal(served, 1);
  } finally {
    await new Promise((r) => server.close(r));
  }
});

// ---- SSE-KMS, checksums, bucket owner (issue 13.1, 13.2) ----------------------------------------
const onPath = (log, key, bucket = BUCKET) => log.filter((q) => q.path === `/${bucket}/${key}`);

test('SSE-KMS bucket: a PutObject and a multipart upload succeed the first time, no retries', async () => {
  await admin(gate, 'requests/clear', {});
  const small = randomBytes(100000);
  const put = await awsctl(['put', KMS_BUCKET, 'kms/small', file('k1', small)]);
  assert.equal(put.code, 0, put.stdout);
  const big = randomBytes(12 << 20);
  const mp = await awsctl(['multipart', KMS_BUCKET, 'kms/big', file('k2', big)], baseEnv({ AWSCTL_PART_SIZE: String(5 << 20) }));
  assert.equal(mp.code, 0, mp.stdout);
  const up = await awsctl(['upload', KMS_BUCKET, 'kms/upload', file('k3', big)], baseEnv({ AWSCTL_THRESHOLD: String(5 << 20), AWSCTL_PART_SIZE: String(5 << 20) }));
  assert.equal(up.code, 0, up.stdout);
  const log = await requests();
  assert.deepEqual(onPath(log, 'kms/small', KMS_BUCKET).map((q) => q.status), [200], 'one PutObject, no retry');
  assert.deepEqual(onPath(log, 'kms/big', KMS_BUCKET).map((q) => `${q.kind} ${q.status}`), ['create 200', 'part 200', 'part 200', 'part 200', 'complete 200']);
  assert.equal(onPath(log, 'kms/upload', KMS_BUCKET).filter((q) => q.status !== 200).length, 0);
  for (const [key, body] of [['kms/small', small], ['kms/big', big], ['kms/upload', big]]) {
    const g = await awsctl(['get', KMS_BUCKET, key, join(dir, 'k.out')]);
    assert.equal(g.code, 0, g.stdout);
    assert.equal(sha(readFileSync(join(dir, 'k.out'))), sha(body), key);
  }
});

test('a corrupted x-amz-checksum-sha256 is refused with BadDigest and not retried (PutObject and UploadPart)', async () => {
  await admin(gate, 'requests/clear', {});
  const env = baseEnv({ AWSCTL_CORRUPT_CHECKSUM: '1' });
  const put = await awsctl(['put', BUCKET, 'corrupt/put', file('c1', randomBytes(5000))], env);
  assert.equal(put.json.ok, false, put.stdout);
  assert.equal(put.json.error.code, 'BadDigest');
  assert.equal(put.json.error.http_status, 400);
  assert.equal(put.json.error.retryable, false);
  assert.equal(put.json.error.attempts, 1);
  const mp = await awsctl(['multipart', KMS_BUCKET, 'corrupt/mp', file('c2', randomBytes(6 << 20))], env);
  assert.equal(mp.json.error.code, 'BadDigest', mp.stdout);
  assert.equal(mp.json.error.operation, 'UploadPart');
  const head = await awsctl(['head', BUCKET, 'corrupt/put']);
  assert.equal(head.json.exists, false, 'nothing stored');
});

test('expected bucket owner: sent on every S3 request; a bucket of another account is refused with 403 AccessDenied', async () => {
  await admin(gate, 'requests/clear', {});
  const env = baseEnv({ AWSCTL_OWNER: '123456789012', AWSCTL_PART_SIZE: String(5 << 20) });
  const ok = await awsctl(['multipart', BUCKET, 'owner/mp', file('o1', randomBytes(6 << 20))], env);
  assert.equal(ok.code, 0, ok.stdout);
  const head = await awsctl(['head', BUCKET, 'owner/mp'], env);
  assert.equal(head.json.exists, true);
  const log = onPath(await requests(), 'owner/mp');
  assert.equal(log.length, 5, 'create, 2 parts, complete, head');
  assert.ok(log.every((q) => q.expectedBucketOwner === '123456789012' && q.signedHeaders.includes('x-amz-expected-bucket-owner')));
  const denied = await awsctl(['put', FOREIGN_BUCKET, 'owner/x', file('o2', 'x')], env);
  assert.equal(denied.json.error.code, 'AccessDenied', denied.stdout);
  assert.equal(denied.json.error.http_status, 403);
  assert.equal(denied.json.error.retryable, false);
  const bad = await awsctl(['put', BUCKET, 'owner/y', file('o3', 'y')], baseEnv({ AWSCTL_OWNER: '12345' }));
  assert.equal(bad.json.error.code, 'InvalidConfig');
});

// ---- the production addressing path (issue 13.3) ----------------------------------------------
// https, virtual-hosted, regional STS: AWS's own host names, routed to the gate's HTTPS listener.
const awsEnv = (extra = {}) => {
  const env = roleEnv({ AWSCTL_CONNECT_TO: `::127.0.0.1:${gate.httpsPort}`, AWSCTL_CA_FILE: gate.caFile, AWSCTL_PATH_STYLE: '0', ...extra });
  delete env.AWSCTL_ENDPOINT;
  delete env.AWSCTL_STS_ENDPOINT;
  return env;
};

test('AWS host names over https: <bucket>.s3.us-east-1.amazonaws.com and sts.us-east-1.amazonaws.com, verified against the test CA', async () => {
  await admin(gate, 'requests/clear', {});
  const body = randomBytes(3000);
  const put = await awsctl(['put', BUCKET, 'prod/a b.txt', file('p1', body)], awsEnv());
  assert.equal(put.code, 0, put.stdout);
  const get = await awsctl(['get', BUCKET, 'prod/a b.txt', join(dir, 'p.out')], awsEnv());
  assert.equal(get.code, 0, get.stdout);
  assert.ok(readFileSync(join(dir, 'p.out')).equals(body));
  const log = await requests();
  const assume = log.find((q) => q.action === 'AssumeRole');
  assert.equal(assume.host, 'sts.us-east-1.amazonaws.com');
  assert.equal(assume.tls, true);
  const s3 = log.filter((q) => q.service === 's3');
  assert.ok(s3.length >= 2 && s3.every((q) => q.host === `${BUCKET}.s3.us-east-1.amazonaws.com` && q.tls && q.status === 200 && q.path === '/prod/a%20b.txt'));
  const untrusted = await awsctl(['put', BUCKET, 'prod/x', file('p2', 'x')], awsEnv({ AWSCTL_CA_FILE: '', AWSCTL_MAX_ATTEMPTS: '1' }));
  assert.equal(untrusted.json.error.curl_code, 60, untrusted.stdout);
});

test('region redirect, 301 PermanentRedirect: re-signed for eu-west-1 at its regional endpoint, remembered', async () => {
  await admin(gate, 'requests/clear', {});
  const body = randomBytes(2000);
  const put = await awsctl(['put', EU_BUCKET, 'redirect/301', file('r1', body)], awsEnv({ AWSCTL_REPEAT: '2' }));
  assert.equal(put.code, 0, put.stdout);
  assert.match(put.stderr, /bucket-region eu-west-1/);
  const s3 = (await requests()).filter((q) => q.service === 's3');
  assert.deepEqual(s3.map((q) => `${q.host} ${q.signedRegion} ${q.status}`), [
    `${EU_BUCKET}.s3.us-east-1.amazonaws.com us-east-1 301`,
    `${EU_BUCKET}.s3.eu-west-1.amazonaws.com eu-west-1 200`,
    `${EU_BUCKET}.s3.eu-west-1.amazonaws.com eu-west-1 200`], 'one redirect, then the remembered region');
  const get = await awsctl(['get', EU_BUCKET, 'redirect/301', join(dir, 'r.out')], awsEnv());
  assert.equal(get.code, 0, get.stdout);
  assert.ok(readFileSync(join(dir, 'r.out')).equals(body));
});

test('region redirect, 400 AuthorizationHeaderMalformed with <Region>: re-signed once for it (explicit endpoint kept)', async () => {
  await admin(gate, 'requests/clear', {});
  const put = await awsctl(['multipart', EU_BUCKET, 'redirect/400', file('r2', randomBytes(6 << 20))], baseEnv({ AWSCTL_PART_SIZE: String(5 << 20) }));
  assert.equal(put.code, 0, put.stdout);
  assert.match(put.stderr, /bucket-region eu-west-1/);
  const s3 = (await requests()).filter((q) => q.service === 's3');
  assert.deepEqual(s3.map((q) => `${q.kind} ${q.signedRegion} ${q.status}${q.code ? ` ${q.code}` : ''}`), [
    'create us-east-1 400 AuthorizationHeaderMalformed', 'create eu-west-1 200', 'part eu-west-1 200', 'part eu-west-1 200', 'complete eu-west-1 200']);
  assert.ok(s3.every((q) => q.host === `127.0.0.1:${gate.port}`), 'the configured endpoint stays');
});

// ---- bounded responses, overall timeout, interrupts (issue 11.5) -----------------------------------
test('a 403 with a 400 MiB body: cut at max_error_response_bytes, memory stays small, AccessDenied still reported', async () => {
  await admin(gate, 'faults', { count: 1, kinds: ['hugeError'], target: 's3' });
  const started = Date.now();
  const r = await awsctl(['put', BUCKET, 'huge/err', file('h1', 'x')]);
  const took = Date.now() - started;
  await admin(gate, 'faults/clear', {});
  assert.equal(r.json.error.code, 'AccessDenied', r.stdout);
  assert.equal(r.json.error.http_status, 403);
  assert.match(r.json.error.message, /cut/);
  const rss = Number(r.stderr.match(/maxrss_kb (\d+)/)[1]);
  console.log(`# bounded: 400 MiB error body -> peak RSS ${(rss / 1024).toFixed(1)} MiB, ${took} ms`);
  assert.ok(rss < 16 * 1024, `peak RSS ${rss} kB (a 64 KiB error cap on top of ~12 MiB of libraries)`);
});

test('an error answer is cut at 64 KiB, a successful one only at 4 MiB: a 100 KiB 403 is cut, its code still read', async () => {
  await admin(gate, 'faults', { count: 1, kinds: ['hugeError'], target: 's3', hugeBytes: 100 * 1024 });
  const cut = await awsctl(['put', BUCKET, 'huge/err100k', file('h2', 'x')]);
  await admin(gate, 'faults', { count: 1, kinds: ['hugeError'], target: 's3', hugeBytes: 100 * 1024 });
  const whole = await awsctl(['put', BUCKET, 'huge/err100k', file('h3', 'x')], baseEnv({ AWSCTL_MAX_ERROR_RESPONSE: String(4 * 1024 * 1024) }));
  await admin(gate, 'faults/clear', {});
  assert.equal(cut.json.error.code, 'AccessDenied', cut.stdout);
  assert.match(cut.json.error.message, /cut/, 'past the 64 KiB error cap');
  assert.equal(whole.json.error.code, 'AccessDenied', whole.stdout);
  assert.doesNotMatch(whole.json.error.message, /cut/, 'read whole under a 4 MiB error cap');
});

test('a peer trickling 2 KB/s (above the 1 KB/s low-speed limit) is cut by the overall request timeout', async () => {
  await admin(gate, 'faults', { count: 1, kinds: ['trickle'], target: 's3', trickleBytesPerSecond: 2048 });
  const started = Date.now();
  const r = await awsctl(['put', BUCKET, 'trickle/x', file('t1', 'x')], baseEnv({ AWSCTL_REQUEST_TIMEOUT_MS: '1500', AWSCTL_MAX_ATTEMPTS: '1' }));
  const took = Date.now() - started;
  await admin(gate, 'faults/clear', {});
  assert.equal(r.json.error.code, 'Timeout', r.stdout);
  assert.equal(r.json.error.curl_code, 28);
  console.log(`# bounded: trickling peer cut after ${took} ms (request_timeout_ms 1500)`);
  assert.ok(took >= 1400 && took < 4000, `took ${took} ms`);
});

test('interrupt during a stalled upload: the call ends within 200 ms with Interrupted (not retryable)', async () => {
  await admin(gate, 'stall', { match: { kind: 'put', pathPrefix: `/${BUCKET}/stalled/` }, count: 1 });
  try {
    const r = await awsctl(['put', BUCKET, 'stalled/x', file('s1', randomBytes(100000))], baseEnv({ AWSCTL_INTERRUPT_AT_MS: '800' }));
    assert.equal(r.json.error.code, 'Interrupted', r.stdout);
    assert.equal(r.json.error.retryable, false);
    const late = Number(r.stderr.match(/late_ms (-?\d+)/)[1]);
    console.log(`# interrupt: stalled upload returned ${late} ms after the flag`);
    assert.ok(late >= 0 && late < 200, `late ${late} ms`);
  } finally {
    await admin(gate, 'stall/release', {});
  }
});

test('aws_part_sender: part 2 is read while S3 holds part 1; parts complete in order, byte-exact; an interrupt ends a held part within 200 ms', async () => {
  const big = randomBytes(16 << 20);
  const env = baseEnv({ AWSCTL_OVERLAP: '1', AWSCTL_PART_SIZE: String(5 << 20) });
  await admin(gate, 'requests/clear', {});
  await admin(gate, 'stall', { match: { kind: 'part', pathPrefix: `/${BUCKET}/overlap/` }, count: 1 });
  let released = 0;
  const running = awsctl(['multipart', BUCKET, 'overlap/big', file('ov1', big)], env);
  try {
    for (let i = 0; i < 300 && (await admin(gate, 'stall')).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await admin(gate, 'stall')).length, 1, 'part 1 held');
    await new Promise((r) => setTimeout(r, 500));
    released = Date.now();
  } finally {
    await admin(gate, 'stall/release', {});
  }
  const r = await running;
  assert.deepEqual(r.json, { ok: true, size: big.length, parts: 4 }, r.stdout + r.stderr);
  const ready2 = Number(r.stderr.match(/ready 2 (\d+)/)?.[1]);
  assert.ok(ready2 > 0 && ready2 < released, `part 2 was read while part 1 was held (ready at ${ready2}, released at ${released})`);
  const ready3 = Number(r.stderr.match(/ready 3 (\d+)/)?.[1]);
  assert.ok(ready3 >= released, `part 3 was read only after part 1 was answered: one part in flight at most (ready at ${ready3})`);
  const log = (await requests()).filter((q) => q.path === `/${BUCKET}/overlap/big`);
  assert.deepEqual(log.map((q) => `${q.kind} ${q.status}`), ['create 200', 'part 200', 'part 200', 'part 200', 'part 200', 'complete 200']);
  const g = await awsctl(['get', BUCKET, 'overlap/big', join(dir, 'ov.out')]);
  assert.equal(sha(readFileSync(join(dir, 'ov.out'))), sha(big), 'the parts were assembled in order');

  await admin(gate, 'stall', { match: { kind: 'part', pathPrefix: `/${BUCKET}/overlap/` }, count: 1 });
  try {
    const i = await awsctl(['multipart', BUCKET, 'overlap/interrupted', file('ov2', randomBytes(12 << 20))],
      baseEnv({ AWSCTL_OVERLAP: '1', AWSCTL_PART_SIZE: String(5 << 20), AWSCTL_INTERRUPT_AT_MS: '800' }));
    assert.equal(i.json?.error?.code, 'Interrupted', i.stdout);
    const late = Number(i.stderr.match(/late_ms (-?\d+)/)[1]);
    console.log(`# interrupt: a held part in flight on its thread returned ${late} ms after the flag`);
    assert.ok(late >= 0 && late < 200, `late ${late} ms`);
  } finally {
    await admin(gate, 'stall/release', {});
  }
});

test('interrupt during a retry backoff: the sleep is sliced, the call ends within 200 ms', async () => {
  await admin(gate, 'down', { seconds: 30 });
  try {
    const r = await awsctl(['put', BUCKET, 'backoff/x', file('b1', 'x')], baseEnv({
      AWSCTL_MAX_ATTEMPTS: '50', AWSCTL_BASE_DELAY_MS: '4000', AWSCTL_MAX_DELAY_MS: '4000', AWSCTL_INTERRUPT_AT_MS: '1500' }));
    assert.equal(r.json.error.code, 'Interrupted', r.stdout);
    const late = Number(r.stderr.match(/late_ms (-?\d+)/)[1]);
    console.log(`# interrupt: backoff sleep returned ${late} ms after the flag (${r.json.error.attempts} attempts)`);
    assert.ok(late >= 0 && late < 200, `late ${late} ms`);
  } finally {
    await admin(gate, 'down', { seconds: 0 });
  }
});

// ---- Security Lake control plane (issue 15.2) ----------------------------------------------------
const slEnv = (extra = {}) => baseEnv({ AWSCTL_SL_ENDPOINT: gate.url, ...extra });
const CRAWLER = 'arn:aws:iam::123456789012:role/AmazonSecurityLakeCrawler';

test('CreateCustomLogSource: the source is created, its provider role is then assumable with the ExternalId, and it can write', async () => {
  const r = await awsctl(['sl-create', 'pgsource', '2.0', 'AUTHENTICATION,NETWORK_ACTIVITY', CRAWLER, 'ext-id-pg', '123456789012'], slEnv());
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.json.status, 200);
  const src = JSON.parse(r.json.body).source;
  assert.equal(src.sourceName, 'pgsource');
  assert.equal(src.sourceVersion, '2.0');
  assert.equal(src.provider.location, `s3://${BUCKET}/ext/pgsource/2.0/`);
  assert.equal(src.provider.roleArn, 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-pgsource-us-east-1');
  assert.match(src.attributes.crawlerArn, /^arn:aws:glue:us-east-1:123456789012:crawler\//);
  const env = baseEnv({ AWSCTL_ROLE_ARN: src.provider.roleArn, AWSCTL_EXTERNAL_ID: 'ext-id-pg' });
  const put = await awsctl(['put', BUCKET, 'ext/pgsource/2.0/region=us-east-1/accountId=external/eventDay=20260101/a.parquet', file('sl1', 'PAR1')], env);
  assert.equal(put.code, 0, put.stdout);
  const wrongId = await awsctl(['creds'], baseEnv({ AWSCTL_ROLE_ARN: src.provider.roleArn, AWSCTL_EXTERNAL_ID: 'other' }));
  assert.equal(wrongId.json.error.code, 'AccessDenied');
});

test('CreateCustomLogSource over https at securitylake.us-east-1.amazonaws.com (SigV4 service securitylake)', async () => {
  const env = awsEnv({ AWSCTL_ROLE_ARN: '', AWSCTL_EXTERNAL_ID: '' });
  const r = await awsctl(['sl-create', 'viatls', '-', 'DNS_ACTIVITY', CRAWLER, 'ext-id-tls', '123456789012'], env);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(JSON.parse(r.json.body).source.provider.location, `s3://${BUCKET}/ext/viatls/`);
  const log = (await requests()).filter((q) => q.service === 'securitylake');
  assert.equal(log.at(-1).host, 'securitylake.us-east-1.amazonaws.com');
  assert.equal(log.at(-1).action, 'CreateCustomLogSource');
});

test('CreateCustomLogSource errors: ConflictException 409, BadRequestException 400, AccessDeniedException 403 (x-amzn-errortype stripped of its suffix)', async () => {
  const dup = await awsctl(['sl-create', 'pgsource', '2.0', 'AUTHENTICATION', CRAWLER, 'ext-id-pg', '123456789012'], slEnv());
  assert.deepEqual([dup.json.status, dup.json.error_type], [409, 'ConflictException'], dup.stdout);
  assert.match(JSON.parse(dup.json.body).message, /already exists/);
  assert.match(dup.stderr, /error ConflictException: A custom source named pgsource/);
  for (const [args, why] of [
    [['bad name!', '1.0', 'AUTHENTICATION', CRAWLER, 'ext-id', '123456789012'], /sourceName.*regular expression/],
    [['this_name_is_far_too_long_for_iam', '1.0', 'AUTHENTICATION', CRAWLER, 'ext-id', '123456789012'], /64 characters/],
    [['okname', 'v 1', 'AUTHENTICATION', CRAWLER, 'ext-id', '123456789012'], /sourceVersion/],
    [['okname', '1.0', 'NOT_A_CLASS', CRAWLER, 'ext-id', '123456789012'], /NOT_A_CLASS is not supported/],
    [['okname', '1.0', 'AUTHENTICATION', 'arn:aws:iam::1:role/x', 'ext-id', '123456789012'], /roleArn/],
    [['okname', '1.0', 'AUTHENTICATION', CRAWLER, 'x', '123456789012'], /externalId.*length/],
    [['okname', '1.0', 'AUTHENTICATION', CRAWLER, 'ext-id', 'someone'], /principal/],
  ]) {
    const r = await awsctl(['sl-create', ...args], slEnv());
    assert.deepEqual([r.json.status, r.json.error_type], [400, 'BadRequestException'], `${args}: ${r.stdout}`);
    assert.match(JSON.parse(r.json.body).message, why);
  }
  const missing = await awsctl(['rest', 'securitylake', 'POST', '/v1/datalake/logsources/custom', file('sl.json', '{"sourceName":"nocfg"}')], slEnv());
  assert.deepEqual([missing.json.status, missing.json.error_type], [400, 'BadRequestException'], missing.stdout);
  const denied = await awsctl(['sl-create', 'other', '1.0', 'AUTHENTICATION', CRAWLER, 'ext-id', '123456789012'],
    slEnv({ AWS_ACCESS_KEY_ID: OTHER_USER.accessKeyId, AWS_SECRET_ACCESS_KEY: OTHER_USER.secretAccessKey }));
  assert.deepEqual([denied.json.status, denied.json.error_type], [403, 'AccessDeniedException'], denied.stdout);
  assert.match(JSON.parse(denied.json.body).message, /not authorized to perform: securitylake:CreateCustomLogSource/);
});

test('DeleteCustomLogSource: 200, then 404 ResourceNotFoundException; the provider role is no longer assumable', async () => {
  const roleArn = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-pgsource-us-east-1';
  const del = await awsctl(['sl-delete', 'pgsource', '2.0'], slEnv());
  assert.deepEqual([del.json.status, del.json.body], [200, '{}'], del.stdout);
  const again = await awsctl(['sl-delete', 'pgsource', '2.0'], slEnv());
  assert.deepEqual([again.json.status, again.json.error_type], [404, 'ResourceNotFoundException'], again.stdout);
  const creds = await awsctl(['creds'], baseEnv({ AWSCTL_ROLE_ARN: roleArn, AWSCTL_EXTERNAL_ID: 'ext-id-pg' }));
  assert.equal(creds.json.error.code, 'AccessDenied');
});

test('nothing awsctl printed holds a secret', () => {
  const all = printed.join('\n');
  assert.ok(all.length > 0);
  for (const s of [...SECRETS, 'not-the-secret']) assert.ok(!all.includes(s), 'a secret was printed');
});
