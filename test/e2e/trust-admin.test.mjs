// Issue 11, finding 7: flush(source) failed for securitylake_admin. A non-superuser member
// of securitylake_admin calls every function granted to that role — the list read from the
// catalog and compared with docs/sql-reference.md — with real effects: a source created,
// altered and dropped, credentials set (the worker then uploads with them) and cleared,
// dead letters retried, flush() of one source and of all with real deliveries to the gate
// (read back with DuckDB), the Parquet schema and the OCSF classes read; and it reads every
// view and table the docs grant, never the credentials.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { psql, query, one, lit, skipNoPg } from '../lib/pg.mjs';
import { openDuck } from '../lib/duck.mjs';
import { startGate, admin } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';
import { SAFE, loginRole, dropRole, lakeUids, exactlyOnce } from './trust-lib.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-adminlake';
const USER = { accessKeyId: 'AKIAADMINTESTUSER001', secretAccessKey: 'adminSecretKeyForTheGate00000000000001' };
const ADMIN = 'trust_ops';
const CRAWLER = 'arn:aws:iam::123456789012:role/AmazonSecurityLakeCustomSourceCrawler';
let gate;
let duck;

const asAdmin = (sql) => psql(sql, { user: ADMIN, ...SAFE });
const adminOne = (sql) => one(sql, { user: ADMIN, ...SAFE });

// The admin's grants as docs/sql-reference.md states them (its "Roles and privileges" table).
function documentedGrants() {
  const doc = readFileSync(new URL('../../docs/sql-reference.md', import.meta.url), 'utf8');
  const row = doc.split('\n').find((l) => l.startsWith('| `securitylake_admin` |'));
  assert.ok(row, 'docs/sql-reference.md has a row for securitylake_admin');
  const part = (word) => {
    const m = new RegExp(`\`${word}\`([^;.]*)`).exec(row);
    return m ? [...m[1].matchAll(/`([a-z_]+)`/g)].map((x) => x[1]) : [];
  };
  return { functions: part('EXECUTE').sort(), relations: part('SELECT').sort() };
}

function queue(source, events) {
  psql(`COPY securitylake.queue (source, event) FROM STDIN;\n${events.map((e) => `${source}\t${JSON.stringify(e)}`).join('\n')}\n\\.\n`, SAFE);
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET], roles: [],
    securityLake: { account: '123456789012', allow: [USER.accessKeyId], bucket: BUCKET } });
  duck = await openDuck();
  psql('DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;', SAFE);
  loginRole(ADMIN, 'IN ROLE securitylake_admin');
});

after(async () => {
  if (skipNoPg) return;
  dropRole(ADMIN);
  duck?.close();
  await gate?.stop();
});

test('a non-superuser member of securitylake_admin calls every function granted to it, with real effects', { skip: skipNoPg, timeout: 300000 }, async () => {
  assert.equal(one(`SELECT rolsuper FROM pg_roles WHERE rolname = '${ADMIN}'`, SAFE), false);
  const granted = query(`SELECT p.proname AS name, p.oid::regprocedure::text AS signature FROM pg_proc p
                          WHERE p.pronamespace = 'securitylake'::regnamespace
                            AND has_function_privilege('securitylake_admin', p.oid, 'EXECUTE') ORDER BY 1`, SAFE);
  const exercised = new Map();
  const exercise = (name, fn) => { exercised.set(name, true); return fn(); };
  const name = 'adm_src';

  // create_source / alter_source
  exercise('create_source', () => asAdmin(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/1.0/', NULL, NULL, 3002,
      'us-east-1', '123456789012', schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb, publish_rate => '1 hour',
      options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb)`));
  exercise('alter_source', () => asAdmin(`SELECT securitylake.alter_source(${lit(name)}, batch_record_count => 100000, publish_rate => '2 hours')`));
  assert.deepEqual(query(`SELECT batch_record_count, publish_rate FROM securitylake.sources WHERE name = ${lit(name)}`, SAFE),
    [{ batch_record_count: 100000, publish_rate: '02:00:00' }], 'the source was created and altered');

  // set_credentials: the worker uploads with them; flush(source) and flush() deliver for the admin.
  exercise('set_credentials', () => asAdmin(`SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)})`));
  assert.equal(one('SELECT access_key_id FROM securitylake.credential', SAFE), USER.accessKeyId, 'the credentials were stored');
  const first = authEvents(30, { seed: 1000 });
  queue(name, first);
  const objects = exercise('flush', () => asAdmin(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '60 s')`).trim());
  assert.ok(Number(objects) >= 1, `flush(source) returned the objects it wrote (${objects})`);
  const second = authEvents(30, { seed: 1001 });
  queue(name, second);
  asAdmin(`SELECT count(*) FROM securitylake.flush(NULL, '60 s')`);
  assert.equal(one(`SELECT count(*) FROM securitylake.queue`, SAFE), 0, 'flush() delivered everything');
  const seen = await lakeUids(duck, gate.dataDir, BUCKET, `ext/${name}/`);
  assert.deepEqual(exactlyOnce(seen, [...first, ...second].map((e) => e.metadata.uid)), { lost: 0, duplicated: 0, unexpected: 0 });

  // retry_dead_letter: an event without its time is dead-lettered by the worker, then retried.
  const bad = authEvents(1, { seed: 1002 }).map(({ time, ...e }) => e);
  queue(name, bad);
  asAdmin(`SELECT count(*) FROM securitylake.flush(${lit(name)}, '60 s')`);
  const dl = adminOne(`SELECT id FROM securitylake.dead_letter WHERE source = ${lit(name)}`);
  const moved = exercise('retry_dead_letter', () => asAdmin(`SELECT securitylake.retry_dead_letter(ARRAY[${dl}]::bigint[])`).trim());
  assert.equal(moved, '1', 'one dead letter moved back');
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = ${lit(name)}`, SAFE) +
               one(`SELECT count(*) FROM securitylake.dead_letter WHERE id > ${dl}`, SAFE), 1, 'it is queued again (or dead-lettered anew)');

  // The read-only functions, and the views' helpers.
  exercise('parquet_schema', () => assert.ok(adminOne(`SELECT count(*) FROM securitylake.parquet_schema(3002)`) > 50, 'parquet_schema lists the class\'s fields'));
  exercise('_ocsf_classes', () => assert.ok(adminOne(`SELECT count(*) FROM securitylake.ocsf_classes WHERE class_uid = 3002`) >= 1, 'ocsf_classes lists 3002'));
  exercise('version', () => assert.match(adminOne('SELECT securitylake.version()'), /^securitylake version /));
  exercise('route_key', () => assert.equal(adminOne(`SELECT securitylake.route_key(NULL, '{"class_uid": 3002}')`), '#3002'));
  exercise('source_route_keys', () => assert.deepEqual(adminOne(`SELECT securitylake.source_route_keys('a', true, 3002)`), ['a', '#3002']));

  // register_custom_source: a custom source made in Security Lake (the gate's emulation) with
  // the server's identity, and the source built from its answer delivering through the provider
  // role Security Lake made; then deregister_custom_source removes both.
  const gateOpts = { securitylake_endpoint: gate.url, endpoint: gate.url, sts_endpoint: gate.url, force_path_style: true };
  const reg = exercise('register_custom_source', () => JSON.parse(asAdmin(`SELECT row_to_json(r) FROM securitylake.register_custom_source('adm_reg', 3002,
      'us-east-1', ${lit(CRAWLER)}, schema => ${lit(JSON.stringify(AUTH_SCHEMA))}::jsonb,
      options => ${lit(JSON.stringify(gateOpts))}::jsonb) r`).trim()));
  assert.ok(reg, 'register_custom_source answered');
  const registered = adminOne(`SELECT row_to_json(s) FROM securitylake.sources s WHERE name = 'adm_reg'`);
  assert.match(registered.role_arn, /AmazonSecurityLake-Provider-adm_reg-us-east-1/, 'the source uses the provider role Security Lake made');
  const third = authEvents(10, { seed: 1003 });
  queue('adm_reg', third);
  asAdmin(`SELECT count(*) FROM securitylake.flush('adm_reg', '60 s')`);
  const regSeen = await lakeUids(duck, gate.dataDir, BUCKET, registered.prefix);
  assert.deepEqual(exactlyOnce(regSeen, third.map((e) => e.metadata.uid)), { lost: 0, duplicated: 0, unexpected: 0 }, 'delivered through the registered source');
  exercise('deregister_custom_source', () => asAdmin(`SELECT securitylake.deregister_custom_source('adm_reg', options => ${lit(JSON.stringify({ securitylake_endpoint: gate.url }))}::jsonb)`));
  assert.equal(one(`SELECT count(*) FROM securitylake.source WHERE name = 'adm_reg'`, SAFE), 0, 'the source was removed');
  assert.equal((await admin(gate, 'securitylake/sources')).filter((x) => x.sourceName === 'adm_reg').length, 0, '... and the custom source in Security Lake');

  // The helpers of the metrics and of registration, and validate.
  exercise('_queue_depth', () => assert.ok(adminOne('SELECT count(*) FROM securitylake.metrics') > 0, 'the metrics view (it calls _queue_depth) has rows'));
  exercise('event_class_name', () => assert.equal(adminOne('SELECT securitylake.event_class_name(3002)'), 'AUTHENTICATION'));
  exercise('dead_letter_reason_class', () => assert.equal(adminOne(`SELECT securitylake.dead_letter_reason_class('could not be delivered: x')`), 'encode_error'));
  exercise('error_code', () => assert.equal(adminOne(`SELECT securitylake.error_code('x (securitylake.allowed_endpoints)')`), 'EndpointNotAllowed'));
  exercise('validate', () => {
    assert.equal(adminOne(`SELECT securitylake.validate(${lit(JSON.stringify(authEvents(1, { seed: 1004 })[0]))}::jsonb, ${lit(name)})`), null, 'a good event validates');
    assert.ok(adminOne(`SELECT securitylake.validate('{"class_uid": 3002}'::jsonb, ${lit(name)})`), 'a bad one gets its reason');
  });

  // clear_credentials, drop_source
  exercise('clear_credentials', () => asAdmin('SELECT securitylake.clear_credentials()'));
  assert.equal(one('SELECT count(*) FROM securitylake.credential', SAFE), 0, 'the credentials were cleared');
  exercise('drop_source', () => asAdmin(`SELECT securitylake.drop_source(${lit(name)}, force => true)`));
  assert.equal(one(`SELECT count(*) FROM securitylake.source WHERE name = ${lit(name)}`, SAFE), 0, 'the source was dropped');

  // Every granted function was exercised; the docs list the same ones (internal helpers of the
  // views, whose names start with _, aside).
  const missing = granted.filter((g) => !exercised.has(g.name)).map((g) => g.signature);
  assert.deepEqual(missing, [], 'every function granted to securitylake_admin is exercised here');
  const docs = documentedGrants();
  assert.deepEqual(docs.functions, granted.map((g) => g.name).filter((n) => !n.startsWith('_')).sort(),
    'docs/sql-reference.md lists exactly the functions granted to securitylake_admin');
  console.log(`trust: admin: a non-superuser admin called ${granted.length} granted functions with real effects: ${granted.map((g) => g.name).join(', ')}`);
});

test('the admin reads every view and table the docs grant it, and never the credentials', { skip: skipNoPg }, async () => {
  const docs = documentedGrants();
  const granted = query(`SELECT c.relname AS name FROM pg_class c WHERE c.relnamespace = 'securitylake'::regnamespace
                           AND has_table_privilege('securitylake_admin', c.oid, 'SELECT') ORDER BY 1`, SAFE).map((r) => r.name);
  assert.deepEqual(docs.relations, granted, 'docs/sql-reference.md lists exactly the relations securitylake_admin may read');
  for (const rel of granted) asAdmin(`SELECT count(*) FROM securitylake.${rel}`);
  assert.throws(() => asAdmin('SELECT * FROM securitylake.credential'), /permission denied/);
  assert.throws(() => asAdmin(`INSERT INTO securitylake.queue (event) VALUES ('{}')`), /permission denied/, 'an admin is not a producer');
});
