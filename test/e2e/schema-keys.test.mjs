// A source schema (the reference connector's parquet-go tag form) whose fields would read
// the same event key is refused (issue 16: this check, in src/schema.c, had no test).
// Column names match event keys case-insensitively, so `Activity_id` and `activity_id`
// would both read `activity_id`: the object would carry the value twice and, for an exact
// repeat, two columns of one name, which Glue and Athena reject.
//
// create_source and alter_source refuse such a schema by running the worker's own schema
// builder on it (src/columns_tags.c, through securitylake._check_tag_schema), so the two
// cannot disagree on how a Tag is read; the worker checks again when it builds the writer,
// for a schema stored another way (a superuser's UPDATE, an older version): the refusal
// shows as the source's delivery error and its events stay queued.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { psql, one, lit, copyEvents, skipNoPg } from '../lib/pg.mjs';
import { storedObjects } from '../lib/duck.mjs';
import { startGate } from '../lib/gate.mjs';
import { AUTH_SCHEMA, authEvents } from './fixtures.mjs';

const BUCKET = 'aws-security-data-lake-us-east-1-schemalake';
const USER = { accessKeyId: 'AKIASCHEMAKEYSTEST01', secretAccessKey: 'schemaKeysSecretKeyForTheGate00000000001' };
let gate;

// AUTH_SCHEMA plus extra top-level fields, and extra fields in `metadata`.
const withFields = (extra, nested = []) => ({
  ...AUTH_SCHEMA,
  Fields: AUTH_SCHEMA.Fields.map((f) => (f.Tag.startsWith('name=metadata,') ? { ...f, Fields: [...f.Fields, ...nested] } : f)).concat(extra),
});
const CASES = [
  ['an exact repeat', withFields([{ Tag: 'name=message, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }])],
  ['names differing in case', withFields([{ Tag: 'name=activity_id, type=INT32, repetitiontype=OPTIONAL' }])],
  ['nested, differing in case', withFields([], [{ Tag: 'name=UID, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }])],
];

function createSource(name, schema) {
  psql(`SELECT securitylake.create_source(${lit(name)}, 's3://${BUCKET}/ext/${name}/', NULL, NULL, 3002, 'us-east-1', '123456789012',
          schema => ${lit(JSON.stringify(schema))}::jsonb, publish_rate => '1 hour',
          options => ${lit(JSON.stringify({ endpoint: gate.url, force_path_style: true }))}::jsonb);`);
}

before(async () => {
  if (skipNoPg) return;
  gate = await startGate({ users: [USER], buckets: [BUCKET] });
  psql(`DROP EXTENSION IF EXISTS securitylake CASCADE; CREATE EXTENSION securitylake;
        SELECT securitylake.set_credentials(${lit(USER.accessKeyId)}, ${lit(USER.secretAccessKey)});`);
});

after(async () => {
  await gate?.stop();
});

test('a stored schema with two fields reading the same key (repeat, case, nested) delivers nothing and says why', { skip: skipNoPg, timeout: 60000 }, () => {
  CASES.forEach(([, schema], i) => {
    createSource(`dupkeys${i}`, AUTH_SCHEMA);
    psql(`UPDATE securitylake.source SET schema = ${lit(JSON.stringify(schema))}::jsonb WHERE name = 'dupkeys${i}'`);
    copyEvents(authEvents(5, { seed: 70 + i }), { source: `dupkeys${i}` });
  });
  createSource('dupkeysok', AUTH_SCHEMA);   // the same schema without the repeat delivers
  copyEvents(authEvents(5, { seed: 79 }), { source: 'dupkeysok' });
  assert.throws(() => psql(`SELECT count(*) FROM securitylake.flush(NULL, '4 s')`), /read the same key/, 'flush says why');
  CASES.forEach(([what], i) => {
    const name = `dupkeys${i}`;
    assert.match(one(`SELECT coalesce(last_error, '') FROM securitylake.status WHERE source = ${lit(name)}`), /read the same key/, `${what}: status says why`);
    assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = ${lit(name)}`), 5, `${what}: the events stay queued`);
    assert.deepEqual(storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith(`ext/${name}/`)), [], `${what}: no object written`);
    psql(`SELECT securitylake.drop_source(${lit(name)}, force => true)`);
  });
  assert.equal(one(`SELECT count(*) FROM securitylake.queue WHERE source = 'dupkeysok'`), 0);
  assert.equal(storedObjects(gate.dataDir, BUCKET).filter((o) => o.key.startsWith('ext/dupkeysok/')).length, 1);
});

test('create_source and alter_source refuse such a schema at once', { skip: skipNoPg }, () => {
  for (const [what, schema] of CASES) {
    assert.throws(() => createSource('dupkeysnow', schema), /read the same key/, what);
  }
  createSource('dupkeysnow', AUTH_SCHEMA);
  for (const [what, schema] of CASES) {
    assert.throws(() => psql(`SELECT securitylake.alter_source('dupkeysnow', schema => ${lit(JSON.stringify(schema))}::jsonb)`), /read the same key/, `alter_source: ${what}`);
  }
  // inname names the key a field reads: a field renamed onto another's key is refused too
  const renamed = { ...AUTH_SCHEMA, Fields: AUTH_SCHEMA.Fields.concat([{ Tag: 'name=msg2, inname=Message, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }]) };
  assert.throws(() => psql(`SELECT securitylake.alter_source('dupkeysnow', schema => ${lit(JSON.stringify(renamed))}::jsonb)`), /read the same key "message"/, 'inname onto an existing key');
  psql(`SELECT securitylake.drop_source('dupkeysnow', force => true)`);
});

// Tags the worker reads as parquet-go does (keys case-insensitive, spaces around = and
// commas, the last of a repeated key): a check that read them its own way accepted these,
// and the worker then refused the stored schema at every delivery.
test('create_source refuses what the worker cannot build, however the Tag is written', { skip: skipNoPg }, () => {
  const leaf = (tag) => ({ Tag: `${tag}, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL` });
  const cases = [
    ['upper-case NAME=', withFields([leaf('NAME=message')]), /read the same key "message"/],
    ['INNAME= onto another field', withFields([leaf('name=msg2, INNAME=Message')]), /read the same key "message"/],
    ['spaces around =', withFields([leaf('name = Message')]), /read the same key "message"/],
    ['a repeated name= (the last wins)', withFields([leaf('name=other, name=message')]), /read the same key "message"/],
    ['a LIST with two fields', withFields([{ Tag: 'name=pair, type=LIST, repetitiontype=OPTIONAL', Fields: [leaf('name=a'), leaf('name=b')] }]), /exactly one field/],
    ['a MAP without a UTF8 key', withFields([{ Tag: 'name=m, type=MAP, repetitiontype=OPTIONAL', Fields: [{ Tag: 'name=key, type=INT32, repetitiontype=REQUIRED' }, leaf('name=value')] }]), /UTF8 key/],
  ];
  const accepted = [];
  for (const [what, schema, why] of cases) {
    try {
      createSource('tagforms', schema);
      accepted.push(what);
      psql(`SELECT securitylake.drop_source('tagforms', force => true)`);
    } catch (e) {
      assert.match(e.message, why, what);
    }
  }
  assert.deepEqual(accepted, [], 'refused at create_source');
});
