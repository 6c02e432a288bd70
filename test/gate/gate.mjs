// The gate: a local S3 + STS endpoint that every test trusts as the referee.
//
// Storage is s3rver (which checks no signature and accepts anonymous requests); the gate
// in front of it recomputes every request's SigV4 signature with AWS's own signer
// (@smithy/signature-v4) and the stored secret, and answers like S3/STS when anything is
// off: anonymous → AccessDenied, unknown key → InvalidAccessKeyId, bad signature →
// SignatureDoesNotMatch, wrong payload hash → XAmzContentSHA256Mismatch, > 15 min skew →
// RequestTimeTooSkewed, temporary keys without (or with a wrong) session token →
// InvalidToken, after expiry → ExpiredToken. STS AssumeRole / AssumeRoleWithWebIdentity
// issue temporary credentials against a configured trust (role ARN + ExternalId).
// Tests inject faults through the admin API under /__gate/ (see README.md here).
//
//   import { startGate } from './gate.mjs';  const gate = await startGate({ ... });
//   node test/gate/gate.mjs --port 0 [--data-dir DIR] [--config file.json] [--pid-file F]
import http from 'node:http';
import https from 'node:https';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { SignatureV4 } from '@smithy/signature-v4';
import { Hash } from '@smithy/hash-node';
import { makeTestTls } from './tls.mjs';
import { createSecurityLake } from './securitylake.mjs';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');

export const DEFAULTS = {
  region: 'us-east-1',
  users: [{ accessKeyId: 'AKIAGATETESTUSER0001', secretAccessKey: 'gateTestSecretKey/000000000000000000000001' }],
  roles: [{
    roleArn: 'arn:aws:iam::123456789012:role/service-role/AmazonSecurityLake-Provider-test-us-east-1',
    externalId: 'test-external-id', maxSessionDuration: 3600, allowTagSession: false,
  }],
  webIdentity: null,
  // A name, or { name, region, owner, sse: 'aws:kms', kmsKeyId }: region defaults to the
  // gate's, owner to 123456789012, sse to none (S3-managed: ETag = MD5 of a single PUT).
  buckets: ['aws-security-data-lake-us-east-1-testlake'],
  // Security Lake control plane: the lake's account and bucket (default: the first bucket),
  // and who may call it (access key ids, or the role ARNs behind temporary keys).
  securityLake: { account: '123456789012', allow: ['AKIAGATETESTUSER0001'] },
};
export const DEFAULT_OWNER = '123456789012';

const MAX_SKEW_MS = 15 * 60 * 1000;
const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/';
const Sha256 = Hash.bind(null, 'sha256');

const xmlEscape = (s) => String(s).replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' }[c]));
const requestId = () => randomBytes(8).toString('hex').toUpperCase();
const randomKey = (prefix, n) => prefix + Array.from(randomBytes(n), (b) => 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'[b % 32]).join('');

class GateError extends Error {
  constructor(status, code, message, extra = {}, headers = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
    this.headers = headers;
  }
}

// How a host addresses S3: { bucket (virtual-hosted) or null, endpointRegion or null }.
export function s3Addressing(hostHeader) {
  const host = String(hostHeader ?? '').split(':')[0].toLowerCase();
  let m = /^(.+)\.s3[.-](?:dualstack\.)?([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host);
  if (m && m[2] !== 'amazonaws') return { bucket: m[1], endpointRegion: m[2] };
  m = /^s3[.-](?:dualstack\.)?([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/.exec(host);
  if (m && m[1] !== 'amazonaws') return { bucket: null, endpointRegion: m[1] };
  m = /^(.+)\.s3\.amazonaws\.com$/.exec(host);
  if (m) return { bucket: m[1], endpointRegion: null };
  m = /^(.+?)\.(?:s3\.)?localhost$/.exec(host);
  if (m && m[1] !== 's3' && m[1] !== 'sts' && m[1] !== 'securitylake') return { bucket: m[1], endpointRegion: null };
  return { bucket: null, endpointRegion: null };
}

// Content-MD5 and x-amz-checksum-sha256 of a PUT body, checked as S3 does.
function checkDigests(req, body) {
  const md5 = req.headers['content-md5'];
  if (md5 !== undefined) {
    const raw = Buffer.from(md5, 'base64');
    if (raw.length !== 16 || raw.toString('base64') !== md5) throw new GateError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.');
    const actual = createHash('md5').update(body).digest('base64');
    if (actual !== md5) {
      throw new GateError(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.',
        { ExpectedDigest: Buffer.from(md5, 'base64').toString('hex'), CalculatedDigest: Buffer.from(actual, 'base64').toString('hex') });
    }
  }
  const sha = req.headers['x-amz-checksum-sha256'];
  if (sha !== undefined) {
    const raw = Buffer.from(sha, 'base64');
    if (raw.length !== 32 || raw.toString('base64') !== sha) throw new GateError(400, 'InvalidRequest', 'Value for x-amz-checksum-sha256 header is invalid.');
    if (createHash('sha256').update(body).digest('base64') !== sha) {
      throw new GateError(400, 'BadDigest', 'The sha256 you specified did not match the calculated checksum.');
    }
  }
  return sha;
}

// What kind of S3 request: put (PutObject), part (UploadPart), create, complete, abort, other.
function s3Kind(method, query) {
  if (method === 'PUT' && 'uploadId' in query) return 'part';
  if (method === 'PUT') return 'put';
  if (method === 'POST' && 'uploads' in query) return 'create';
  if (method === 'POST' && 'uploadId' in query) return 'complete';
  if (method === 'DELETE' && 'uploadId' in query) return 'abort';
  return 'other';
}

// "20240101T000000Z" → Date
function parseAmzDate(s) {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s ?? '');
  return m ? new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6])) : null;
}

// Raw query string → { key: value | value[] } with decoded keys and values (what the signer wants).
function parseQuery(raw) {
  const out = {};
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

function parseAuthorization(header) {
  const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/.exec(header ?? '');
  if (!m) return null;
  return { accessKeyId: m[1], date: m[2], region: m[3], service: m[4], signedHeaders: m[5].split(';'), signature: m[6] };
}

// Presigned form: X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date, X-Amz-SignedHeaders, X-Amz-Signature.
function parsePresigned(query) {
  if (query['X-Amz-Algorithm'] !== 'AWS4-HMAC-SHA256') return null;
  const cred = /^([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request$/.exec(query['X-Amz-Credential'] ?? '');
  if (!cred) return null;
  return {
    accessKeyId: cred[1], date: cred[2], region: cred[3], service: cred[4],
    signedHeaders: String(query['X-Amz-SignedHeaders'] ?? '').split(';'),
    signature: query['X-Amz-Signature'], amzDate: query['X-Amz-Date'], expires: Number(query['X-Amz-Expires'] ?? 0),
    token: query['X-Amz-Security-Token'],
  };
}

// The gate in a child process (the default for tests): tests may then block on psql or
// the AWS CLI (spawnSync) while the gate serves the requests those cause.
export async function startGate(options = {}) {
  if (options.inProcess) return startGateInProcess(options);
  const { spawn } = await import('node:child_process');
  const ownDataDir = !options.dataDir;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'securitylake-gate-'));
  const configFile = join(dataDir, '..', `gate-config-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(configFile, JSON.stringify({ ...options, dataDir }));
  const child = spawn(process.execPath, [new URL(import.meta.url).pathname, '--config', configFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  let httpsPort;
  let caFile;
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const onData = (d) => {
      out += d;
      const m = /^gate listening (\S+)$/m.exec(out);
      if (m) { child.stdout.off('data', onData); resolve(m[1]); }
      const t = /^gate https (\d+) (\S+)$/m.exec(out);
      if (t) { httpsPort = Number(t[1]); caFile = t[2]; }
    };
    child.stdout.on('data', onData);
    child.on('exit', (code) => reject(new Error(`gate exited with ${code}: ${out}`)));
  });
  rmSync(configFile, { force: true });
  child.stdout.resume();
  return {
    url, port: Number(new URL(url).port), adminUrl: `${url}/__gate`, dataDir, region: options.region ?? DEFAULTS.region,
    pid: child.pid, httpsPort, caFile,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      if (ownDataDir && !options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startGateInProcess(options = {}) {
  const opts = { ...DEFAULTS, ...options };
  const region = opts.region;
  const buckets = new Map(opts.buckets.map((b) => (typeof b === 'string' ? { name: b } : b))
    .map((b) => [b.name, { region, owner: DEFAULT_OWNER, sse: null, ...b }]));
  for (const b of buckets.values()) {
    if (b.sse === 'aws:kms' && !b.kmsKeyId) b.kmsKeyId = `arn:aws:kms:${b.region}:${b.owner}:key/${randomBytes(16).toString('hex').replace(/(.{8})(.{4})(.{4})(.{4})(.{12})/, '$1-$2-$3-$4-$5')}`;
  }
  const users = new Map(opts.users.map((u) => [u.accessKeyId, u.secretAccessKey]));
  const roles = new Map(opts.roles.map((r) => [r.roleArn, { maxSessionDuration: 3600, allowTagSession: false, ...r }]));
  let webIdentity = opts.webIdentity;
  const sessions = new Map(); // ASIA… → { secret, token, expiresAt, roleArn }
  const multipart = new Map(); // uploadId → { bucket, key, state }
  const ownDataDir = !opts.dataDir;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'securitylake-gate-'));
  mkdirSync(dataDir, { recursive: true });
  let sessionDurationOverride = 0;
  let faults = null; // { count | fraction, kinds, delayMs, target, ops, i, rng }
  let deniedOps = []; // S3 operations (s3Kind) the callers may not perform: 403 AccessDenied
  let downUntil = 0;
  const requests = [];
  const stats = {};
  let stall = null; // { match: {method, pathPrefix, kind}, count }
  const held = new Map(); // id → { method, path, kind, since, release(), entry }
  let heldSeq = 0;

  const s3rver = new S3rver({
    address: '127.0.0.1', port: 0, silent: true, directory: dataDir,
    configureBuckets: [...buckets.keys()].map((name) => ({ name })),
  });
  const backend = await s3rver.run();

  function log(entry) {
    requests.push({ t: new Date().toISOString(), ...entry });
    if (requests.length > 20000) requests.shift();
    const k = `${entry.status} ${entry.code ?? ''}`.trim();
    stats[k] = (stats[k] ?? 0) + 1;
  }

  // ---- signatures -------------------------------------------------------------------
  function credentialsFor(accessKeyId, service) {
    if (users.has(accessKeyId)) return { accessKeyId, secretAccessKey: users.get(accessKeyId) };
    const s = sessions.get(accessKeyId);
    if (s) return { accessKeyId, secretAccessKey: s.secret, sessionToken: s.token, session: s };
    throw service === 'sts'
      ? new GateError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.')
      : new GateError(403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
  }

  // svc: 's3' | 'sts' | 'securitylake'; expectedRegion: the region the request must be signed for.
  async function verify(req, body, path, query, svc, expectedRegion) {
    const isSts = svc === 'sts';
    const header = req.headers.authorization;
    const presigned = header ? null : parsePresigned(query);
    const auth = header ? parseAuthorization(header) : presigned;
    if (!header && !presigned) {
      throw new GateError(403, 'AccessDenied', isSts ? 'Anonymous requests are not allowed.' : 'Access Denied');
    }
    if (!auth) throw new GateError(400, isSts ? 'IncompleteSignature' : 'AuthorizationHeaderMalformed', 'The authorization header is malformed.');
    const service = auth.service;
    const creds = credentialsFor(auth.accessKeyId, service);
    const amzDate = presigned ? presigned.amzDate : req.headers['x-amz-date'];
    const date = parseAmzDate(amzDate);
    if (!date) throw new GateError(403, 'AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header');
    if (Math.abs(Date.now() - date.getTime()) > MAX_SKEW_MS) {
      throw new GateError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.',
        { RequestTime: amzDate, ServerTime: new Date().toISOString(), MaxAllowedSkewMilliseconds: MAX_SKEW_MS });
    }
    if (auth.date !== amzDate.slice(0, 8)) {
      throw isSts ? new GateError(403, 'SignatureDoesNotMatch', 'Credential should be scoped to a valid date.')
        : new GateError(400, 'AuthorizationHeaderMalformed', `Invalid credential date "${auth.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
    }
    if (auth.region !== expectedRegion) {
      if (svc === 's3') {
        throw new GateError(400, 'AuthorizationHeaderMalformed', `The authorization header is malformed; the region '${auth.region}' is wrong; expecting '${expectedRegion}'`,
          { Region: expectedRegion }, { 'x-amz-bucket-region': expectedRegion });
      }
      throw new GateError(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid region, not '${auth.region}'. `);
    }
    if (service !== svc) throw new GateError(403, 'SignatureDoesNotMatch', `Credential should be scoped to a valid service: '${svc}'.`);
    if (presigned && presigned.expires > 0 && Date.now() > date.getTime() + presigned.expires * 1000) {
      throw new GateError(403, 'AccessDenied', 'Request has expired');
    }
    let payloadHash = req.headers['x-amz-content-sha256'];
    if (svc === 's3' && !presigned) {
      if (!payloadHash) throw new GateError(400, 'InvalidRequest', 'Missing required header for this request: x-amz-content-sha256');
      if (payloadHash !== 'UNSIGNED-PAYLOAD' && !payloadHash.startsWith('STREAMING-')) {
        const actual = createHash('sha256').update(body).digest('hex');
        if (actual !== payloadHash) {
          throw new GateError(400, 'XAmzContentSHA256Mismatch', "The provided 'x-amz-content-sha256' header does not match what was computed.",
            { ClientComputedContentSHA256: payloadHash, S3ComputedContentSHA256: actual });
        }
      }
    }
    if (presigned) payloadHash = 'UNSIGNED-PAYLOAD';
    if (creds.session) {
      const token = presigned ? presigned.token : req.headers['x-amz-security-token'];
      if (token !== creds.sessionToken) {
        throw isSts ? new GateError(403, 'InvalidClientTokenId', 'The security token included in the request is invalid.')
          : new GateError(403, 'InvalidToken', 'The provided token is malformed or otherwise invalid.');
      }
      if (Date.now() >= creds.session.expiresAt) {
        throw isSts ? new GateError(403, 'ExpiredToken', 'The security token included in the request is expired')
          : new GateError(400, 'ExpiredToken', 'The provided token has expired.');
      }
    }

    // Recompute with AWS's signer: only the headers the client signed, the raw path.
    const headers = {};
    for (const name of auth.signedHeaders) {
      const v = req.headers[name];
      if (v === undefined) throw new GateError(403, 'SignatureDoesNotMatch', `Signed header ${name} is missing.`);
      headers[name] = Array.isArray(v) ? v.join(',') : v;
    }
    const signer = new SignatureV4({
      credentials: { accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, sessionToken: presigned ? undefined : (headers['x-amz-security-token'] ? creds.sessionToken : undefined) },
      region: expectedRegion, service, sha256: Sha256, uriEscapePath: svc !== 's3', applyChecksum: false,
    });
    const signQuery = { ...query };
    if (presigned) delete signQuery['X-Amz-Signature'];
    const request = { method: req.method, protocol: 'http:', hostname: String(req.headers.host ?? '').split(':')[0], path, query: signQuery, headers, body };
    let expected;
    if (presigned) {
      // A presigned S3 URL signs UNSIGNED-PAYLOAD; the signer takes the payload hash from
      // this header, which must itself stay out of the signed headers and the query.
      if (!isSts) request.headers = { ...headers, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' };
      const signed = await signer.presign(request, {
        signingDate: date, expiresIn: presigned.expires || 3600, signableHeaders: new Set(auth.signedHeaders),
        unsignableHeaders: new Set(['x-amz-content-sha256']), unhoistableHeaders: new Set(Object.keys(request.headers)),
      });
      expected = signed.query['X-Amz-Signature'];
    } else {
      if (svc !== 's3' && !auth.signedHeaders.includes('x-amz-content-sha256')) delete headers['x-amz-content-sha256'];
      if (payloadHash && svc === 's3') headers['x-amz-content-sha256'] = payloadHash;
      const signed = await signer.sign(request, { signingDate: date, signableHeaders: new Set(auth.signedHeaders) });
      expected = /Signature=([0-9a-f]{64})/.exec(signed.headers.authorization)[1];
    }
    if (expected !== auth.signature) {
      throw isSts ? new GateError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.')
        : new GateError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.');
    }
    return { accessKeyId: auth.accessKeyId, signedHeaders: auth.signedHeaders, hasSecurityToken: Boolean(creds.sessionToken), session: creds.session, region: auth.region };
  }

  // ---- responses --------------------------------------------------------------------
  function sendS3Error(res, err, resource) {
    const id = requestId();
    const extra = Object.entries(err.extra ?? {}).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
    const bodyXml = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message>${extra}<Resource>${xmlEscape(resource)}</Resource><RequestId>${id}</RequestId><HostId>${id}</HostId></Error>`;
    res.writeHead(err.status, { 'content-type': 'application/xml', 'x-amz-request-id': id, date: new Date().toUTCString(), ...(err.headers ?? {}) });
    res.end(req0(res).method === 'HEAD' ? undefined : bodyXml);
  }

  // The request behind a response (HEAD answers carry no body).
  function req0(res) {
    return res.req ?? { method: 'GET' };
  }

  function sendStsError(res, err) {
    const id = requestId();
    const type = err.status >= 500 ? 'Receiver' : 'Sender';
    const bodyXml = `<ErrorResponse xmlns="${STS_NS}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${err.code}</Code>\n    <Message>${xmlEscape(err.message)}</Message>\n  </Error>\n  <RequestId>${id}</RequestId>\n</ErrorResponse>\n`;
    res.writeHead(err.status, { 'content-type': 'text/xml', 'x-amzn-requestid': id, date: new Date().toUTCString() });
    res.end(bodyXml);
  }

  // ---- STS ----------------------------------------------------------------------------
  function issueSession(roleArn, sessionName, duration) {
    const effective = sessionDurationOverride > 0 ? sessionDurationOverride : duration;
    const accessKeyId = randomKey('ASIA', 16);
    const session = {
      secret: randomBytes(30).toString('base64'),
      token: `FwoGZXIvYXdzE${randomBytes(96).toString('base64')}`,
      expiresAt: Date.now() + effective * 1000, roleArn,
    };
    sessions.set(accessKeyId, session);
    const roleName = roleArn.split('/').pop();
    const account = roleArn.split(':')[4];
    return `<Credentials>
      <AccessKeyId>${accessKeyId}</AccessKeyId>
      <SecretAccessKey>${session.secret}</SecretAccessKey>
      <SessionToken>${session.token}</SessionToken>
      <Expiration>${new Date(session.expiresAt).toISOString()}</Expiration>
    </Credentials>
    <AssumedRoleUser>
      <AssumedRoleId>AROA${randomKey('', 16)}:${xmlEscape(sessionName)}</AssumedRoleId>
      <Arn>arn:aws:sts::${account}:assumed-role/${xmlEscape(roleName)}/${xmlEscape(sessionName)}</Arn>
    </AssumedRoleUser>`;
  }

  function checkSessionParams(form) {
    const sessionName = form.get('RoleSessionName') ?? '';
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) {
      throw new GateError(400, 'ValidationError', `1 validation error detected: Value '${sessionName}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`);
    }
    return sessionName;
  }

  function duration(form, role) {
    const d = form.has('DurationSeconds') ? Number(form.get('DurationSeconds')) : 3600;
    if (!Number.isInteger(d) || d < 900 || d > (role?.maxSessionDuration ?? 3600)) {
      throw new GateError(400, 'ValidationError', `The requested DurationSeconds exceeds the MaxSessionDuration set for this role (or is below 900).`);
    }
    return d;
  }

  function assumeRole(form, caller) {
    const roleArn = form.get('RoleArn') ?? '';
    const role = roles.get(roleArn);
    const sessionName = checkSessionParams(form);
    const denied = new GateError(403, 'AccessDenied', `User: arn:aws:iam::123456789012:user/${caller.accessKeyId} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
    if (!role) throw denied;
    if ((role.externalId ?? null) !== (form.get('ExternalId') ?? null)) throw denied;
    const hasTags = [...form.keys()].some((k) => k.startsWith('Tags.member.'));
    if (hasTags && !role.allowTagSession) {
      throw new GateError(403, 'AccessDenied', `User: arn:aws:iam::123456789012:user/${caller.accessKeyId} is not authorized to perform: sts:TagSession on resource: ${roleArn}`);
    }
    const d = duration(form, role);
    return `<AssumeRoleResponse xmlns="${STS_NS}">
  <AssumeRoleResult>
    ${issueSession(roleArn, sessionName, d)}
  </AssumeRoleResult>
  <ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata>
</AssumeRoleResponse>
`;
  }

  function assumeRoleWithWebIdentity(form) {
    const roleArn = form.get('RoleArn') ?? '';
    const sessionName = checkSessionParams(form);
    if (!webIdentity || webIdentity.roleArn !== roleArn) throw new GateError(403, 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    if (form.get('WebIdentityToken') !== webIdentity.token) throw new GateError(400, 'InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider');
    const d = duration(form, { maxSessionDuration: 43200 });
    return `<AssumeRoleWithWebIdentityResponse xmlns="${STS_NS}">
  <AssumeRoleWithWebIdentityResult>
    ${issueSession(roleArn, sessionName, d)}
    <SubjectFromWebIdentityToken>securitylake-test</SubjectFromWebIdentityToken>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`;
  }

  // ---- faults -----------------------------------------------------------------------
  function pickFault(service) {
    if (Date.now() < downUntil) return 'down';
    if (!faults) return null;
    if (faults.target !== 'any' && faults.target !== service) return null;
    if (faults.count !== undefined) {
      if (faults.count <= 0) return null;
      faults.count--;
    } else if (faults.rng() >= faults.fraction) {
      return null;
    }
    const kind = faults.kinds[faults.i++ % faults.kinds.length];
    return kind;
  }

  function seededRandom(seed) {
    let x = (seed >>> 0) || 1;
    return () => {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      return x / 4294967296;
    };
  }

  // Returns true if the fault answered the request (false: delay, then carry on).
  async function applyFault(kind, req, res, isSts, resource) {
    const send = (err) => (isSts ? sendStsError(res, err) : sendS3Error(res, err, resource));
    switch (kind) {
      case 'delay':
        await new Promise((r) => setTimeout(r, faults?.delayMs ?? 2000));
        return false;
      case 'reset':
        req.socket.destroy();
        return true;
      case 'trickle':
        // 200 and a body of spaces at trickleBytesPerSecond (default 1024: just fast enough
        // for a low-speed check of 1 KB/s), for trickleSeconds (default 300).
        await trickle(res, faults?.trickleBytesPerSecond ?? 1024, faults?.trickleSeconds ?? 300);
        return true;
      case 'hugeError':
        // 403 AccessDenied whose body is hugeBytes long (default 400 MiB), streamed.
        await hugeError(res, faults?.hugeBytes ?? 400 * 1024 * 1024);
        return true;
      case '500':
        send(new GateError(500, 'InternalError', 'We encountered an internal error. Please try again.'));
        return true;
      case 'RequestTimeout':
        send(new GateError(400, 'RequestTimeout', 'Your socket connection to the server was not read from or written to within the timeout period.'));
        return true;
      case 'RequestTimeTooSkewed': {
        // As if the client's clock were off: S3's answer, with the real time in Date (a
        // client that corrects its clock from it and retries meets the next fault, if any).
        const now = new Date();
        send(new GateError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.',
          { RequestTime: '20000101T000000Z', ServerTime: now.toISOString(), MaxAllowedSkewMilliseconds: 900000 }));
        return true;
      }
      case 'down':
      case '503':
      default:
        send(isSts ? new GateError(503, 'ServiceUnavailable', 'Service is unavailable.') : new GateError(503, 'SlowDown', 'Please reduce your request rate.'));
        return true;
    }
  }

  function socketGone(res) {
    return res.destroyed || res.socket?.destroyed || res.writableEnded;
  }

  async function trickle(res, perSecond, seconds) {
    res.writeHead(200, { 'content-type': 'application/xml', 'x-amz-request-id': requestId() });
    const slice = Buffer.alloc(Math.max(1, Math.round(perSecond / 10)), ' ');
    const until = Date.now() + seconds * 1000;
    while (Date.now() < until && !socketGone(res)) {
      res.write(slice);
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!socketGone(res)) res.end();
  }

  async function hugeError(res, bytes) {
    const head = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><Padding>';
    const tail = '</Padding></Error>';
    const chunk = Buffer.alloc(1 << 16, ' ');
    res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': requestId(), 'content-length': String(head.length + bytes + tail.length) });
    res.write(head);
    let left = bytes;
    while (left > 0 && !socketGone(res)) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        await new Promise((r) => {
          const done = () => { res.off('drain', done); res.off('close', done); r(); };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    }
    if (!socketGone(res)) res.end(tail);
  }

  // ---- stalls (crash tests): hold matching requests unanswered until released ------------------
  function stallMatches(method, path, kind) {
    if (!stall || stall.count <= 0) return false;
    const m = stall.match ?? {};
    return (!m.method || m.method === method) && (!m.pathPrefix || path.startsWith(m.pathPrefix)) && (!m.kind || m.kind === kind);
  }

  // Resolves true when released, false when the client went away first.
  function hold(req, res, method, path, kind, uploadId) {
    stall.count--;
    const id = ++heldSeq;
    return new Promise((resolve) => {
      const done = (released) => {
        if (!held.has(id)) return;
        held.delete(id);
        resolve(released);
      };
      held.set(id, { id, method, path, kind, uploadId, since: new Date().toISOString(), release: () => done(true) });
      res.on('close', () => done(false));
      req.socket.on('close', () => done(false));
    });
  }

  // ---- admin --------------------------------------------------------------------------
  function admin(req, res, path, body) {
    const json = (status, obj) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(obj));
    };
    let input = {};
    try { input = body.length ? JSON.parse(body.toString('utf8')) : {}; } catch { return json(400, { error: 'bad JSON' }); }
    switch (`${req.method} ${path}`) {
      case 'GET /__gate/health': return json(200, { ok: true });
      case 'POST /__gate/faults':
        faults = { kinds: ['500'], delayMs: 2000, target: 'any', ...input, i: 0, rng: seededRandom(input.seed ?? 1) };
        if (faults.count === undefined && faults.fraction === undefined) faults.count = 1;
        return json(200, { ok: true });
      case 'POST /__gate/faults/clear': faults = null; return json(200, { ok: true });
      case 'POST /__gate/deny': deniedOps = input.ops ?? []; return json(200, { ok: true, denied: deniedOps });
      case 'POST /__gate/down': downUntil = Date.now() + (input.seconds ?? 0) * 1000; return json(200, { ok: true, until: new Date(downUntil).toISOString() });
      case 'POST /__gate/sessions/expire':
        for (const s of sessions.values()) s.expiresAt = Date.now() - 1;
        return json(200, { ok: true, expired: sessions.size });
      case 'POST /__gate/config':
        for (const u of input.users ?? []) users.set(u.accessKeyId, u.secretAccessKey);
        for (const r of input.roles ?? []) roles.set(r.roleArn, { maxSessionDuration: 3600, allowTagSession: false, ...r });
        if (input.webIdentity !== undefined) webIdentity = input.webIdentity;
        if (input.sessionDurationOverrideSeconds !== undefined) sessionDurationOverride = input.sessionDurationOverrideSeconds;
        for (const b of input.buckets ?? []) if (buckets.has(b.name)) Object.assign(buckets.get(b.name), b);
        if (input.securityLake) lake.configure(input.securityLake);
        return json(200, { ok: true });
      case 'GET /__gate/requests': return json(200, requests);
      case 'POST /__gate/requests/clear': requests.length = 0; return json(200, { ok: true });
      case 'GET /__gate/stats': return json(200, stats);
      // Every temporary credential STS issued, secret and token included: for tests that
      // look for them where they must not be (logs, views). The request log never holds them.
      case 'GET /__gate/sessions':
        return json(200, [...sessions.entries()].map(([accessKeyId, s]) => ({
          accessKeyId, secretAccessKey: s.secret, sessionToken: s.token, roleArn: s.roleArn, expiresAt: new Date(s.expiresAt).toISOString(),
        })));
      case 'GET /__gate/multipart': return json(200, [...multipart.entries()].map(([uploadId, m]) => ({ uploadId, path: m.path, state: m.state, checksumAlgorithm: m.checksumAlgorithm })));
      case 'POST /__gate/stall':
        stall = { match: input.match ?? {}, count: input.count ?? 1 };
        return json(200, { ok: true });
      case 'GET /__gate/stall':
        return json(200, [...held.values()].map(({ id, method, path, kind, uploadId, since }) => ({ id, method, path, kind, uploadId, since })));
      case 'POST /__gate/stall/release': {
        const ids = input.id !== undefined ? [input.id] : [...held.keys()];
        if (input.id === undefined) stall = null;
        for (const id of ids) held.get(id)?.release();
        return json(200, { ok: true, released: ids.length });
      }
      case 'GET /__gate/buckets': return json(200, [...buckets.entries()].map(([name, b]) => ({ name, ...b })));
      case 'GET /__gate/securitylake/sources': return json(200, lake.requested());
      default: return json(404, { error: `no admin endpoint ${req.method} ${path}` });
    }
  }

  // ---- forwarding to s3rver -----------------------------------------------------------
  // transform(status, headers, body) may return { headers, body } to answer otherwise.
  function forward(req, res, path, rawQuery, body, transform) {
    const headers = { ...req.headers };
    for (const h of ['authorization', 'x-amz-security-token', 'host', 'x-amz-content-sha256', 'x-amz-date']) delete headers[h];
    headers.host = `127.0.0.1:${backend.port}`;
    headers['content-length'] = String(body.length);
    delete headers['transfer-encoding'];
    const q = rawQuery ? rawQuery.split('&').filter((p) => !/^X-Amz-/i.test(p)).join('&') : '';
    return new Promise((resolve) => {
      const up = http.request({ host: '127.0.0.1', port: backend.port, method: req.method, path: q ? `${path}?${q}` : path, headers }, (upRes) => {
        const chunks = [];
        upRes.on('data', (c) => chunks.push(c));
        upRes.on('end', () => {
          let out = Buffer.concat(chunks);
          let h = { ...upRes.headers };
          const changed = transform?.(upRes.statusCode, h, out);
          if (changed) ({ headers: h, body: out } = changed);
          delete h['transfer-encoding'];
          if (req.method !== 'HEAD') h['content-length'] = String(out.length);
          res.writeHead(upRes.statusCode, h);
          res.end(req.method === 'HEAD' ? undefined : out);
          resolve(upRes.statusCode);
        });
      });
      up.on('error', () => { sendS3Error(res, new GateError(500, 'InternalError', 'storage backend failed'), path); resolve(500); });
      up.end(body);
    });
  }

  const fakeEtag = () => `"${randomBytes(16).toString('hex')}"`;
  const xmlUnescape = (t) => t.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

  // SSE-KMS: S3 encrypts with the bucket's key and says so; the ETag is not the MD5.
  function kmsHeaders(b) {
    return b?.sse === 'aws:kms'
      ? { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': b.kmsKeyId } : {};
  }

  // CompleteMultipartUpload's parts, checked against the ledger as S3 does; the XML s3rver
  // gets (its own ETags, without checksums) and the composite checksum.
  function completeParts(m, body) {
    const parts = [...body.toString('utf8').matchAll(/<Part>([\s\S]*?)<\/Part>/g)].map((x) => ({
      n: Number(/<PartNumber>(\d+)<\/PartNumber>/.exec(x[1])?.[1]),
      etag: xmlUnescape(/<ETag>([\s\S]*?)<\/ETag>/.exec(x[1])?.[1] ?? ''),
      sha256: /<ChecksumSHA256>([\s\S]*?)<\/ChecksumSHA256>/.exec(x[1])?.[1],
    }));
    const invalidPart = () => new GateError(400, 'InvalidPart', 'One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.');
    for (const p of parts) {
      const stored = m.parts.get(p.n);
      if (m.checksumAlgorithm === 'SHA256' && !p.sha256) {
        throw new GateError(400, 'InvalidRequest', `The upload was created using a sha256 checksum. The complete request must include the checksum for each part. It was missing for part ${p.n} in the request.`);
      }
      if (!stored || stored.etag !== p.etag) throw invalidPart();
      if (p.sha256 !== undefined && p.sha256 !== stored.sha256) throw invalidPart();
    }
    const xml = `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.n}</PartNumber><ETag>${m.parts.get(p.n).realEtag}</ETag></Part>`).join('')}</CompleteMultipartUpload>`;
    const composite = m.checksumAlgorithm !== 'SHA256' ? null : `${createHash('sha256').update(Buffer.concat(parts.map((p) => Buffer.from(m.parts.get(p.n).sha256, 'base64')))).digest('base64')}-${parts.length}`;
    return { xml: Buffer.from(xml), composite, count: parts.length };
  }

  // The answer of a successful S3 write, as S3 would give it for this bucket.
  function s3Transform(kind, b, query, path, sha, m, complete) {
    return (st, h, out) => {
      if (st !== 200) return null;
      Object.assign(h, kmsHeaders(b));
      if ((kind === 'put' || kind === 'part') && sha) h['x-amz-checksum-sha256'] = sha;
      if (kind === 'put' && b?.sse === 'aws:kms') h.etag = fakeEtag();
      if (kind === 'part' && m) {
        const etag = b?.sse === 'aws:kms' ? fakeEtag() : h.etag;
        m.parts.set(Number(query.partNumber), { realEtag: h.etag, etag, sha256: query[`\u0000part-sha256`] });
        h.etag = etag;
      }
      if (kind === 'create') {
        const created = /<UploadId>([^<]+)<\/UploadId>/.exec(out.toString('utf8'));
        const algorithm = /^sha256$/i.test(String(h0(query, 'x-amz-checksum-algorithm'))) ? 'SHA256' : null;
        if (created) multipart.set(created[1], { path, state: 'open', checksumAlgorithm: algorithm, parts: new Map() });
        if (algorithm) h['x-amz-checksum-algorithm'] = algorithm;
      }
      if (kind === 'complete' && m) {
        m.state = 'completed';
        let xml = out.toString('utf8');
        if (/<Error>/.test(xml)) return null;
        if (b?.sse === 'aws:kms') xml = xml.replace(/<ETag>[\s\S]*?<\/ETag>/, `<ETag>"${randomBytes(16).toString('hex')}-${complete.count}"</ETag>`);
        if (m.checksumAlgorithm) xml = xml.replace('</CompleteMultipartUploadResult>', `<ChecksumSHA256>${complete.composite}</ChecksumSHA256></CompleteMultipartUploadResult>`);
        return { headers: h, body: Buffer.from(xml) };
      }
      return { headers: h, body: out };
    };
  }
  // The request's own header, stashed on the query object by handleS3 (transform has no req).
  const h0 = (query, name) => query[`\u0000${name}`];

  async function handleS3(req, res, entry, rawPath, rawQuery, query, body) {
    const addr = s3Addressing(req.headers.host);
    const path = addr.bucket ? `/${addr.bucket}${rawPath === '/' ? '' : rawPath}` : rawPath;
    const bucketName = decodeURIComponent(path.split('/')[1] ?? '');
    const b = buckets.get(bucketName);
    const kind = s3Kind(req.method, query);
    Object.assign(entry, { bucket: bucketName, kind, host: req.headers.host, expectedBucketOwner: req.headers['x-amz-expected-bucket-owner'],
      checksumSha256: req.headers['x-amz-checksum-sha256'] !== undefined, contentMd5: req.headers['content-md5'] !== undefined });
    if (b && addr.endpointRegion && addr.endpointRegion !== b.region) {
      throw new GateError(301, 'PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint. Please send all future requests to this endpoint.',
        { Endpoint: `${bucketName}.s3.${b.region}.amazonaws.com`, Bucket: bucketName }, { 'x-amz-bucket-region': b.region });
    }
    const caller = await verify(req, body, rawPath, query, 's3', b?.region ?? addr.endpointRegion ?? region);
    entry.region = caller.region;
    const owner = req.headers['x-amz-expected-bucket-owner'];
    if (b && owner !== undefined && owner !== b.owner) throw new GateError(403, 'AccessDenied', 'Access Denied');
    // An IAM policy's refusal, such as Security Lake's provider role's on AbortMultipartUpload.
    if (deniedOps.includes(kind)) throw new GateError(403, 'AccessDenied', 'Access Denied');
    if (!(faults?.ops && !faults.ops.includes(kind)) && await injectedFault(req, res, entry, 's3', rawPath)) return;
    const sha = (kind === 'put' || kind === 'part') ? checkDigests(req, body) : undefined;
    if (stallMatches(req.method, path, kind)) {
      entry.stalled = true;
      if (!await hold(req, res, req.method, path, kind, query.uploadId)) { log({ ...entry, status: 0, code: 'ClientClosedWhileStalled' }); return; }
    }
    // s3rver lacks AbortMultipartUpload: the gate keeps the multipart ledger itself.
    const m = 'uploadId' in query ? multipart.get(query.uploadId) : undefined;
    if (kind === 'abort') {
      if (!m || m.state !== 'open') throw new GateError(404, 'NoSuchUpload', 'The specified upload does not exist.');
      m.state = 'aborted';
      res.writeHead(204, { 'x-amz-request-id': requestId() });
      res.end();
      log({ ...entry, status: 204 });
      return;
    }
    if ('uploadId' in query && (!m || m.state !== 'open')) {
      throw new GateError(404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.');
    }
    let forwardBody = body;
    let complete = null;
    if (kind === 'complete') {
      complete = completeParts(m, body);
      forwardBody = complete.xml;
    }
    query[`\u0000x-amz-checksum-algorithm`] = req.headers['x-amz-checksum-algorithm'];
    if (kind === 'part') query[`\u0000part-sha256`] = createHash('sha256').update(body).digest('base64');
    const status = await forward(req, res, path, rawQuery, forwardBody, s3Transform(kind, b, query, path, sha, m, complete));
    log({ ...entry, status });
  }

  async function injectedFault(req, res, entry, service, resource) {
    const fault = pickFault(service);
    if (!fault) return false;
    entry.fault = fault;
    const answered = await applyFault(fault, req, res, service === 'sts', resource);
    if (answered) {
      const st = { reset: 0, RequestTimeout: 400, RequestTimeTooSkewed: 403, 500: 500, trickle: 200, hugeError: 403 }[fault] ?? 503;
      log({ ...entry, status: st, code: fault });
    }
    return answered;
  }

  function handleSts(req, res, entry, form, caller) {
    let xml;
    const action = form.get('Action');
    if (form.get('Version') !== '2011-06-15') throw new GateError(400, 'InvalidAction', 'Could not find operation for this version.');
    if (action === 'AssumeRole') xml = assumeRole(form, caller);
    else if (action === 'AssumeRoleWithWebIdentity') xml = assumeRoleWithWebIdentity(form);
    else if (action === 'GetCallerIdentity') xml = `<GetCallerIdentityResponse xmlns="${STS_NS}"><GetCallerIdentityResult><Arn>arn:aws:iam::123456789012:user/gate</Arn><UserId>${caller.accessKeyId}</UserId><Account>123456789012</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>${requestId()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>`;
    else throw new GateError(400, 'InvalidAction', `Could not find operation ${action}`);
    res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId() });
    res.end(xml);
    log({ ...entry, status: 200 });
  }

  // The region a request to this host must be signed for.
  function hostRegion(host, svc) {
    const m = new RegExp(`^${svc}\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?$`).exec(host);
    if (m) return m[1];
    if (host === `${svc}.amazonaws.com`) return 'us-east-1';
    return svc === 'securitylake' ? lake.region : region;
  }

  // ---- the handler ----------------------------------------------------------------
  async function handle(req, res) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const url = req.url ?? '/';
    const qi = url.indexOf('?');
    const rawPath = qi < 0 ? url : url.slice(0, qi);
    const rawQuery = qi < 0 ? '' : url.slice(qi + 1);
    if (rawPath.startsWith('/__gate/')) return admin(req, res, rawPath, body);

    const query = parseQuery(rawQuery);
    const form = req.method === 'POST' && /x-www-form-urlencoded/.test(req.headers['content-type'] ?? '') && rawPath === '/'
      ? new URLSearchParams(body.toString('utf8')) : null;
    const host = String(req.headers.host ?? '').split(':')[0].toLowerCase();
    let service = 's3';
    if (Boolean(form?.get('Action')) || host.startsWith('sts.')) service = 'sts';
    else if (host.startsWith('securitylake.') || rawPath.startsWith('/v1/datalake/')) service = 'securitylake';
    const isSts = service === 'sts';
    const action = isSts ? form?.get('Action') : undefined;
    // What the request claims, logged even when it is rejected (never the secret or token).
    const claimed = parseAuthorization(req.headers.authorization) ?? parsePresigned(query);
    const entry = {
      method: req.method, path: rawPath, service, action, accessKeyId: claimed?.accessKeyId, signedHeaders: claimed?.signedHeaders,
      hasSecurityToken: Boolean(req.headers['x-amz-security-token'] || query['X-Amz-Security-Token']), host: req.headers.host,
      tls: Boolean(req.socket.encrypted), signedRegion: claimed?.region,
    };

    try {
      // An outage answers before any checking, like a real endpoint that is down.
      if (Date.now() < downUntil) {
        entry.fault = 'down';
        await applyFault('down', req, res, isSts, rawPath);
        log({ ...entry, status: 503, code: 'down' });
        return;
      }
      if (service === 's3') return await handleS3(req, res, entry, rawPath, rawQuery, query, body);
      let caller = null;
      if (!(isSts && action === 'AssumeRoleWithWebIdentity')) caller = await verify(req, body, rawPath, query, service, hostRegion(host, service));
      if (await injectedFault(req, res, entry, service, rawPath)) return;
      if (isSts) return handleSts(req, res, entry, form, caller);
      lake.handle(req, res, rawPath, query, body, caller, (status, code) => log({ ...entry, action: lake.actionOf(req.method, rawPath), status, code }));
    } catch (err) {
      if (!(err instanceof GateError)) throw err;
      if (service === 'securitylake') lake.sendError(res, err);
      else if (isSts) sendStsError(res, err);
      else sendS3Error(res, err, rawPath);
      log({ ...entry, status: err.status, code: err.code });
    }
  }

  // ---- Security Lake control plane (test/gate/securitylake.mjs) ------------------------------------
  const lake = createSecurityLake({
    region, buckets, config: { ...DEFAULTS.securityLake, ...(opts.securityLake ?? {}) }, GateError, requestId,
    addRole: (roleArn, externalId) => roles.set(roleArn, { roleArn, externalId, maxSessionDuration: 3600, allowTagSession: false }),
    removeRole: (roleArn) => roles.delete(roleArn),
  });

  const onRequest = (req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) sendS3Error(res, new GateError(500, 'InternalError', String(err?.message ?? err)), req.url);
    });
  };
  const sockets = new Set();
  const track = (server) => {
    server.keepAliveTimeout = 30000;
    server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    server.on('secureConnection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
    return server;
  };
  const server = track(http.createServer(onRequest));
  await new Promise((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const port = server.address().port;
  const url = `http://127.0.0.1:${port}`;

  // HTTPS with AWS's own host names, from a throwaway CA made now (test/gate/tls.mjs).
  let tls = null;
  let httpsServer = null;
  if (opts.https) {
    const tlsRegions = [...new Set([region, ...[...buckets.values()].map((b) => b.region), ...(opts.tlsRegions ?? [])])];
    tls = makeTestTls(join(dataDir, '..', `gate-tls-${process.pid}-${randomBytes(4).toString('hex')}`), tlsRegions);
    httpsServer = track(https.createServer({ key: readFileSync(tls.keyFile), cert: readFileSync(tls.certFile) }, onRequest));
    await new Promise((resolve) => httpsServer.listen(opts.httpsPort ?? 0, '127.0.0.1', resolve));
  }

  return {
    url, port, adminUrl: `${url}/__gate`, dataDir, region,
    httpsPort: httpsServer?.address().port, caFile: tls?.caFile,
    async stop() {
      for (const h of held.values()) h.release();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
      if (httpsServer) await new Promise((r) => httpsServer.close(() => r()));
      await new Promise((r) => s3rver.close(() => r()));
      if (tls) rmSync(tls.dir, { recursive: true, force: true });
      if (ownDataDir && !opts.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

// ---- command line ---------------------------------------------------------------------
if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const arg = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
  const config = arg('--config') ? JSON.parse(readFileSync(arg('--config'), 'utf8')) : {};
  const dataDir = arg('--data-dir') ?? config.dataDir;
  // A data dir someone named is theirs to remove; a temp dir of our own goes with us.
  const gate = await startGateInProcess({ ...config, port: Number(arg('--port') ?? config.port ?? 0), dataDir, keepData: Boolean(dataDir) || config.keepData });
  if (arg('--pid-file')) writeFileSync(arg('--pid-file'), String(process.pid));
  if (gate.httpsPort) console.log(`gate https ${gate.httpsPort} ${gate.caFile}`);
  console.log(`gate listening ${gate.url}`);
  const stop = async () => { await gate.stop(); process.exit(0); };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
