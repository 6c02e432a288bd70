// Secrets stay secret, end to end: with log_statement = 'all' and log_min_messages = debug1,
// through deliveries, an AccessDenied (wrong ExternalId), injected S3/STS faults and
// sessions expiring mid-run, neither the secret key nor the session token given to
// set_credentials, nor any secret or session token the gate's STS issued, appears in the
// server log, in any table or view of schema securitylake (the credential table aside), or
// in pg_stat_activity (sampled while flush() runs and after). And https to an endpoint whose
// certificate is not trusted is refused through the whole pipeline until its CA is given
// with the source's ca_file option.
//
// log_statement = 'all' logs the text of every statement, the set_credentials call with its
// secret included (docs/sql-reference.md, "Credentials", documents this caveat). The test
// shows that with a decoy call, then sets the real keys the documented way: a short-lived
// superuser session that runs only `SET log_statement = 'none'; SET log_min_error_statement
// = 'panic';` and the call.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, chmodSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, copyEvents, skipNoPg, serverLog, PG_BIN } from '../lib/pg.mjs';
import { storedObjects } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { awsCli as awsCliAt } from '../lib/awscli.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-secretslake';
const ROLE = 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-secrets-us-east-1';
const EXTERNAL_ID = 'secrets-external-id-0815';
// The role the test itself assumes (with the AWS CLI) to get the temporary base keys it
// hands to set_credentials: so the session token given to set_credentials is a real one
// that the gate checks on every AssumeRole the worker makes with it.
const BASE_ROLE = 'arn:aws:iam::123456789012:role/securitylake-writer-base';
const BASE_EXTERNAL_ID = 'secrets-base-external-id';
const USER = { accessKeyId: 'AKIASECRETSTESTUSER1', secretAccessKey: 'secretsUserSecretKey/For+TheGate00000000001' };
// A decoy set with a plain set_credentials call under log_statement = 'all': the documented
// caveat, and the proof that statement text does reach the log this test greps.
const DECOY = { accessKeyId: 'AKIADECOYSECRETSTEST', secretAccessKey: 'decoySecretKey-statement-text-is-logged-0001' };
const PSQL = `${PG_BIN}/psql`;

let gate;
let base;            // { AccessKeyId, SecretAccessKey, SessionToken } from the gate's STS
let logStart = 0;    // server log offset when this file started
const flushErrors = [];            // what flush() raised: reaches users too
const activity = { during: [], after: [] };   // pg_stat_activity snapshots
let tlsDir;

const awsCli = (args) => awsCliAt(gate.url, USER, args);

// psql in the background (flush() blocks; the test samples pg_stat_activity meanwhile).
function psqlAsync(sql) {
  return new Promise((resolve) => {
    const child = spawn(PSQL, ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', process.env.PGDATABASE, '-U', process.env.PGUSER],
      { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(sql);
  });
}

// flush() with pg_stat_activity sampled every 100 ms while it runs (and at least once).
async function flushWatched(source, timeout) {
  let done = false;
  const result = psqlAsync(`SELECT count(*) FROM securitylake.flush(${lit(source)}, ${lit(timeout)});`).then((r) => { done = true; return r; });
  let samples = 0;
  while (!done || samples === 0) {
    activity.during.push(...query('SELECT * FROM pg_stat_activity'));
    samples++;
    await sleep(100);
  }
  const r = await result;
  if (r.status !== 0) flushErrors.push(r.stderr);
  return { ...r, samples };
}

function flushThrows(source, timeout, pattern) {
  try {
    psql(`SELECT count(*) FROM securitylake.flush(${lit(source)}, ${lit(timeout)})`);
  } catch (err) {
    flushErrors.push(err.stderr ?? err.message);
    assert.match(err.message, pattern);
    return err.message;
  }
  assert.fail(`flush('${source}') was expected to fail with ${pattern}`);
}

function createSource(name, classUid, { externalId = EXTERNAL_ID, options = {} } = {}) {
  const opts = { endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true, ...options };
  psql(`SELECT securitylake.create_source(${lit(name)}, ${lit(`s3://${BUCKET}/ext/${name}/1.0/`)}, ${lit(ROLE)}, ${lit(externalId)}, ${classUid},
        'us-east-1', '123456789012', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
        publish_rate => '1 hour', options => ${lit(JSON.stringify(opts))}::jsonb);`);
}

function queueFor(source, classUid, n, seed) {
  copyEvents(authEvents(n, { seed }).map((e) => ({ ...e, class_uid: classUid })), { source });
}

// New sessions pick up a reloaded setting once the postmaster has read the file.
async function waitForSetting(name, value) {
  for (let i = 0; i < 100; i++) {
    if (one(`SELECT current_setting(${lit(name)})`) === value) return;
    await sleep(50);
  }
  assert.fail(`${name} did not become ${value}`);
}

// The documented way to call set_credentials: a short-lived superuser session that logs no
// statement text (psql sends the statements one by one, so the SETs apply to the call), then
// ends, so pg_stat_activity does not keep the call as its last statement. The stored keys
// are compared by their MD5 (a comparison with the secret would be statement text too).
function setBaseCredentials() {
  psql(`SET log_statement = 'none';
        SET log_min_error_statement = 'panic';
        SELECT securitylake.set_credentials(${lit(base.AccessKeyId)}, ${lit(base.SecretAccessKey)}, ${lit(base.SessionToken)});`);
  const md5 = (s) => createHash('md5').update(s).digest('hex');
  assert.deepEqual(query('SELECT md5(access_key_id) AS key_id, md5(secret_access_key) AS secret, md5(session_token) AS token FROM securitylake.credential'),
    [{ key_id: md5(base.AccessKeyId), secret: md5(base.SecretAccessKey), token: md5(base.SessionToken) }], 'set_credentials stored the base keys');
}

// Everything readable in schema securitylake but the credential table, as JSON per relation.
function relationDumps() {
  const rels = query(`SELECT format('%I.%I', n.nspname, c.relname) AS rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'securitylake' AND c.relkind IN ('r', 'v', 'm', 'p') AND c.relname <> 'credential' ORDER BY 1`);
  return Object.fromEntries(rels.map(({ rel }) => [rel, JSON.stringify(query(`SELECT * FROM ${rel}`))]));
}

// Where a secret shows, with every secret masked: evidence without repeating them.
function excerpt(text, secret, all) {
  const i = text.indexOf(secret);
  let out = text.slice(Math.max(0, i - 200), i + secret.length + 100);
  for (const s of [secret, ...all].sort((a, b) => b.length - a.length)) out = out.replaceAll(s, '<SECRET>');
  return out;
}

// An https server with the given key and certificate forwarding every request to the gate,
// as a child process; it reports each request and each failed handshake on stdout.
const TLS_PROXY = `
import https from 'node:https';
import http from 'node:http';
import { readFileSync } from 'node:fs';
const [key, cert, gatePort] = process.argv.slice(1);
const server = https.createServer({ key: readFileSync(key), cert: readFileSync(cert) }, (req, res) => {
  console.log('request ' + req.method + ' ' + req.url);
  const up = http.request({ host: '127.0.0.1', port: Number(gatePort), method: req.method, path: req.url, headers: req.headers }, (upRes) => {
    res.writeHead(upRes.statusCode, upRes.headers);
    upRes.pipe(res);
  });
  up.on('error', () => res.destroy());
  req.pipe(up);
});
server.on('tlsClientError', (err) => console.log('tlsError ' + (err.code ?? err.message)));
server.listen(0, '127.0.0.1', () => console.log('listening ' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;

async function startTlsProxy(key, cert, gatePort) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', TLS_PROXY, key, cert, String(gatePort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const proxy = {
    served: 0, tlsErrors: [], url: null,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
  let out = '';
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      let nl;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        if (line.startsWith('listening ')) { proxy.url = `https://127.0.0.1:${line.slice(10)}`; resolve(); }
        else if (line.startsWith('request ')) proxy.served++;
        else if (line.startsWith('tlsError ')) proxy.tlsErrors.push(line.slice(9));
      }
    });
    child.on('exit', (code) => reject(new Error(`TLS proxy exited with ${code}`)));
  });
  return proxy;
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({
    users: [USER], buckets: [BUCKET],
    roles: [{ roleArn: ROLE, externalId: EXTERNAL_ID, maxSessionDuration: 3600 },
      { roleArn: BASE_ROLE, externalId: BASE_EXTERNAL_ID, maxSessionDuration: 3600 }],
  });
  logStart = serverLog().length;
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        ALTER SYSTEM SET log_statement = 'all'; ALTER SYSTEM SET log_min_messages = 'debug1';
        ALTER SYSTEM SET securitylake.max_backoff = '2s'; SELECT pg_reload_conf();`);
  await waitForSetting('log_statement', 'all');
  await waitForSetting('log_min_messages', 'debug1');
  base = awsCli(['sts', 'assume-role', '--role-arn', BASE_ROLE, '--role-session-name', 'securitylake-secrets-base',
    '--external-id', BASE_EXTERNAL_ID, '--duration-seconds', '3600']).Credentials;
  assert.match(base.AccessKeyId, /^ASIA/);
});

after(async () => {
  if (skipNoPg) return;
  try {
    psql(`ALTER SYSTEM RESET log_statement; ALTER SYSTEM RESET log_min_messages; ALTER SYSTEM RESET securitylake.max_backoff;
          SELECT pg_reload_conf(); SELECT securitylake.clear_credentials();`);
  } catch { /* reported by the tests */ }
  await gate?.stop();
  if (tlsDir) rmSync(tlsDir, { recursive: true, force: true });
});

test('no secret in the server log (log_statement = all, debug1), the extension\'s views and tables, or pg_stat_activity', { skip: skipNoPg, timeout: 240000 }, async () => {
  const started = Date.now();
  // The caveat, shown: a plain call under log_statement = 'all' writes its secret to the log.
  psql(`SELECT securitylake.set_credentials(${lit(DECOY.accessKeyId)}, ${lit(DECOY.secretAccessKey)})`);
  assert.ok(serverLog().slice(logStart).includes(DECOY.secretAccessKey),
    'log_statement = all logs a plain set_credentials call with its secret (the documented caveat; also proves this log is the one written)');
  setBaseCredentials();

  createSource('secrets', 3002);
  createSource('wrongid', 3003, { externalId: 'not-the-agreed-external-id' });

  // 1. A delivery slowed by the gate, pg_stat_activity sampled while flush() waits.
  queueFor('secrets', 3002, 300, 81);
  await admin(gate, 'faults', { count: 3, kinds: ['delay'], delayMs: 1200, target: 'any' });
  const first = await flushWatched('secrets', '60 s');
  assert.equal(first.status, 0, first.stderr);
  assert.ok(first.samples >= 3, `pg_stat_activity sampled ${first.samples} times during the flush`);
  assert.ok(activity.during.some((a) => a.state === 'active' && /securitylake\.flush\('secrets'/.test(a.query ?? '')),
    'a sample caught flush() running');

  // 2. Mixed S3/STS faults (retried inside the client or by the worker's backoff).
  queueFor('secrets', 3002, 200, 82);
  await admin(gate, 'faults', { count: 6, kinds: ['500', '503', 'RequestTimeout', 'reset'], target: 'any' });
  const second = await flushWatched('secrets', '90 s');
  assert.equal(second.status, 0, second.stderr);
  await admin(gate, 'faults/clear', {});

  // 3. STS failing, then role sessions lasting 3 s: the worker assumes the role again. (A
  //    changed option rebuilds the source's client, which then assumes the role anew.)
  await admin(gate, 'config', { sessionDurationOverrideSeconds: 3 });
  await admin(gate, 'faults', { count: 2, kinds: ['503'], target: 'sts' });
  psql(`SELECT securitylake.alter_source('secrets', options => '{"role_session_name": "securitylake-secrets-2"}')`);
  queueFor('secrets', 3002, 100, 83);
  assert.equal((await flushWatched('secrets', '90 s')).status, 0);
  await sleep(4000);
  queueFor('secrets', 3002, 100, 84);
  assert.equal((await flushWatched('secrets', '90 s')).status, 0);
  await admin(gate, 'config', { sessionDurationOverrideSeconds: 0 });
  await admin(gate, 'faults/clear', {});
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'secrets'`), 0);
  assert.equal(one(`SELECT sum(rows) FROM securitylake.uploads WHERE source = 'secrets'`), 700);

  // 4. A wrong ExternalId: AccessDenied, rows stay queued.
  queueFor('wrongid', 3003, 20, 85);
  flushThrows('wrongid', '3 s', /AccessDenied/);
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'wrongid'`), 20);
  assert.match(one(`SELECT last_error FROM securitylake.status WHERE source = 'wrongid'`), /AccessDenied/);
  activity.after.push(...query('SELECT * FROM pg_stat_activity'));

  // The gate checked the base session's token on the worker's AssumeRole calls, and the
  // uploads carried the role sessions' tokens.
  const requests = await admin(gate, 'requests');
  assert.ok(requests.some((r) => r.action === 'AssumeRole' && r.accessKeyId === base.AccessKeyId && r.hasSecurityToken && r.status === 200),
    'the worker assumed the role with the keys and session token given to set_credentials');
  assert.ok(requests.some((r) => r.service === 's3' && r.method === 'PUT' && r.hasSecurityToken && r.status === 200), 'uploads used role session tokens');
  assert.ok(requests.some((r) => r.service === 's3' && r.fault && r.fault !== 'delay'), 'S3 faults were injected');
  assert.ok(requests.some((r) => r.action === 'AssumeRole' && r.fault === '503'), 'STS faults were injected');

  // What must appear nowhere: every secret and session token in play.
  const sessions = await admin(gate, 'sessions');
  assert.ok(sessions.length >= 4, `the gate issued ${sessions.length} sessions (base + role sessions + refreshes)`);
  assert.ok(sessions.some((s) => s.accessKeyId === base.AccessKeyId && s.sessionToken === base.SessionToken), 'the base session is listed');
  const secrets = [
    ['the secret access key given to set_credentials', base.SecretAccessKey],
    ['the session token given to set_credentials', base.SessionToken],
    ['the IAM user\'s secret key', USER.secretAccessKey],
    ...sessions.flatMap((s) => [[`the secret key of STS session ${s.accessKeyId}`, s.secretAccessKey], [`the session token of STS session ${s.accessKeyId}`, s.sessionToken]]),
  ];
  // A secret may not leak piecewise either: also look for a 24-character middle part of each.
  const needles = secrets.flatMap(([what, s]) => [[what, s], [`${what} (a 24-character part)`, s.slice(8, 32)]]);
  const haystacks = {
    'server log': serverLog(),
    ...Object.fromEntries(Object.entries(relationDumps()).map(([rel, text]) => [`table/view ${rel}`, text])),
    'pg_stat_activity during flushes': JSON.stringify(activity.during),
    'pg_stat_activity after': JSON.stringify([...activity.after, ...query('SELECT * FROM pg_stat_activity')]),
    'errors flush() raised': flushErrors.join('\n'),
  };
  // The haystacks are the real ones: statement text and the key id the gate names in its
  // AccessDenied are in them (a key id is not a secret).
  assert.ok(haystacks['server log'].includes('securitylake.flush('), 'the log holds statement text');
  assert.ok(haystacks['server log'].includes(base.AccessKeyId), 'the log holds the AccessDenied naming the caller\'s key id');
  assert.ok(haystacks['table/view securitylake.status'].includes(base.AccessKeyId), 'status holds that AccessDenied too');
  assert.ok(activity.during.length > 0 && haystacks['server log'].length > 0);
  const leaks = [];
  for (const [where, text] of Object.entries(haystacks)) {
    for (const [what, secret] of needles) {
      if (text.includes(secret)) leaks.push(`${what} is in ${where}: …${excerpt(text, secret, needles.map((n) => n[1]))}…`);
    }
  }
  assert.deepEqual(leaks, [], 'no secret anywhere');
  psql(`SELECT securitylake.drop_source('wrongid', force => true)`);
  console.log(`secrets: ${needles.length} needles (${sessions.length} STS sessions) absent from ${Object.keys(haystacks).length} places ` +
    `(server log ${Math.round(haystacks['server log'].length / 1024)} KiB under log_statement=all/debug1, ${activity.during.length} pg_stat_activity rows ` +
    `sampled during flushes, ${activity.during.filter((a) => a.query === 'securitylake: uploading a batch').length} of them the worker uploading); ` +
    `${((Date.now() - started) / 1000).toFixed(1)} s`);
});

test('https to an untrusted (self-signed) endpoint is refused; with its CA in ca_file it delivers', { skip: skipNoPg, timeout: 120000 }, async () => {
  // The CA must be readable by the server's OS user (postgres); the key stays private.
  tlsDir = mkdtempSync(join(process.env.SECURITYLAKE_TEST_TMP ?? tmpdir(), 'secrets-tls-'));
  chmodSync(tlsDir, 0o755);
  const keyDir = mkdtempSync(join(tlsDir, 'key-'));
  const key = join(keyDir, 'tls.key');
  const cert = join(tlsDir, 'ca.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  chmodSync(cert, 0o644);
  assert.equal(statSync(cert).mode & 0o004, 0o004, 'the CA file is world-readable');

  // A TLS proxy in front of the gate, in a child process (psql blocks this one); the Host
  // header is passed on, so signatures verify.
  const proxy = await startTlsProxy(key, cert, gate.port);
  const url = proxy.url;
  try {
    setBaseCredentials();   // (again: this test may run alone)
    createSource('tls', 3004, { options: { endpoint: url } });
    queueFor('tls', 3004, 100, 86);
    const err = flushThrows('tls', '5 s', /timed out/);
    assert.match(err, /certificate/i, 'flush() names the certificate problem');
    assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'tls'`), 100, 'rows stay queued');
    const status = one(`SELECT last_error FROM securitylake.status WHERE source = 'tls'`);
    assert.match(status, /certificate/i);
    await sleep(200);   // the proxy's reports of what it saw
    assert.equal(proxy.served, 0, 'no request got through the refused handshake');
    assert.ok(proxy.tlsErrors.length >= 1, 'the worker did try the TLS handshake');
    assert.equal(storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith('ext/tls/')).length, 0);

    // The CA in ca_file (merged into the source's options), STS through the proxy as well.
    psql(`SELECT securitylake.alter_source('tls', options => ${lit(JSON.stringify({ ca_file: cert, sts_endpoint: url }))}::jsonb)`);
    assert.deepEqual(one(`SELECT options FROM securitylake.sources WHERE name = 'tls'`),
      { endpoint: url, sts_endpoint: url, force_path_style: true, ca_file: cert }, 'options merged');
    query(`SELECT * FROM securitylake.flush('tls', '60 s')`);
    // The worker may retry on its own (its backoff ended) before flush() asks it to:
    // what was delivered is in the upload log either way.
    const flushed = query(`SELECT object_key, rows FROM securitylake.uploads WHERE source = 'tls'`);
    assert.equal(flushed.reduce((n, r) => n + Number(r.rows), 0), 100);
    assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'tls'`), 0);
    assert.equal(one(`SELECT last_error FROM securitylake.status WHERE source = 'tls'`), null);
    const keys = storedObjects(gate.dataDir, BUCKET).map((o) => o.key);
    for (const r of flushed) assert.ok(keys.includes(r.object_key), `object ${r.object_key} is in the bucket`);
    const requests = await admin(gate, 'requests');
    await sleep(200);
    assert.ok(proxy.served >= 2, `AssumeRole and the upload went through the TLS proxy (${proxy.served} requests)`);
    assert.ok(requests.some((r) => r.method === 'PUT' && r.path.includes('/ext/tls/') && r.status === 200));
    console.log(`secrets: TLS: a self-signed endpoint is refused (${proxy.tlsErrors.length} failed handshakes, 100 rows kept queued, status: ${status.split(' (source')[0]}); ` +
      `with ca_file ${flushed.length} object(s) delivered through it (${proxy.served} requests)`);
  } finally {
    await proxy.stop();
  }
});
