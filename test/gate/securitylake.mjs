// The Security Lake control plane of the gate: CreateCustomLogSource and
// DeleteCustomLogSource as the GA API reference (securitylake 2018-05-10, rest-json, SigV4
// service "securitylake") describes them. Validation follows the API model's shapes
// (CustomLogSourceName, CustomLogSourceVersion, OcsfEventClass, RoleArn, ExternalId,
// AwsPrincipal); errors carry x-amzn-errortype (with the ':' suffix real endpoints add) and a
// JSON {"message": …} body. A created source really works afterwards: its provider role is
// added to the gate's STS trust with the given ExternalId; deleting it removes the role.
const EVENT_CLASSES = new Set([
  'ACCESS_ACTIVITY', 'FILE_ACTIVITY', 'KERNEL_ACTIVITY', 'KERNEL_EXTENSION', 'MEMORY_ACTIVITY', 'MODULE_ACTIVITY',
  'PROCESS_ACTIVITY', 'REGISTRY_KEY_ACTIVITY', 'REGISTRY_VALUE_ACTIVITY', 'RESOURCE_ACTIVITY', 'SCHEDULED_JOB_ACTIVITY',
  'SECURITY_FINDING', 'ACCOUNT_CHANGE', 'AUTHENTICATION', 'AUTHORIZATION', 'ENTITY_MANAGEMENT_AUDIT', 'DHCP_ACTIVITY',
  'NETWORK_ACTIVITY', 'DNS_ACTIVITY', 'FTP_ACTIVITY', 'HTTP_ACTIVITY', 'RDP_ACTIVITY', 'SMB_ACTIVITY', 'SSH_ACTIVITY',
  'CONFIG_STATE', 'INVENTORY_INFO', 'EMAIL_ACTIVITY', 'API_ACTIVITY', 'CLOUD_API',
]);
const NAME = /^[\w\-_:.]*$/;
const VERSION = /^[A-Za-z0-9\-._]*$/;
const CLASS = /^[A-Z_0-9]*$/;
const ROLE_ARN = /^arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role\/?[a-zA-Z_0-9+=,.@\-_/]+$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]*$/;
const PRINCIPAL = /^([0-9]{12}|[a-z0-9.-]*\.(amazonaws|amazon)\.com)$/;
const MAX_SOURCES = 50;
const ERROR_SUFFIX = ':http://internal.amazon.com/coral/com.amazonaws.securitylake/';

export function createSecurityLake({ region, buckets, config, GateError, requestId, addRole, removeRole }) {
  let cfg = { ...config };
  const sources = new Map(); // `${name}\u0000${version}` → source resource
  const lakeBucket = () => cfg.bucket ?? [...buckets.keys()][0];
  const lakeRegion = () => cfg.region ?? region;

  const bad = (message) => new GateError(400, 'BadRequestException', message);
  const constraint = (value, path, what) => bad(`1 validation error detected: Value '${value}' at '${path}' failed to satisfy constraint: Member must ${what}`);

  function checkString(value, path, { required, min, max, pattern }) {
    if (value === undefined || value === null) {
      if (required) throw constraint('null', path, 'not be null');
      return;
    }
    if (typeof value !== 'string') throw bad(`${path} must be a string`);
    if (value.length < min || value.length > max) throw constraint(value, path, `have length between ${min} and ${max}, inclusive`);
    if (!pattern.test(value)) throw constraint(value, path, `satisfy regular expression pattern: ${pattern.source}`);
  }

  function validateCreate(b) {
    if (b === null || typeof b !== 'object' || Array.isArray(b)) throw bad('The request body must be a JSON object.');
    checkString(b.sourceName, 'sourceName', { required: true, min: 1, max: 64, pattern: NAME });
    checkString(b.sourceVersion, 'sourceVersion', { required: false, min: 1, max: 32, pattern: VERSION });
    if (b.eventClasses !== undefined) {
      if (!Array.isArray(b.eventClasses)) throw bad('eventClasses must be a list');
      b.eventClasses.forEach((c, i) => checkString(c, `eventClasses.${i + 1}.member`, { required: true, min: 0, max: 1024, pattern: CLASS }));
      const unknown = b.eventClasses.find((c) => !EVENT_CLASSES.has(c));
      if (unknown) throw bad(`The event class ${unknown} is not supported for custom sources.`);
    }
    const conf = b.configuration;
    if (conf === undefined || conf === null || typeof conf !== 'object') throw constraint('null', 'configuration', 'not be null');
    if (!conf.crawlerConfiguration || typeof conf.crawlerConfiguration !== 'object') throw constraint('null', 'configuration.crawlerConfiguration', 'not be null');
    checkString(conf.crawlerConfiguration.roleArn, 'configuration.crawlerConfiguration.roleArn', { required: true, min: 1, max: 2048, pattern: ROLE_ARN });
    if (!conf.providerIdentity || typeof conf.providerIdentity !== 'object') throw constraint('null', 'configuration.providerIdentity', 'not be null');
    checkString(conf.providerIdentity.externalId, 'configuration.providerIdentity.externalId', { required: true, min: 2, max: 1224, pattern: EXTERNAL_ID });
    checkString(conf.providerIdentity.principal, 'configuration.providerIdentity.principal', { required: true, min: 1, max: 1024, pattern: PRINCIPAL });
  }

  // The provider role AWS names for a source; IAM role names are at most 64 characters.
  const roleName = (name) => `AmazonSecurityLake-Provider-${name}-${lakeRegion()}`;

  function create(b) {
    validateCreate(b);
    const name = b.sourceName;
    const version = b.sourceVersion;
    if (roleName(name).length > 64) {
      throw bad(`The source name ${name} is too long: the provider role name ${roleName(name)} would exceed IAM's 64 characters (keep source names to 20 characters).`);
    }
    const key = `${name}\u0000${version ?? ''}`;
    if (sources.has(key)) {
      throw new GateError(409, 'ConflictException', `A custom source named ${name}${version ? ` version ${version}` : ''} already exists.`,
        { resourceName: name, resourceType: 'CustomLogSource' });
    }
    if (sources.size >= MAX_SOURCES) throw bad(`At most ${MAX_SOURCES} custom sources can be added to an account.`);
    const account = cfg.account;
    const r = lakeRegion();
    const rr = r.replace(/-/g, '_');
    const roleArn = `arn:aws:iam::${account}:role/service-role/${roleName(name)}`;
    const source = {
      sourceName: name,
      ...(version ? { sourceVersion: version } : {}),
      provider: { location: `s3://${lakeBucket()}/ext/${name}/${version ? `${version}/` : ''}`, roleArn },
      attributes: {
        crawlerArn: `arn:aws:glue:${r}:${account}:crawler/${name}`,
        databaseArn: `arn:aws:glue:${r}:${account}:database/amazon_security_lake_glue_db_${rr}`,
        tableArn: `arn:aws:glue:${r}:${account}:table/amazon_security_lake_glue_db_${rr}/amazon_security_lake_table_${rr}_ext_${name.toLowerCase()}${version ? `_${version.replace(/\W/g, '_')}` : ''}`,
      },
    };
    sources.set(key, {
      source, externalId: b.configuration.providerIdentity.externalId, principal: b.configuration.providerIdentity.principal,
      crawlerRoleArn: b.configuration.crawlerConfiguration.roleArn, eventClasses: b.eventClasses ?? [],
    });
    addRole(roleArn, b.configuration.providerIdentity.externalId);
    return { source };
  }

  function remove(name, version) {
    const keys = [...sources.keys()].filter((k) => {
      const [n, v] = k.split('\u0000');
      return n === name && (version === undefined || v === version);
    });
    if (keys.length === 0) {
      throw new GateError(404, 'ResourceNotFoundException', `The custom source ${name}${version ? ` version ${version}` : ''} was not found.`,
        { resourceName: name, resourceType: 'CustomLogSource' });
    }
    for (const k of keys) {
      const { source } = sources.get(k);
      sources.delete(k);
      const stillUsed = [...sources.values()].some((s) => s.source.provider.roleArn === source.provider.roleArn);
      if (!stillUsed) removeRole(source.provider.roleArn);
    }
    return {};
  }

  function actionOf(method, path) {
    if (method === 'POST' && path === '/v1/datalake/logsources/custom') return 'CreateCustomLogSource';
    if (method === 'DELETE' && path.startsWith('/v1/datalake/logsources/custom/')) return 'DeleteCustomLogSource';
    return undefined;
  }

  // Who may call: an access key id of the allow-list, or the role behind a temporary key.
  function authorize(caller, action) {
    const allow = cfg.allow ?? [];
    if (allow.includes(caller.accessKeyId) || (caller.session && allow.includes(caller.session.roleArn))) return;
    const who = caller.session ? caller.session.roleArn : `arn:aws:iam::${cfg.account}:user/${caller.accessKeyId}`;
    throw new GateError(403, 'AccessDeniedException', `User: ${who} is not authorized to perform: securitylake:${action} on resource: arn:aws:securitylake:${lakeRegion()}:${cfg.account}:data-lake/default`,
      { errorCode: 'AccessDenied' });
  }

  function sendError(res, err) {
    // SigV4 failures as a rest-json service names them.
    const code = { InvalidAccessKeyId: 'UnrecognizedClientException', SignatureDoesNotMatch: 'InvalidSignatureException', AccessDenied: 'AccessDeniedException' }[err.code] ?? err.code;
    res.writeHead(err.status, { 'content-type': 'application/json', 'x-amzn-errortype': `${code}${ERROR_SUFFIX}`, 'x-amzn-requestid': requestId(), date: new Date().toUTCString() });
    res.end(JSON.stringify({ message: err.message, ...(err.extra ?? {}) }));
  }

  function handle(req, res, path, query, body, caller, log) {
    const action = actionOf(req.method, path);
    try {
      if (!action) throw new GateError(404, 'ResourceNotFoundException', `No operation ${req.method} ${path}.`);
      authorize(caller, action);
      let out;
      if (action === 'CreateCustomLogSource') {
        let parsed;
        try { parsed = JSON.parse(body.toString('utf8')); } catch { throw bad('The request body is not valid JSON.'); }
        out = create(parsed);
      } else {
        const name = decodeURIComponent(path.slice('/v1/datalake/logsources/custom/'.length));
        checkString(name, 'sourceName', { required: true, min: 1, max: 64, pattern: NAME });
        checkString(query.sourceVersion, 'sourceVersion', { required: false, min: 1, max: 32, pattern: VERSION });
        out = remove(name, query.sourceVersion);
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': requestId() });
      res.end(JSON.stringify(out));
      log(200);
    } catch (err) {
      if (!(err instanceof GateError)) throw err;
      sendError(res, err);
      log(err.status, err.code);
    }
  }

  return {
    get region() { return lakeRegion(); },
    handle, sendError, actionOf,
    configure(c) { cfg = { ...cfg, ...c }; },
    list: () => [...sources.values()].map((s) => s.source),
    // What each CreateCustomLogSource asked for (the admin API's GET securitylake/sources).
    requested: () => [...sources.values()].map(({ source, externalId, principal, crawlerRoleArn, eventClasses }) => ({
      sourceName: source.sourceName, sourceVersion: source.sourceVersion ?? null, eventClasses, crawlerRoleArn, principal, externalId,
      provider: source.provider,
    })),
  };
}
