// The gate's own tests. The Debian AWS CLI (botocore: a signer independent of ours)
// must pass with the right keys and fail with wrong ones; each test would fail if the
// gate stopped checking what it checks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { startGate, admin, DEFAULTS } from '../lib/gate.mjs';

const USER = DEFAULTS.users[0];
const ROLE = DEFAULTS.roles[0];
const BUCKET = DEFAULTS.buckets[0];
let gate;
let tmp;

function aws(args, { keyId = USER.accessKeyId, secret = USER.secretAccessKey, token, extraEnv = {} } = {}) {
  const env = {
    PATH: process.env.PATH, HOME: tmp, AWS_ACCESS_KEY_ID: keyId, AWS_SECRET_ACCESS_KEY: secret,
    AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
    AWS_MAX_ATTEMPTS: '4', AWS_RETRY_MODE: 'standard', ...extraEnv,
  };
  if (token) env.AWS_SESSION_TOKEN = token;
  return spawnSync('/usr/bin/aws', [...args, '--endpoint-url', gate.url, '--region', 'us-east-1', '--output', 'json'], { encoding: 'utf8', env, timeout: 120000 });
}

async function signedFetch(method, path, { body = '', payloadHash, date = new Date(), secret = USER.secretAccessKey } = {}) {
  const signer = new SignatureV4({ credentials: { accessKeyId: USER.accessKeyId, secretAccessKey: secret }, region: 'us-east-1', service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: false });
  const host = `127.0.0.1:${gate.port}`;
  const headers = { host, 'x-amz-content-sha256': payloadHash ?? createHash('sha256').update(body).digest('hex') };
  const signed = await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port: gate.port, path, query: {}, headers, body }, { signingDate: date });
  const h = { ...signed.headers };
  delete h.host;
  return fetch(`${gate.url}${path}`, { method, headers: h, body: method === 'GET' ? undefined : body });
}

const lastRequests = async (n) => (await admin(gate, 'requests')).slice(-n);

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'securitylake-gate-test-'));
  gate = await startGate({});
});

after(async () => {
  await gate?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

test('the AWS CLI uploads, lists and downloads with the right keys', () => {
  const file = join(tmp, 'small.txt');
  writeFileSync(file, 'hello gate\n');
  const key = 'dir with space/a=b+c/ünïcødé.txt';
  let r = aws(['s3', 'cp', file, `s3://${BUCKET}/${key}`]);
  assert.equal(r.status, 0, r.stderr);
  r = aws(['s3api', 'list-objects-v2', '--bucket', BUCKET]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(JSON.parse(r.stdout).Contents.some((c) => c.Key === key));
  r = aws(['s3', 'cp', `s3://${BUCKET}/${key}`, join(tmp, 'back.txt')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(tmp, 'back.txt'), 'utf8'), 'hello gate\n');
});

test('a wrong secret is rejected with SignatureDoesNotMatch', async () => {
  const r = aws(['s3', 'ls', `s3://${BUCKET}/`], { secret: `${USER.secretAccessKey.slice(0, -1)}X` });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /SignatureDoesNotMatch/);
  const [last] = await lastRequests(1);
  assert.equal(last.code, 'SignatureDoesNotMatch');
  assert.ok(!JSON.stringify(await admin(gate, 'requests')).includes(USER.secretAccessKey), 'the gate logs no secret');
});

test('an unknown key gets InvalidAccessKeyId; an anonymous request AccessDenied', async () => {
  let r = aws(['s3', 'ls', `s3://${BUCKET}/`], { keyId: 'AKIAUNKNOWNKEY000000' });
  assert.match(r.stderr, /InvalidAccessKeyId/);
  r = aws(['s3', 'ls', `s3://${BUCKET}/`, '--no-sign-request']);
  assert.match(r.stderr, /AccessDenied/);
  const res = await fetch(`${gate.url}/${BUCKET}/x`);
  assert.equal(res.status, 403);
  assert.match(await res.text(), /<Code>AccessDenied<\/Code>/);
});

test('a payload that does not match x-amz-content-sha256 gets XAmzContentSHA256Mismatch', async () => {
  const ok = await signedFetch('PUT', `/${BUCKET}/hash-ok`, { body: 'abc' });
  assert.equal(ok.status, 200, await ok.text());
  const bad = await signedFetch('PUT', `/${BUCKET}/hash-bad`, { body: 'abc', payloadHash: createHash('sha256').update('abd').digest('hex') });
  assert.equal(bad.status, 400);
  assert.match(await bad.text(), /XAmzContentSHA256Mismatch/);
  const tampered = await signedFetch('PUT', `/${BUCKET}/hash-ok`, { body: 'abc', secret: 'not-the-secret' });
  assert.equal(tampered.status, 403);
  assert.match(await tampered.text(), /SignatureDoesNotMatch/);
});

test('a request signed 20 minutes ago gets RequestTimeTooSkewed and the server time', async () => {
  const res = await signedFetch('GET', `/${BUCKET}/hash-ok`, { date: new Date(Date.now() - 20 * 60 * 1000) });
  assert.equal(res.status, 403);
  assert.match(await res.text(), /RequestTimeTooSkewed/);
  assert.ok(res.headers.get('date'), 'the answer carries a Date header');
  const fresh = await signedFetch('GET', `/${BUCKET}/hash-ok`);
  assert.equal(fresh.status, 200);
});

test('a 12 MiB multipart upload through the CLI round-trips byte-exact', async () => {
  const data = randomBytes(12 * 1024 * 1024);
  writeFileSync(join(tmp, 'big.bin'), data);
  let r = aws(['s3', 'cp', join(tmp, 'big.bin'), `s3://${BUCKET}/big.bin`]);
  assert.equal(r.status, 0, r.stderr);
  const log = await admin(gate, 'requests');
  assert.ok(log.some((e) => e.method === 'POST' && e.path.endsWith('/big.bin') && e.status === 200), 'CreateMultipartUpload went through');
  r = aws(['s3', 'cp', `s3://${BUCKET}/big.bin`, join(tmp, 'big-back.bin')]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(readFileSync(join(tmp, 'big-back.bin')).equals(data));
});

test('sts assume-role works with the ExternalId; its credentials need the token and expire', async () => {
  let r = aws(['sts', 'assume-role', '--role-arn', ROLE.roleArn, '--role-session-name', 'gate-test', '--external-id', ROLE.externalId, '--duration-seconds', '900']);
  assert.equal(r.status, 0, r.stderr);
  const c = JSON.parse(r.stdout).Credentials;
  assert.match(c.AccessKeyId, /^ASIA/);
  r = aws(['s3', 'ls', `s3://${BUCKET}/`], { keyId: c.AccessKeyId, secret: c.SecretAccessKey, token: c.SessionToken });
  assert.equal(r.status, 0, r.stderr);
  r = aws(['s3', 'ls', `s3://${BUCKET}/`], { keyId: c.AccessKeyId, secret: c.SecretAccessKey });
  assert.match(r.stderr, /InvalidToken/);
  await admin(gate, 'sessions/expire', {});
  r = aws(['s3', 'ls', `s3://${BUCKET}/`], { keyId: c.AccessKeyId, secret: c.SecretAccessKey, token: c.SessionToken });
  assert.match(r.stderr, /ExpiredToken/);
});

test('a short session override makes new sessions expire by themselves', async () => {
  await admin(gate, 'config', { sessionDurationOverrideSeconds: 2 });
  const r = aws(['sts', 'assume-role', '--role-arn', ROLE.roleArn, '--role-session-name', 'short', '--external-id', ROLE.externalId]);
  await admin(gate, 'config', { sessionDurationOverrideSeconds: 0 });
  const c = JSON.parse(r.stdout).Credentials;
  await sleep(2500);
  const late = aws(['s3', 'ls', `s3://${BUCKET}/`], { keyId: c.AccessKeyId, secret: c.SecretAccessKey, token: c.SessionToken });
  assert.match(late.stderr, /ExpiredToken/);
});

test('a wrong ExternalId, or an unknown role, gets AccessDenied from STS', () => {
  let r = aws(['sts', 'assume-role', '--role-arn', ROLE.roleArn, '--role-session-name', 'x1', '--external-id', 'wrong']);
  assert.match(r.stderr, /AccessDenied/);
  r = aws(['sts', 'assume-role', '--role-arn', 'arn:aws:iam::123456789012:role/other', '--role-session-name', 'x1', '--external-id', ROLE.externalId]);
  assert.match(r.stderr, /AccessDenied/);
  r = aws(['sts', 'assume-role', '--role-arn', ROLE.roleArn, '--role-session-name', 'x1', '--external-id', ROLE.externalId, '--tags', 'Key=a,Value=b']);
  assert.match(r.stderr, /AccessDenied.*TagSession/);
});

test('injected faults: two 500s are retried by the CLI, a reset drops the connection, down recovers', async () => {
  await admin(gate, 'requests/clear', {});
  await admin(gate, 'faults', { count: 2, kinds: ['500'] });
  let r = aws(['s3', 'ls', `s3://${BUCKET}/`]);
  assert.equal(r.status, 0, r.stderr);
  const log = await admin(gate, 'requests');
  assert.deepEqual(log.map((e) => e.status), [500, 500, 200]);

  await admin(gate, 'faults', { count: 1, kinds: ['reset'] });
  let dropped = false;
  try { await signedFetch('GET', `/${BUCKET}/hash-ok`); } catch { dropped = true; }
  assert.ok(dropped, 'the connection was dropped');

  await admin(gate, 'down', { seconds: 2 });
  const during = await signedFetch('GET', `/${BUCKET}/hash-ok`);
  assert.equal(during.status, 503);
  assert.match(await during.text(), /SlowDown/);
  const anonymousDuring = await fetch(`${gate.url}/${BUCKET}/hash-ok`);
  assert.equal(anonymousDuring.status, 503, 'an outage answers before any checking');
  await anonymousDuring.text();
  await sleep(2100);
  const afterDown = await signedFetch('GET', `/${BUCKET}/hash-ok`);
  assert.equal(afterDown.status, 200);
  await admin(gate, 'faults/clear', {});
});

test('a URL presigned by the CLI downloads; the same URL with a changed signature does not', async () => {
  writeFileSync(join(tmp, 'presign.txt'), 'presigned body');
  assert.equal(aws(['s3', 'cp', join(tmp, 'presign.txt'), `s3://${BUCKET}/presign/x`]).status, 0);
  const url = aws(['s3', 'presign', `s3://${BUCKET}/presign/x`]).stdout.trim();
  const ok = await fetch(url);
  assert.equal(ok.status, 200);
  assert.equal(await ok.text(), 'presigned body');
  const tampered = await fetch(url.replace(/X-Amz-Signature=([0-9a-f])/, (_, c) => `X-Amz-Signature=${c === '0' ? '1' : '0'}`));
  assert.equal(tampered.status, 403);
  assert.match(await tampered.text(), /<Code>SignatureDoesNotMatch<\/Code>/);
});

test('a 64 MiB PUT addressed virtual-hosted style (bucket.s3.localhost) is stored byte-exact', async () => {
  const body = randomBytes(64 * 1024 * 1024);
  const signer = new SignatureV4({ credentials: USER, region: 'us-east-1', service: 's3', sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: false });
  const host = `${BUCKET}.s3.localhost:${gate.port}`;
  const headers = { host, 'x-amz-content-sha256': createHash('sha256').update(body).digest('hex') };
  const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: host.split(':')[0], path: '/vhost/big', query: {}, headers, body }, { signingDate: new Date() });
  const status = await new Promise((resolve, reject) => {
    const r = http.request({ host: '127.0.0.1', port: gate.port, method: 'PUT', path: '/vhost/big', headers: signed.headers }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); });
    r.on('error', reject);
    r.end(body);
  });
  assert.equal(status, 200);
  assert.ok(readFileSync(join(gate.dataDir, BUCKET, 'vhost', 'big._S3rver_object')).equals(body));
});
