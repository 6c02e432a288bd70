// docs/aws-setup.md, executed as written, block by block in document order, so the guide and
// what works cannot drift apart:
//   sh         in bash, with the AWS CLI (Debian's, given Security Lake's GA model by the
//              guide's own `aws configure add-model`): Security Lake's custom-source commands,
//              STS and S3 against the gate; IAM and create-data-lake against a recorder that
//              keeps what the CLI sent (the CLI validated it against the service model first)
//   json file= written to that file, for the commands that name it
//   ini file=  the credentials file, read by the extension's own AWS client (awsctl)
//   conf       each setting exists in the running server, as written
//   sql        in PostgreSQL (calls that create sources get the gate's endpoints added)
//   sql athena by DuckDB over the objects delivered, the table named as in Athena
// and the troubleshooting table: each row's error provoked and seen in securitylake.status.
// Every fenced block must be one of these, and every one is run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, writeFileSync, readFileSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { sqlError } from '../lib/sqlerror.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { openDuck, dlit } from '../lib/duck.mjs';
import { fencedBlocks, tableRows } from '../lib/markdown.mjs';

const ROOT = new URL('../../', import.meta.url).pathname;
const DOC = readFileSync(`${ROOT}docs/aws-setup.md`, 'utf8');
const MODEL = `${ROOT}test/aws/models/securitylake-2018-05-10.json`;
const AWSCTL = `${ROOT}build/aws/awsctl`;
// The guide's example identity and lake: AWS's documentation examples, served by the gate.
const KEYS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' };
const ACCOUNT = '123456789012';
const BUCKET = 'aws-security-data-lake-us-east-1-1a2b3c4d5e6f';
const TROUBLE_ROLE = `arn:aws:iam::${ACCOUNT}:role/service-role/AmazonSecurityLake-Provider-trouble-us-east-1`;
const OWNED_ELSEWHERE = 'aws-security-data-lake-us-east-1-lookalike';
const EU_BUCKET = 'aws-security-data-lake-us-east-1-movedtoeu';
const ROLES = ['app_producer', 'lake_operator'];

let gate;
let recorder;
let work;
let duck;
const recorded = [];       // what the CLI sent to the recorder
const ran = new Set();     // blocks executed (by line)
let shellState = '';       // variables the guide's sh blocks set, carried from block to block

// ---- the recorder: any AWS API, answered with an empty success ------------------------------
function startRecorder() {
  return new Promise((resolve) => {
    const server = createServer((req, res) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const form = /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '') ? Object.fromEntries(new URLSearchParams(body)) : null;
        recorded.push({ method: req.method, path: req.url, host: req.headers.host, auth: req.headers.authorization ?? '', form, json: form ? null : (body ? JSON.parse(body) : null) });
        if (form?.Action) {
          res.writeHead(200, { 'content-type': 'text/xml' });
          res.end(`<${form.Action}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><${form.Action}Result></${form.Action}Result><ResponseMetadata><RequestId>rec</RequestId></ResponseMetadata></${form.Action}Response>`);
        } else {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{}');
        }
      });
    });
    server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}`, stop: () => new Promise((r) => server.close(r)) }));
  });
}

// ---- sh: bash with the AWS CLI routed to the gate or the recorder ---------------------------
const SHELL_PRELUDE = `
set -euo pipefail
aws() {
  local ep
  case "$1 \${2:-}" in
    "configure "*) /usr/bin/aws "$@"; return ;;
    "securitylake create-custom-log-source"|"securitylake delete-custom-log-source"|"sts "*|"s3 "*|"s3api "*) ep=$GATE_URL ;;
    *) ep=$RECORDER_URL ;;
  esac
  /usr/bin/aws "$@" --endpoint-url "$ep"
}
`;

// Each block runs in a fresh bash that first defines the variables earlier blocks set.
async function runShell(block) {
  const stateFile = join(work, 'shell-state.sh');
  const script = `${SHELL_PRELUDE}
__baseline=" $(compgen -v | tr '\n' ' ') "
${shellState}
${block.body}
for __v in $(compgen -v); do
  case "$__baseline" in *" $__v "*) ;; *) [[ $__v == __* ]] || declare -p "$__v" ;; esac
done > ${JSON.stringify(stateFile)}
`;
  const env = {
    PATH: `/usr/bin:/bin:${process.env.PATH}`, HOME: work, AWS_ACCESS_KEY_ID: KEYS.accessKeyId, AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true', AWS_PAGER: '', AWS_DEFAULT_OUTPUT: 'json', GATE_URL: gate.url, RECORDER_URL: recorder.url,
  };
  // Not spawnSync: the recorder answers from this process's event loop.
  const r = await new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: work, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
  assert.equal(r.status, 0, `sh block at line ${block.line} failed:\n${block.body}\n${r.stderr}`);
  shellState = readFileSync(stateFile, 'utf8');
  return r.stdout;
}

// ---- sql: the gate's endpoints added to calls that create a source --------------------------
// Insert `, options => '...'` before the closing parenthesis of each call of fn (strings and
// -- comments skipped).
function withOptions(sql, fns, options) {
  let out = sql;
  for (const fn of fns) {
    let from = 0;
    for (;;) {
      const at = out.indexOf(`${fn}(`, from);
      if (at < 0) break;
      let depth = 0;
      let i = at + fn.length;
      for (; i < out.length; i++) {
        const c = out[i];
        if (c === "'") { i = out.indexOf("'", i + 1); continue; }
        if (c === '-' && out[i + 1] === '-') { i = out.indexOf('\n', i); continue; }
        if (c === '(') depth++;
        if (c === ')' && --depth === 0) break;
      }
      const insert = `, options => ${lit(JSON.stringify(options))}::jsonb`;
      // before the closing parenthesis, after any -- comment on the last line
      let close = i;
      const lineStart = out.lastIndexOf('\n', close);
      const comment = out.slice(lineStart, close).indexOf('--');
      if (comment >= 0) throw new Error(`a -- comment before the closing parenthesis of ${fn}: put it elsewhere`);
      out = `${out.slice(0, close)}${insert}${out.slice(close)}`;
      from = close + insert.length;
    }
  }
  return out;
}

const sourceOptions = () => ({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true });

function runSql(block) {
  let sql = withOptions(block.body, ['securitylake.register_custom_source'], { securitylake_endpoint: gate.url, ...sourceOptions() });
  sql = withOptions(sql, ['securitylake.create_source'], sourceOptions());
  return psql(sql);
}

// ---- sql athena: DuckDB over the delivered objects ------------------------------------------
async function runAthena(block) {
  const m = block.body.match(/FROM\s+([a-z0-9_]+)\.([a-z0-9_]+)/i);
  assert.ok(m, 'the Athena query names database.table');
  const [, database, table] = m;
  const reg = one(`SELECT row_to_json(r) FROM securitylake.registration r WHERE source = 'app_auth'`);
  assert.equal(`${database}/${table}`, reg.table_arn.split(':table/')[1], 'the guide queries the table Security Lake made');
  const prefix = reg.location.replace(`s3://${BUCKET}/`, '');
  await duck.rows(`SET TimeZone = 'UTC'`);
  await duck.rows(`CREATE SCHEMA IF NOT EXISTS ${database}`);
  await duck.rows(`CREATE OR REPLACE VIEW ${database}.${table} AS SELECT * FROM read_parquet(${dlit(join(gate.dataDir, BUCKET, prefix, '**', '*._S3rver_object'))},
                   hive_partitioning = true, hive_types_autocast = false)`);
  // Column names as Athena gives them (lower case; DuckDB keeps the partition keys' case).
  return (await duck.rows(block.body)).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k.toLowerCase(), v])));
}

// ---- the walk ---------------------------------------------------------------------------------
before(async () => {
  if (skipNoPg) return;
  execFileSync('make', ['-s', 'build/aws/awsctl'], { cwd: ROOT, stdio: 'inherit' });
  work = mkdtempSync(join(tmpdir(), 'securitylake-aws-setup-'));
  copyFileSync(MODEL, join(work, 'service-2.json'));
  recorder = await startRecorder();
  gate = await startGate({
    https: true,
    users: [KEYS],
    buckets: [BUCKET, { name: OWNED_ELSEWHERE, owner: '210987654321' }, { name: EU_BUCKET, region: 'eu-west-1' }],
    roles: [{ roleArn: TROUBLE_ROLE, externalId: 'trouble-external-id', maxSessionDuration: 3600 }],
    securityLake: { account: ACCOUNT, allow: [KEYS.accessKeyId], bucket: BUCKET },
  });
  duck = await openDuck();
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; ${ROLES.map((r) => `DROP ROLE IF EXISTS ${r};`).join(' ')}`);
});

after(async () => {
  if (!skipNoPg) {
    psql(`ALTER SYSTEM RESET securitylake.allowed_endpoints; SELECT pg_reload_conf(); ${ROLES.map((r) => `DROP ROLE IF EXISTS ${r};`).join(' ')}`);
  }
  duck?.close();
  await gate?.stop();
  await recorder?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const blocks = fencedBlocks(DOC);
const results = {};   // outputs kept for the checks after the walk

test('docs/aws-setup.md: every block runs as written, in order', { skip: skipNoPg, timeout: 600000 }, async () => {
  const troubleLine = DOC.split('\n').findIndex((l) => /^## 9\. Troubleshooting/.test(l)) + 1;
  assert.ok(troubleLine > 0);
  let troubleshot = false;
  results.providerRoles = {};
  for (const block of blocks) {
    // The troubleshooting scenarios run where the guide has the table: the sources exist
    // by then, and are removed after it.
    if (!troubleshot && block.line > troubleLine) {
      await troubleshoot();
      troubleshot = true;
    }
    const kind = `${block.lang}${block.words.length ? ` ${block.words.join(' ')}` : ''}`;
    const started = Date.now();
    if (block.lang === 'json' && block.attrs.file) {
      JSON.parse(block.body);
      writeFileSync(join(work, block.attrs.file), block.body);
    } else if (block.lang === 'sh') {
      const out = await runShell(block);
      if (/create-custom-log-source/.test(block.body)) results.cliProvider = JSON.parse(out);
      if (/aws s3 ls/.test(block.body)) results.s3ls = out;
    } else if (block.lang === 'ini' && block.attrs.file === 'credentials') {
      checkCredentialsFile(block);
    } else if (block.lang === 'conf') {
      checkConf(block);
    } else if (kind === 'sql athena') {
      results.athena = await runAthena(block);
    } else if (kind === 'sql') {
      runSql(block);
      if (/securitylake\.create_source\(/.test(block.body)) results.createSourceSql = block.body;
    } else {
      assert.fail(`block at line ${block.line} (${block.info}) is of no kind this test runs`);
    }
    ran.add(block.line);
    if (process.env.TIMINGS) console.log(`# block line ${block.line} (${kind}): ${Date.now() - started} ms`);
    if (one(`SELECT count(*) FROM pg_extension WHERE extname = 'securitylake'`) > 0) {
      for (const r of query(`SELECT name, role_arn FROM securitylake.source`)) results.providerRoles[r.name] = r.role_arn;
    }
  }
  assert.ok(troubleshot, 'the troubleshooting table was reached');
  assert.equal(ran.size, blocks.length);
  checkWhatTheCliSent();
  checkDeliveryAndQuery();
  // The CLI path: what create-custom-log-source answered is what the guide puts into create_source.
  assert.ok(results.createSourceSql.includes(`'${results.cliProvider.location}'`), `${results.cliProvider.location} in create_source`);
  assert.ok(results.createSourceSql.includes(`'${results.cliProvider.roleArn}'`), `${results.cliProvider.roleArn} in create_source`);
});

function checkCredentialsFile(block) {
  const home = join(work, 'postgres-home');
  mkdirSync(join(home, '.aws'), { recursive: true });
  writeFileSync(join(home, '.aws', 'credentials'), block.body, { mode: 0o600 });
  const r = spawnSync(AWSCTL, ['whoami'], {
    env: { PATH: process.env.PATH, HOME: home, AWS_EC2_METADATA_DISABLED: 'true', AWSCTL_STS_ENDPOINT: gate.url, AWSCTL_ENDPOINT: gate.url },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `the client reads the credentials file: ${r.stdout} ${r.stderr}`);
  assert.equal(JSON.parse(r.stdout).account, ACCOUNT);
}

function checkConf(block) {
  for (const line of block.body.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'))) {
    const m = line.match(/^([a-z_.]+)\s*=\s*'([^']*)'\s*(#.*)?$/);
    assert.ok(m, `postgresql.conf line: ${line}`);
    const [, name, value] = m;
    const setting = one(`SELECT row_to_json(s) FROM pg_settings s WHERE name = ${lit(name)}`);
    assert.ok(setting, `${name} is a setting of this server`);
    if (name === 'shared_preload_libraries') assert.ok(setting.setting.split(/,\s*/).includes(value), 'the test server preloads it too');
    if (name === 'securitylake.database') assert.equal(setting.context, 'postmaster');
  }
}

// What the CLI sent: the roles, policies and data lake that the rest of the guide relies on.
function checkWhatTheCliSent() {
  const iam = recorded.filter((r) => r.form?.Action).map((r) => r.form);
  const byAction = (a) => iam.filter((f) => f.Action === a);
  const file = (name) => JSON.parse(readFileSync(join(work, name), 'utf8'));
  const trusts = (doc, service) => doc.Statement.some((s) => s.Effect === 'Allow' && s.Principal?.Service === service && s.Action === 'sts:AssumeRole');

  const roles = Object.fromEntries(byAction('CreateRole').map((f) => [f.RoleName, f]));
  const metastore = roles.AmazonSecurityLakeMetaStoreManagerV2;
  assert.ok(metastore && trusts(JSON.parse(metastore.AssumeRolePolicyDocument), 'lambda.amazonaws.com'));
  assert.deepEqual(JSON.parse(metastore.AssumeRolePolicyDocument), file('metastore-trust.json'));
  const crawler = roles.AmazonSecurityLakeCustomSourceCrawler;
  assert.ok(crawler && trusts(JSON.parse(crawler.AssumeRolePolicyDocument), 'glue.amazonaws.com'));
  const attached = byAction('AttachRolePolicy').map((f) => `${f.RoleName} ${f.PolicyArn}`);
  assert.ok(attached.includes('AmazonSecurityLakeMetaStoreManagerV2 arn:aws:iam::aws:policy/service-role/AmazonSecurityLakeMetastoreManager'));
  assert.ok(attached.includes('AmazonSecurityLakeCustomSourceCrawler arn:aws:iam::aws:policy/service-role/AWSGlueServiceRole'));
  const inline = byAction('PutRolePolicy').find((f) => f.RoleName === 'AmazonSecurityLakeCustomSourceCrawler');
  assert.ok(JSON.parse(inline.PolicyDocument).Statement.some((s) => s.Action.includes('s3:GetObject') && s.Resource === 'arn:aws:s3:::aws-security-data-lake-*/*'));

  // The data lake names the metastore role the guide created, at its path.
  const lake = recorded.find((r) => r.method === 'POST' && r.path === '/v1/datalake');
  assert.ok(lake, 'create-data-lake sent CreateDataLake');
  assert.equal(lake.json.metaStoreManagerRoleArn, `arn:aws:iam::${ACCOUNT}:role${metastore.Path}${metastore.RoleName}`);
  assert.deepEqual(lake.json.configurations, [{ region: 'us-east-1', encryptionConfiguration: { kmsKeyId: 'S3_MANAGED_KEY' } }]);

  // The database host's role may assume exactly the provider roles Security Lake made.
  const writer = byAction('CreatePolicy').find((f) => f.PolicyName === 'securitylake-writer');
  assert.ok(attached.includes(`securitylake-db-host arn:aws:iam::${ACCOUNT}:policy/securitylake-writer`));
  const statements = JSON.parse(writer.PolicyDocument).Statement;
  assert.deepEqual(statements.map((s) => s.Action), ['sts:AssumeRole'], 'AssumeRole only (no TagSession, nothing else)');
  const glob = (pattern) => new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\/]/g, '\\$&')).join('.*')}$`);
  for (const src of ['app_auth', 'app_dns']) {
    const role = results.providerRoles[src];
    assert.ok(glob(statements[0].Resource).test(role), `${statements[0].Resource} covers ${role}`);
  }
  assert.ok(!glob(statements[0].Resource).test(`arn:aws:iam::${ACCOUNT}:role/AmazonSecurityLakeCustomSourceCrawler`));
  // Administrator rights and PassRole of the crawler role for the registration, taken back after it.
  const admin = 'securitylake-db-host arn:aws:iam::aws:policy/AmazonSecurityLakeAdministrator';
  assert.ok(attached.includes(admin));
  assert.ok(byAction('DetachRolePolicy').map((f) => `${f.RoleName} ${f.PolicyArn}`).includes(admin));
  const pass = byAction('PutRolePolicy').find((f) => f.RoleName === 'securitylake-db-host');
  const passStatement = JSON.parse(pass.PolicyDocument).Statement;
  assert.deepEqual(passStatement.map((st) => st.Action), ['iam:PassRole']);
  assert.ok(glob(passStatement[0].Resource).test(`arn:aws:iam::${ACCOUNT}:role/${crawler.RoleName}`), 'it passes the crawler role the guide created');
  assert.ok(byAction('DeleteRolePolicy').some((f) => f.RoleName === pass.RoleName && f.PolicyName === pass.PolicyName), 'and is deleted after');
  // Nothing of the guide's IAM work went to the gate, and everything was signed.
  assert.ok(recorded.every((r) => r.auth.startsWith('AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/')));
}

function checkDeliveryAndQuery() {
  const rows = results.athena;
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0].user_name, 'alice');
  assert.equal(rows[0].activity_name, 'Logon');
  assert.deepEqual([rows[0].region, rows[0].accountid, rows[0].eventday], ['us-east-1', ACCOUNT, '20261202']);
  assert.match(String(rows[0].time_dt), /^2026-12-02[ T]12:00:00/);
  assert.match(results.s3ls, /ext\/app_auth\/1\.0\/region=us-east-1\/accountId=123456789012\/eventDay=20261202\/[0-9a-f-]+\.parquet/);
  // Removed at the end: nothing left in Security Lake, nor here.
  assert.equal(one(`SELECT count(*) FROM securitylake.source`), 0);
  assert.equal(one(`SELECT count(*) FROM securitylake.registration`), 0);
}

// ---- troubleshooting: each row provoked ------------------------------------------------------
const EVENT = JSON.stringify({
  class_uid: 3002, category_uid: 3, activity_id: 1, type_uid: 300201, severity_id: 1, time: Date.UTC(2026, 11, 2, 13),
  metadata: { version: '1.1.0', uid: 'trouble', product: { name: 'my-app', vendor_name: 'Example Corp' } }, user: { name: 'mallory' },
});

function troubleSource(name, { location = `s3://${BUCKET}/ext/${name}/1.0/`, externalId = 'trouble-external-id', options = {}, queue = true } = {}) {
  psql(`SELECT securitylake.create_source(${lit(name)}, ${lit(location)}, ${lit(TROUBLE_ROLE)}, ${lit(externalId)}, 3002, 'us-east-1', ${lit(ACCOUNT)},
        publish_rate => '1 hour', options => ${lit(JSON.stringify({ endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true, ...options }))}::jsonb)`);
  if (queue) queueEvent(name);
}

function queueEvent(name) {
  psql(`INSERT INTO securitylake.queue (source, event) VALUES (${lit(name)}, ${lit(EVENT)})`);
}

// Ask for delivery, and wait until the source's status shows an error or its event is
// delivered (the client's own retries take a few seconds); its state.
async function attempt(name) {
  sqlError(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '2 s')`);
  let st;
  for (let i = 0; i < 60; i++) {
    st = one(`SELECT row_to_json(s) FROM (SELECT st.last_error, securitylake.error_code(st.last_error) AS code, st.bucket_region, m.delivered_events_total
                FROM securitylake.source_state st JOIN securitylake.metrics m ON m.source = st.source WHERE st.source = ${lit(name)}) s`);
    if (st.last_error !== null || st.delivered_events_total > 0) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return st;
}

function restoreCredentials() {
  psql(`SELECT securitylake.set_credentials(${lit(KEYS.accessKeyId)}, ${lit(KEYS.secretAccessKey)})`);
}

const SCENARIOS = {
  'AccessDenied AssumeRole': async () => { troubleSource('t_extid', { externalId: 'not-the-agreed-id' }); return await attempt('t_extid'); },
  'AccessDenied PutObject': async () => { troubleSource('t_owner', { location: `s3://${OWNED_ELSEWHERE}/ext/t_owner/1.0/` }); return await attempt('t_owner'); },
  'SignatureDoesNotMatch AssumeRole': async () => {
    psql(`SELECT securitylake.set_credentials(${lit(KEYS.accessKeyId)}, 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEz')`);
    try { troubleSource('t_sig'); return await attempt('t_sig'); } finally { restoreCredentials(); }
  },
  'InvalidClientTokenId AssumeRole': async () => {
    psql(`SELECT securitylake.set_credentials('AKIAUNKNOWNEXAMPLE01', ${lit(KEYS.secretAccessKey)})`);
    try { troubleSource('t_key'); return await attempt('t_key'); } finally { restoreCredentials(); }
  },
  'ExpiredToken AssumeRole': async () => {
    const out = await runShell({ line: 0, body: `aws sts assume-role --role-arn ${TROUBLE_ROLE} --role-session-name expiring --external-id trouble-external-id --query Credentials` });
    const c = JSON.parse(out);
    await admin(gate, 'sessions/expire', {});
    psql(`SELECT securitylake.set_credentials(${lit(c.AccessKeyId)}, ${lit(c.SecretAccessKey)}, ${lit(c.SessionToken)})`);
    try { troubleSource('t_expired'); return await attempt('t_expired'); } finally { restoreCredentials(); }
  },
  'NoCredentials GetCredentials': async () => {
    psql(`SELECT securitylake.clear_credentials()`);
    try { troubleSource('t_nocreds'); return await attempt('t_nocreds'); } finally { restoreCredentials(); }
  },
  'RequestTimeTooSkewed PutObject': async () => {
    await admin(gate, 'faults', { count: 1000, kinds: ['RequestTimeTooSkewed'], target: 's3' });
    try { troubleSource('t_skew'); return await attempt('t_skew'); } finally { await admin(gate, 'faults/clear', {}); }
  },
  'NoSuchBucket PutObject': async () => { troubleSource('t_nobucket', { location: 's3://aws-security-data-lake-us-east-1-nosuchlake/ext/t_nobucket/1.0/' }); return await attempt('t_nobucket'); },
  'ConnectionError AssumeRole': async () => {
    const https = `https://127.0.0.1:${gate.httpsPort}`;
    troubleSource('t_tls', { options: { endpoint: https, sts_endpoint: https } });
    const st = await attempt('t_tls');
    assert.match(st.last_error, /certificate|SSL|TLS/i, 'a TLS failure');
    return st;
  },
  'EndpointNotAllowed —': async () => {
    // Created while the gate is allowed; the superuser then shortens the list.
    troubleSource('t_allow', { queue: false });
    psql(`ALTER SYSTEM SET securitylake.allowed_endpoints = 'http://localhost'; SELECT pg_reload_conf();`);
    try {
      await new Promise((r) => setTimeout(r, 1500));
      queueEvent('t_allow');
      return await attempt('t_allow');
    } finally {
      psql(`ALTER SYSTEM RESET securitylake.allowed_endpoints; SELECT pg_reload_conf();`);
      await new Promise((r) => setTimeout(r, 1500));
    }
  },
};

async function troubleshoot() {
  const rows = tableRows(DOC, /^## 9\. Troubleshooting/);
  assert.match(DOC, /retries begin with\s+`CreateMultipartUpload`/, 'the guide says what a retry\'s error reads');
  const keys = rows.map((r) => `${r[0].replace(/`/g, '')} ${r[1]}`);
  assert.deepEqual([...keys].sort(), Object.keys(SCENARIOS).sort(), 'one scenario per row of the table, one row per scenario');
  for (const key of keys) {
    const [code, during] = key.split(' ');
    const started = Date.now();
    const st = await SCENARIOS[key]();
    if (process.env.TIMINGS) console.log(`# scenario ${key}: ${Date.now() - started} ms`);
    assert.equal(st.code, code, `${key}: ${st.last_error}`);
    // A failing source's retries begin with CreateMultipartUpload (the paragraph above the table).
    const seen = during === 'PutObject' ? '(PutObject|CreateMultipartUpload)' : during;
    if (during !== '—') assert.match(st.last_error, new RegExp(`during ${seen}\\b`), `${key}: ${st.last_error}`);
    assert.equal(st.delivered_events_total, 0);
  }
  // The paragraph after the table: a bucket in another region delivers, and status says where.
  troubleSource('t_region', { location: `s3://${EU_BUCKET}/ext/t_region/1.0/` });
  const moved = await attempt('t_region');
  assert.equal(moved.last_error, null);
  assert.equal(moved.bucket_region, 'eu-west-1');
  assert.equal(moved.delivered_events_total, 1);
  psql(`SELECT securitylake.drop_source(name, force => true) FROM securitylake.source WHERE name LIKE 't\\_%';
        DELETE FROM securitylake.dead_letter;`);
}
