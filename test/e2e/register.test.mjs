// securitylake.register_custom_source / deregister_custom_source against the gate's
// emulation of Security Lake's control plane (test/gate/securitylake.mjs): what
// CreateCustomLogSource receives, the source built from its answer delivering through the
// provider role Security Lake created, AWS errors as SQL errors with SQLSTATEs, the undo
// when the local half fails, and who may call it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, query, one, lit, skipNoPg, serverLog } from '../lib/pg.mjs';
import { sqlError } from '../lib/sqlerror.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { storedObjects } from '../lib/duck.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-regtestlake';
const USER = { accessKeyId: 'AKIAREGISTERTEST0001', secretAccessKey: 'registerSecretKey/ForTheGate000000000001' };
const NOBODY = { accessKeyId: 'AKIAREGISTERNOBODY01', secretAccessKey: 'registerNobodySecret/ForTheGate00000002' };
const CRAWLER = 'arn:aws:iam::123456789012:role/AmazonSecurityLakeCustomSourceCrawler';
const SECRETS = [USER.secretAccessKey, NOBODY.secretAccessKey];
let gate;

const gateOptions = (extra = {}) => ({ securitylake_endpoint: gate.url, endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true, ...extra });
const optionsArg = (o = gateOptions()) => `options => ${lit(JSON.stringify(o))}::jsonb`;

function registerSql(name, { classUid = 3002, args = '', options = gateOptions() } = {}) {
  return `SELECT row_to_json(r) FROM securitylake.register_custom_source(${lit(name)}, ${classUid}, 'us-east-1', ${lit(CRAWLER)}${args ? `, ${args}` : ''}, ${optionsArg(options)}) r`;
}

function register(name, opts) {
  return JSON.parse(psql(registerSql(name, opts)).trim());
}

// A custom source made in Security Lake directly (as the superuser, through the internal call).
function createAtGate(name, version) {
  const body = { sourceName: name, sourceVersion: version, eventClasses: ['AUTHENTICATION'],
    configuration: { crawlerConfiguration: { roleArn: CRAWLER }, providerIdentity: { externalId: 'elsewhere', principal: '123456789012' } } };
  psql(`SELECT securitylake._securitylake_request('CreateCustomLogSource', 'POST', '/v1/datalake/logsources/custom',
        ${lit(JSON.stringify(body))}::jsonb, 'us-east-1', ${lit(gate.url)}, NULL, NULL)`);
}

const requested = async (name) => (await admin(gate, 'securitylake/sources')).filter((s) => s.sourceName === name);
const gateLog = () => admin(gate, 'requests');

function authEvent(uid, source = null) {
  return `(${lit(source)}, ${lit(JSON.stringify({
    class_uid: 3002, category_uid: 3, activity_id: 1, type_uid: 300201, severity_id: 1, time: Date.UTC(2026, 10, 20, 12),
    metadata: { version: '1.1.0', uid, product: { name: 'register-test', vendor_name: 'securitylake' } }, user: { name: 'alice' },
  }))})`;
}

function noSecretIn(text, where) {
  for (const s of SECRETS) assert.ok(!String(text).includes(s), `a secret key is in ${where}`);
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({
    users: [USER, NOBODY], buckets: [BUCKET], roles: [],
    securityLake: { account: '123456789012', allow: [USER.accessKeyId], bucket: BUCKET },
  });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  await gate?.stop();
});

test('register_custom_source: CreateCustomLogSource as AWS receives it, and a source built from its answer that delivers', { skip: skipNoPg }, async () => {
  await admin(gate, 'requests/clear', {});
  const reg = register('reg_auth');

  // What Security Lake was asked for: the GA request shape.
  const [asked] = await requested('reg_auth');
  assert.ok(asked, 'the gate has the custom source');
  assert.equal(asked.sourceVersion, '1.0');
  assert.deepEqual(asked.eventClasses, ['AUTHENTICATION']);
  assert.equal(asked.crawlerRoleArn, CRAWLER);
  assert.equal(asked.principal, '123456789012', 'the account of the server identity (GetCallerIdentity)');
  assert.match(asked.externalId, /^[0-9a-f]{32}$/, 'a generated ExternalId');
  const log = await gateLog();
  assert.deepEqual(log.map((q) => [q.service, q.action ?? `${q.method} ${q.path}`, q.accessKeyId, q.status]), [
    ['sts', 'GetCallerIdentity', USER.accessKeyId, 200],
    ['securitylake', 'CreateCustomLogSource', USER.accessKeyId, 200],
  ]);

  // The answer, recorded and turned into the source.
  assert.equal(reg.location, asked.provider.location);
  assert.equal(reg.location, `s3://${BUCKET}/ext/reg_auth/1.0/`);
  assert.equal(reg.provider_role_arn, asked.provider.roleArn);
  assert.equal(reg.external_id, asked.externalId);
  assert.match(reg.table_arn, /:table\/amazon_security_lake_glue_db_us_east_1\/amazon_security_lake_table_us_east_1_ext_reg_auth_1_0$/);
  assert.deepEqual(query(`SELECT source, source_version, region, event_class, principal, location, endpoint FROM securitylake.registration`),
    [{ source: 'reg_auth', source_version: '1.0', region: 'us-east-1', event_class: 'AUTHENTICATION', principal: '123456789012',
       location: reg.location, endpoint: gate.url }]);
  const src = one(`SELECT row_to_json(s) FROM securitylake.sources s WHERE name = 'reg_auth'`);
  assert.equal(src.location, asked.provider.location);
  assert.equal(src.role_arn, asked.provider.roleArn);
  assert.equal(src.external_id, asked.externalId);
  assert.equal(src.class_uid, 3002);
  assert.equal(src.region, 'us-east-1');
  assert.equal(src.account_id, '123456789012');
  assert.equal(src.route_by_class, true);
  assert.deepEqual(src.options, { endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true },
    'the control-plane endpoint is not a source option');

  // Events routed by class go through the provider role Security Lake created.
  await admin(gate, 'requests/clear', {});
  psql(`INSERT INTO securitylake.queue (source, event) VALUES ${[1, 2, 3].map((i) => authEvent(`reg-${i}`)).join(', ')}`);
  const flushed = query(`SELECT * FROM securitylake.flush('reg_auth', '60 s')`);
  assert.equal(flushed.reduce((n, r) => n + Number(r.rows), 0), 3);
  assert.match(flushed[0].object_key, /^ext\/reg_auth\/1\.0\/region=us-east-1\/accountId=123456789012\/eventDay=20261120\//);
  const assumed = (await gateLog()).find((q) => q.action === 'AssumeRole');
  assert.equal(assumed?.status, 200, 'AssumeRole of the provider role with the agreed ExternalId');
  assert.ok(storedObjects(gate.dataDir, BUCKET).some((o) => o.key === flushed[0].object_key));
});

test('register_custom_source: version, external id, principal, account and event class as given; no GetCallerIdentity then', { skip: skipNoPg }, async () => {
  await admin(gate, 'requests/clear', {});
  const reg = register('reg_net', { classUid: 4001,
    args: `version => '2.0', external_id => 'my-agreed-id:42', principal => '210987654321', account_id => 'external', event_class => 'NETWORK_ACTIVITY'` });
  const [asked] = await requested('reg_net');
  assert.deepEqual([asked.sourceVersion, asked.externalId, asked.principal, asked.eventClasses],
    ['2.0', 'my-agreed-id:42', '210987654321', ['NETWORK_ACTIVITY']]);
  assert.equal(reg.location, `s3://${BUCKET}/ext/reg_net/2.0/`);
  assert.deepEqual((await gateLog()).map((q) => q.action), ['CreateCustomLogSource']);
  assert.deepEqual(query(`SELECT account_id, external_id FROM securitylake.source WHERE name = 'reg_net'`),
    [{ account_id: 'external', external_id: 'my-agreed-id:42' }]);

  // A class Security Lake's list has no name for: registered without eventClasses.
  register('reg_finding', { classUid: 2004 });
  const [finding] = await requested('reg_finding');
  assert.deepEqual(finding.eventClasses, []);
  assert.equal(one(`SELECT event_class IS NULL FROM securitylake.registration WHERE source = 'reg_finding'`), true);
});

test('AWS errors are SQL errors with SQLSTATEs, clear and secret-free; nothing is created locally', { skip: skipNoPg }, async () => {
  const errors = [];
  const expectError = (sql, state, re) => {
    const e = sqlError(sql);
    assert.ok(e, `expected ${state}: ${sql}`);
    assert.equal(e.state, state, e.text);
    if (re) assert.match(`${e.message}\n${e.detail}\n${e.hint}`, re);
    errors.push(e.text);
    return e;
  };

  // ConflictException: the name and version exist in Security Lake (not here).
  register('reg_dup');
  psql(`DELETE FROM securitylake.registration WHERE source = 'reg_dup'; SELECT securitylake.drop_source('reg_dup');`);
  const conflict = expectError(registerSql('reg_dup'), '42710', /CreateCustomLogSource failed: ConflictException/);
  assert.match(conflict.detail, /A custom source named reg_dup version 1\.0 already exists/);
  assert.match(conflict.hint, /deregister_custom_source/);
  assert.equal(one(`SELECT count(*) FROM securitylake.source WHERE name = 'reg_dup'`), 0);

  // BadRequestException: an event class Security Lake does not take.
  expectError(registerSql('reg_bad', { args: `event_class => 'NOT_A_CLASS'` }), '22023', /BadRequestException/);
  assert.deepEqual(await requested('reg_bad'), []);

  // ResourceNotFoundException: deleting what does not exist.
  expectError(`SELECT securitylake.deregister_custom_source('never_made', region => 'us-east-1', ${optionsArg({ securitylake_endpoint: gate.url })})`,
    '42704', /DeleteCustomLogSource failed: ResourceNotFoundException/);

  // AccessDeniedException: an identity the lake does not allow.
  psql(`SELECT securitylake.set_credentials(${lit(NOBODY.accessKeyId)}, ${lit(NOBODY.secretAccessKey)})`);
  try {
    const denied = expectError(registerSql('reg_denied'), '42501', /CreateCustomLogSource failed: AccessDeniedException/);
    assert.match(denied.detail, /not authorized to perform: securitylake:CreateCustomLogSource/);
    // A wrong secret: GetCallerIdentity's signature is refused (invalid authorization).
    psql(`SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, 'not-the-secret-key-00000000000000000000')`);
    expectError(registerSql('reg_badsig'), '28000', /GetCallerIdentity failed: SignatureDoesNotMatch/);
  } finally {
    psql(`SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)})`);
  }

  // Refused before any request: a name too long for the provider role, an endpoint the
  // superuser did not allow, a bad crawler role ARN.
  await admin(gate, 'requests/clear', {});
  expectError(registerSql('a_name_of_21_letters_'), '22023', /1 to 20 letters/);
  expectError(registerSql('reg_far', { options: gateOptions({ securitylake_endpoint: 'http://10.11.12.13:8080' }) }), '42501',
    /securitylake_endpoint "http:\/\/10\.11\.12\.13:8080" is not allowed/);
  expectError(`SELECT securitylake.register_custom_source('reg_arn', 3002, 'us-east-1', 'arn:aws:iam::123:role/x', ${optionsArg()})`,
    '22023', /invalid crawler role ARN/);
  expectError(registerSql('reg_class', { classUid: 999999 }), '22023', /OCSF 1\.1\.0 has no class 999999/);
  assert.deepEqual(await gateLog(), [], 'no request left the server');

  assert.equal(one(`SELECT count(*) FROM securitylake.source WHERE name IN ('reg_bad', 'reg_denied', 'reg_badsig', 'reg_far', 'reg_arn', 'reg_class')`), 0);
  for (const text of errors) noSecretIn(text, 'an error');
  noSecretIn(serverLog(), 'the server log');
});

test('a failure after CreateCustomLogSource deletes the custom source again', { skip: skipNoPg }, async () => {
  // Another version of the name exists already: the undo must not take it along.
  createAtGate('reg_undo', '0.9');
  // Security Lake answers with a location create_source refuses (a bucket name S3 would not take).
  await admin(gate, 'config', { securityLake: { bucket: 'Not_A_Bucket' } });
  await admin(gate, 'requests/clear', {});
  try {
    const e = sqlError(registerSql('reg_undo'));
    assert.equal(e?.state, '22023', e?.text);
    assert.match(e.message, /invalid S3 bucket name "Not_A_Bucket"/);
    assert.match(e.detail, /deleted again/);
  } finally {
    await admin(gate, 'config', { securityLake: { bucket: BUCKET } });
  }
  assert.deepEqual((await requested('reg_undo')).map((s) => s.sourceVersion), ['0.9'], 'version 1.0 is gone from Security Lake, 0.9 stays');
  assert.deepEqual((await gateLog()).filter((q) => q.service === 'securitylake').map((q) => [q.action, q.status]), [
    ['CreateCustomLogSource', 200],
    ['DeleteCustomLogSource', 200],
  ]);
  assert.equal(one(`SELECT count(*) FROM securitylake.registration WHERE source = 'reg_undo'`), 0);
  // Corrected, the same call works.
  register('reg_undo');
  assert.deepEqual((await requested('reg_undo')).map((s) => s.sourceVersion).sort(), ['0.9', '1.0']);
});

test('deregister_custom_source: refuses while events are queued, then drops the source and deletes the custom source', { skip: skipNoPg }, async () => {
  register('reg_gone', { classUid: 4003 });
  createAtGate('reg_gone', '9.9');
  psql(`INSERT INTO securitylake.queue (source, event) VALUES ${authEvent('gone-1', 'reg_gone')}`);
  const busy = sqlError(`SELECT securitylake.deregister_custom_source('reg_gone')`);
  assert.equal(busy?.state, '55006', busy?.text);
  assert.equal((await requested('reg_gone')).length, 2, 'Security Lake still has it');

  await admin(gate, 'requests/clear', {});
  psql(`SELECT securitylake.deregister_custom_source('reg_gone', force => true)`);
  assert.deepEqual((await requested('reg_gone')).map((s) => s.sourceVersion), ['9.9'],
    'the version registered (from the registration) is deleted, not every version');
  assert.deepEqual((await gateLog()).map((q) => [q.method, q.path, q.status]),
    [['DELETE', '/v1/datalake/logsources/custom/reg_gone', 200]], 'at the endpoint used to register');
  assert.equal(one(`SELECT count(*) FROM securitylake.source WHERE name = 'reg_gone'`), 0);
  assert.equal(one(`SELECT count(*) FROM securitylake.registration WHERE source = 'reg_gone'`), 0);
  assert.equal(one(`SELECT count(*) FROM securitylake.dead_letter WHERE source = 'reg_gone' AND reason = 'source dropped'`), 1);

  // Already deleted in Security Lake: the local source and registration still go, with a notice.
  register('reg_half', { classUid: 4003 });
  psql(`SELECT securitylake._delete_custom_source('reg_half', '1.0', 'us-east-1', ${lit(gate.url)}, NULL)`);
  psql(`SELECT securitylake.deregister_custom_source('reg_half')`);
  assert.equal(one(`SELECT count(*) FROM securitylake.source WHERE name = 'reg_half'`), 0);
  assert.equal(one(`SELECT count(*) FROM securitylake.registration WHERE source = 'reg_half'`), 0);
});

test('securitylake_admin may register and deregister; nobody else, and nobody calls the internal functions', { skip: skipNoPg }, async () => {
  psql(`DROP ROLE IF EXISTS reg_operator; DROP ROLE IF EXISTS reg_stranger;
        CREATE ROLE reg_operator LOGIN IN ROLE securitylake_admin; CREATE ROLE reg_stranger LOGIN;`);
  try {
    const asOperator = { user: 'reg_operator' };
    const reg = JSON.parse(psql(registerSql('reg_admin'), asOperator).trim());
    assert.equal(reg.source, 'reg_admin');
    assert.equal(one(`SELECT count(*) FROM securitylake.registration`, asOperator) >= 1, true);
    const ca = sqlError(registerSql('reg_ca', { options: gateOptions({ ca_file: '/etc/ssl/certs/ca-certificates.crt' }) }), asOperator);
    assert.equal(ca?.state, '42501');
    assert.match(ca.message, /only a superuser may set ca_file/);
    for (const internal of [
      `securitylake._securitylake_request('x', 'GET', '/', NULL, 'us-east-1', NULL, NULL, NULL)`,
      `securitylake._aws_account('us-east-1', NULL, NULL)`,
      `securitylake._delete_custom_source('reg_admin', '1.0', 'us-east-1', NULL, NULL)`]) {
      const e = sqlError(`SELECT ${internal}`, asOperator);
      assert.equal(e?.state, '42501', internal);
    }
    psql(`SELECT securitylake.deregister_custom_source('reg_admin')`, asOperator);
    assert.deepEqual(await requested('reg_admin'), []);

    const stranger = sqlError(registerSql('reg_stranger'), { user: 'reg_stranger' });
    assert.equal(stranger?.state, '42501');
    assert.equal(sqlError(`SELECT securitylake.deregister_custom_source('reg_auth')`, { user: 'reg_stranger' })?.state, '42501');
  } finally {
    psql(`DROP ROLE reg_operator; DROP ROLE reg_stranger;`);
  }
});
