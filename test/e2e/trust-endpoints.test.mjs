// Issue 11, finding 4: the admin could point signed traffic anywhere. A source's endpoint
// and sts_endpoint receive requests signed with the server's AWS identity; only AWS's own
// S3/STS/Security Lake host names over https, or what the superuser lists in
// securitylake.allowed_endpoints (postgresql.conf), are accepted — for securitylake_admin
// and for the superuser alike: plain http, loopback and the instance metadata address
// 169.254.169.254 are refused unless listed. When the superuser shortens the list after a
// source was created, the worker sends it nothing more and status says why. And ca_file
// (which CA a source trusts) is the superuser's alone.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, one, lit, skipNoPg } from '../lib/pg.mjs';
import { openDuck } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { SAFE, loginRole, dropRole, lakeUids, exactlyOnce, setSystem } from './trust-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-endpointslake';
const USER = { accessKeyId: 'AKIAENDPOINTSTEST001', secretAccessKey: 'endpointsSecretKeyForTheGate000000000001' };
const ADMIN = 'trust_admin';
let gate;
let duck;
let listed;        // securitylake.allowed_endpoints as the cluster was started

const asAdmin = (sql) => psql(sql, { user: ADMIN, ...SAFE });
const asSuper = (sql) => psql(sql, SAFE);
let n = 0;

function create(as, options, name = `ep_${n++}`) {
  as(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, 3002, 'us-east-1', '123456789012',
      schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour', options => ${lit(JSON.stringify(options))}::jsonb)`);
  return name;
}

function alter(as, name, options) {
  as(`SELECT securitylake.alter_source(${lit(name)}, options => ${lit(JSON.stringify(options))}::jsonb)`);
}

const REFUSED = [
  ['https://evil.example.com', 'a host outside AWS'],
  ['https://s3.us-east-1.amazonaws.com.evil.example.com', 'an AWS-looking name under another domain'],
  ['http://s3.us-east-1.amazonaws.com', 'AWS over plain http'],
  ['https://s3.us-east-1.amazonaws.com:8443', 'AWS on another port'],
  ['http://169.254.169.254', 'the instance metadata address'],
  ['http://127.0.0.2:9000', 'a loopback address not listed'],
  ['https://localhost', 'localhost over https (only http://localhost is listed)'],
  ['http://[::1]:9000', 'IPv6 loopback'],
  ['http://user@127.0.0.1:9000', 'userinfo before a listed host'],
];
const ACCEPTED = [
  ['https://s3.us-east-1.amazonaws.com', 'https://sts.us-east-1.amazonaws.com'],
  ['https://s3.eu-west-3.amazonaws.com', 'https://sts.amazonaws.com'],
  ['http://127.0.0.1:9000', 'http://127.0.0.1:9001'],   // listed by the test cluster
];

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`, SAFE);
  loginRole(ADMIN, 'IN ROLE securitylake_admin');
  listed = one(`SELECT current_setting('securitylake.allowed_endpoints', true)`, SAFE);
});

after(async () => {
  if (skipNoPg) return;
  try { await setSystem('securitylake.allowed_endpoints', null); } catch { /* reported */ }
  dropRole(ADMIN);
  duck?.close();
  await gate?.stop();
});

test('endpoints outside AWS and not listed are refused for the admin and the superuser, in create_source and alter_source', { skip: skipNoPg }, async () => {
  const ok = create(asAdmin, {});
  for (const [url, what] of REFUSED) {
    for (const [as, who] of [[asAdmin, 'admin'], [asSuper, 'superuser']]) {
      for (const key of ['endpoint', 'sts_endpoint']) {
        assert.throws(() => create(as, { [key]: url }), /is not allowed|invalid value/, `${who}: create_source ${key} ${url} (${what}) is refused`);
        assert.throws(() => alter(as, ok, { [key]: url }), /is not allowed|invalid value/, `${who}: alter_source ${key} ${url} (${what}) is refused`);
      }
    }
  }
  assert.deepEqual(one(`SELECT options FROM securitylake.source WHERE name = ${lit(ok)}`, SAFE), {}, 'nothing was stored');
  assert.match(listed ?? '', /127\.0\.0\.1/, 'the test cluster lists its loopback gate');
  for (const [endpoint, sts] of ACCEPTED) {
    create(asAdmin, { endpoint, sts_endpoint: sts });
    alter(asAdmin, ok, { endpoint, sts_endpoint: sts });
  }
  // The admin cannot change or read the list.
  assert.throws(() => asAdmin(`SET securitylake.allowed_endpoints = 'https://evil.example.com'`), /cannot be changed now|permission denied/);
  assert.throws(() => asAdmin(`ALTER SYSTEM SET securitylake.allowed_endpoints = 'https://evil.example.com'`), /must be superuser|permission denied/);
  assert.throws(() => asAdmin(`SHOW securitylake.allowed_endpoints`), /must be superuser|permission denied|privileges of pg_read_all_settings/);
  console.log(`trust: endpoints: ${REFUSED.length} endpoints refused (create and alter, endpoint and sts_endpoint, admin and superuser): ` +
    `${REFUSED.map(([, w]) => w).join('; ')}; AWS https and listed loopback accepted`);
});

test('listed by the superuser, plain http, a loopback address and 169.254.169.254 are accepted', { skip: skipNoPg }, async () => {
  await setSystem('securitylake.allowed_endpoints', `${listed}, http://169.254.169.254, http://127.0.0.2:9000, http://[::1]:9000`);
  create(asAdmin, { endpoint: 'http://169.254.169.254', sts_endpoint: 'http://127.0.0.2:9000' });
  assert.throws(() => create(asAdmin, { endpoint: 'http://[::1]:9000' }), /is not allowed/, 'IPv6 literals are refused even when listed');
  await setSystem('securitylake.allowed_endpoints', null);
  assert.equal(one(`SELECT current_setting('securitylake.allowed_endpoints')`, SAFE), listed);
  assert.throws(() => create(asAdmin, { endpoint: 'http://169.254.169.254' }), /is not allowed/, 'unlisted again: refused again');
});

test('the worker sends nothing more to an endpoint the superuser removed from the list after the source was created; status says why',
  { skip: skipNoPg, timeout: 300000 }, async () => {
    const name = create(asAdmin, { endpoint: gate.url, force_path_style: true }, 'ep_live');
    const first = authEvents(20, { seed: 800 });
    const second = authEvents(20, { seed: 801 });
    const copy = (events) => psql(`COPY securitylake.queue (source, event) FROM STDIN;\n${events.map((e) => `${name}\t${JSON.stringify(e)}`).join('\n')}\n\\.\n`, SAFE);
    copy(first);
    asAdmin(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '60 s')`);
    // The superuser removes the gate's address from the list.
    await setSystem('securitylake.allowed_endpoints', 'http://localhost');
    await sleep(1500);   // the worker reloads its configuration between cycles
    await admin(gate, 'requests/clear', {});
    copy(second);
    assert.throws(() => asAdmin(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '8 s')`), /timed out/, 'delivery stops');
    const error = one(`SELECT last_error FROM securitylake.status WHERE source = ${lit(name)}`, SAFE);
    assert.match(error ?? '', /allowed_endpoints/, `status says why: ${error}`);
    const sent = (await admin(gate, 'requests')).filter((r) => r.service === 's3');
    assert.equal(sent.length, 0, 'no request reached the endpoint after it was unlisted');
    assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = ${lit(name)}`, SAFE), second.length, 'the events stay queued');
    // Listed again: delivered, exactly once.
    await setSystem('securitylake.allowed_endpoints', null);
    await sleep(1500);
    asAdmin(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '60 s')`);
    const seen = await lakeUids(duck, gate.dataDir, BUCKET, `ext/${name}/`);
    assert.deepEqual(exactlyOnce(seen, [...first, ...second].map((e) => e.metadata.uid)), { lost: 0, duplicated: 0, unexpected: 0 });
    console.log(`trust: endpoints: unlisted after creation: 0 requests sent, status: ${error}`);
  });

test('ca_file is refused for a non-superuser admin and accepted for a superuser', { skip: skipNoPg }, async () => {
  const ca = '/etc/ssl/certs/ca-certificates.crt';
  assert.throws(() => create(asAdmin, { ca_file: ca }), /only a superuser may set ca_file/, 'the admin cannot create a source with a CA');
  const name = create(asAdmin, {});
  assert.throws(() => alter(asAdmin, name, { ca_file: ca }), /only a superuser may set ca_file/, 'nor give one a CA');
  alter(asSuper, name, { ca_file: ca });
  create(asSuper, { ca_file: ca });
  assert.equal(one(`SELECT options->>'ca_file' FROM securitylake.source WHERE name = ${lit(name)}`, SAFE), ca, 'the superuser set it');
  // Changing other settings of that source stays the admin's (the CA is kept as the superuser set it).
  alter(asAdmin, name, { zstd_level: 5 });
  assert.equal(one(`SELECT options->>'ca_file' FROM securitylake.source WHERE name = ${lit(name)}`, SAFE), ca);
});
