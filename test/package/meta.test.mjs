// META.json against the PGXN Meta Spec v1 (https://pgxn.org/meta/spec.txt; the JSON Schema
// form is github.com/pgxn/meta, schema/v1), and the version in every place that repeats it.
// No server needed: runs in the node suite and alone (node --test test/package/meta.test.mjs).
//
// The checks below are the spec's, by key: the required keys, the type and form of every
// key present (Term, SemVer, License, Version Range, Tag), no keys outside the spec but
// x_/X_ custom keys, and in "provides" each extension's required file and version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const read = (f) => readFileSync(join(ROOT, f), 'utf8');

// --- the spec's vocabulary ---------------------------------------------------------------
const REQUIRED = ['name', 'version', 'abstract', 'maintainer', 'license', 'provides', 'meta-spec'];
const OPTIONAL = ['description', 'generated_by', 'tags', 'no_index', 'prereqs', 'release_status', 'resources'];
const LICENSES = ['agpl_3', 'apache_1_1', 'apache_2_0', 'artistic_1', 'artistic_2', 'bsd', 'freebsd', 'gfdl_1_2',
  'gfdl_1_3', 'gpl_1', 'gpl_2', 'gpl_3', 'lgpl_2_1', 'lgpl_3_0', 'mit', 'mozilla_1_0', 'mozilla_1_1', 'openssl',
  'perl_5', 'postgresql', 'qpl_1_0', 'ssleay', 'sun', 'zlib', 'open_source', 'restricted', 'unrestricted', 'unknown'];
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const TERM = /^[^/\\\s\p{Cc}]{2,}$/u;
const TAG = /^[^/\\\p{Cc}]{2,255}$/u;
const RANGE_PART = /^(([=!]=|[<>]=?)\s*)?\S+$/;
const PHASES = ['configure', 'build', 'test', 'runtime', 'develop'];
const RELATIONS = ['requires', 'recommends', 'suggests', 'conflicts'];
const custom = (k) => /^[xX]_./.test(k);

function checkKeys(obj, allowed, where, errors) {
  for (const k of Object.keys(obj)) if (!allowed.includes(k) && !custom(k)) errors.push(`${where}: "${k}" is not a key of the spec`);
}

function versionRange(v) {
  if (v === 0 || v === '0') return true;
  if (typeof v !== 'string') return false;
  return v.split(',').map((p) => p.trim()).every((p) => RANGE_PART.test(p) && SEMVER.test(p.replace(/^([=!]=|[<>]=?)\s*/, '')));
}

// Returns the list of violations (empty: valid).
export function validateMeta(meta) {
  const errors = [];
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return ['META.json is not a JSON object'];
  for (const k of REQUIRED) if (!(k in meta)) errors.push(`required key "${k}" is missing`);
  checkKeys(meta, [...REQUIRED, ...OPTIONAL], 'META.json', errors);
  const str = (v) => typeof v === 'string' && v.length > 0;

  if ('name' in meta && !(typeof meta.name === 'string' && TERM.test(meta.name))) errors.push('name is not a Term (2+ characters, no slash, backslash, space or control character)');
  if ('version' in meta && !(typeof meta.version === 'string' && SEMVER.test(meta.version))) errors.push(`version ${JSON.stringify(meta.version)} is not a SemVer`);
  for (const k of ['abstract', 'description', 'generated_by']) if (k in meta && !str(meta[k])) errors.push(`${k} is not a non-empty string`);
  if ('maintainer' in meta) {
    const m = meta.maintainer;
    if (!(str(m) || (Array.isArray(m) && m.length > 0 && m.every(str)))) errors.push('maintainer is not a string or a non-empty array of strings');
  }
  if ('license' in meta) {
    const l = meta.license;
    const ok = (typeof l === 'string' && LICENSES.includes(l))
      || (Array.isArray(l) && l.length > 0 && l.every((x) => LICENSES.includes(x)))
      || (l && typeof l === 'object' && !Array.isArray(l) && Object.keys(l).length > 0
          && Object.values(l).every((u) => typeof u === 'string' && /^[a-z][a-z0-9+.-]*:\S+$/i.test(u)));
    if (!ok) errors.push(`license ${JSON.stringify(l)} is not one of the spec's license strings, a list of them, or {name: URI}`);
  }
  if ('provides' in meta) {
    const p = meta.provides;
    if (!p || typeof p !== 'object' || Array.isArray(p) || Object.keys(p).length === 0) errors.push('provides is not a non-empty object');
    else {
      for (const [ext, e] of Object.entries(p)) {
        const where = `provides.${ext}`;
        if (!TERM.test(ext)) errors.push(`${where}: the extension name is not a Term`);
        if (!e || typeof e !== 'object' || Array.isArray(e)) { errors.push(`${where} is not an object`); continue; }
        for (const k of ['file', 'version']) if (!(k in e)) errors.push(`${where}: required key "${k}" is missing`);
        checkKeys(e, ['file', 'version', 'abstract', 'docfile'], where, errors);
        if ('version' in e && !(typeof e.version === 'string' && SEMVER.test(e.version))) errors.push(`${where}.version is not a SemVer`);
        for (const k of ['file', 'docfile']) if (k in e && !(str(e[k]) && !e[k].startsWith('/') && !e[k].includes('\\'))) errors.push(`${where}.${k} is not a relative unix path`);
        if ('abstract' in e && !str(e.abstract)) errors.push(`${where}.abstract is not a non-empty string`);
      }
    }
  }
  if ('meta-spec' in meta) {
    const s = meta['meta-spec'];
    if (!s || typeof s !== 'object') errors.push('meta-spec is not an object');
    else {
      if (!(typeof s.version === 'string' && /^1\.0\.\d+$/.test(s.version))) errors.push('meta-spec.version is not 1.0.x');
      if ('url' in s && !['https://pgxn.org/meta/spec.txt', 'http://pgxn.org/meta/spec.txt'].includes(s.url)) errors.push('meta-spec.url is not the spec\'s URL');
      checkKeys(s, ['version', 'url'], 'meta-spec', errors);
    }
  }
  if ('release_status' in meta && !['stable', 'testing', 'unstable'].includes(meta.release_status)) errors.push('release_status is not stable, testing or unstable');
  if ('tags' in meta && !(Array.isArray(meta.tags) && meta.tags.length > 0 && meta.tags.every((t) => typeof t === 'string' && TAG.test(t)))) errors.push('tags is not a non-empty array of Tags');
  if ('no_index' in meta) {
    const n = meta.no_index;
    const list = (v) => (str(v) || (Array.isArray(v) && v.length > 0 && v.every(str) && new Set(v).size === v.length));
    if (!n || typeof n !== 'object' || !('file' in n || 'directory' in n)) errors.push('no_index needs "file" or "directory"');
    else for (const k of ['file', 'directory']) if (k in n && !list(n[k])) errors.push(`no_index.${k} is not a path or a list of distinct paths`);
    if (n && typeof n === 'object') checkKeys(n, ['file', 'directory'], 'no_index', errors);
  }
  if ('prereqs' in meta) {
    const p = meta.prereqs;
    if (!p || typeof p !== 'object' || Object.keys(p).length === 0) errors.push('prereqs is not a non-empty object');
    else {
      checkKeys(p, PHASES, 'prereqs', errors);
      for (const ph of PHASES.filter((x) => x in p)) {
        checkKeys(p[ph], RELATIONS, `prereqs.${ph}`, errors);
        for (const rel of RELATIONS.filter((x) => x in p[ph])) {
          const set = p[ph][rel];
          if (!set || typeof set !== 'object' || Object.keys(set).length === 0) { errors.push(`prereqs.${ph}.${rel} is not a non-empty object`); continue; }
          for (const [name, range] of Object.entries(set)) {
            if (!TERM.test(name)) errors.push(`prereqs.${ph}.${rel}: "${name}" is not a Term`);
            if (!versionRange(range)) errors.push(`prereqs.${ph}.${rel}.${name}: ${JSON.stringify(range)} is not a Version Range`);
          }
        }
      }
    }
  }
  if ('resources' in meta) {
    const r = meta.resources;
    if (!r || typeof r !== 'object' || Object.keys(r).length === 0) errors.push('resources is not a non-empty object');
    else checkKeys(r, ['homepage', 'bugtracker', 'repository'], 'resources', errors);
  }
  return errors;
}

const controlVersion = () => /^default_version\s*=\s*'([^']+)'/m.exec(read('securitylake.control'))[1];

test('META.json follows the PGXN Meta Spec v1', () => {
  const meta = JSON.parse(read('META.json'));
  assert.deepEqual(validateMeta(meta), []);
  for (const e of Object.values(meta.provides)) {
    for (const k of ['file', 'docfile']) if (e[k]) assert.ok(existsSync(join(ROOT, e[k])), `provides: ${e[k]} is in the distribution`);
  }
  assert.ok(meta.provides.securitylake, 'provides names the extension securitylake');
});

test('the validator refuses what the spec refuses (it can fail)', () => {
  const good = JSON.parse(read('META.json'));
  const bad = (mutate) => { const m = structuredClone(good); mutate(m); return validateMeta(m); };
  assert.match(bad((m) => delete m.maintainer).join(), /"maintainer" is missing/);
  assert.match(bad((m) => delete m['meta-spec']).join(), /"meta-spec" is missing/);
  assert.match(bad((m) => { m.license = 'apache-2.0'; }).join(), /license/);
  assert.match(bad((m) => { m.version = '0.2'; }).join(), /SemVer/);
  assert.match(bad((m) => delete m.provides.securitylake.file).join(), /"file" is missing/);
  assert.match(bad((m) => { m.provides.securitylake.versoin = '1.0.0'; }).join(), /"versoin" is not a key/);
  assert.match(bad((m) => { m.prereqs.runtime.requires.PostgreSQL = 'fifteen'; }).join(), /Version Range/);
  assert.match(bad((m) => { m.name = 'security lake'; }).join(), /Term/);
  assert.deepEqual(bad((m) => { m.x_internal = { any: 'thing' }; }), [], 'custom x_ keys are allowed');
});

test('one version everywhere: securitylake.control, META.json, debian/changelog', () => {
  const v = controlVersion();
  const meta = JSON.parse(read('META.json'));
  assert.equal(meta.version, v, 'META.json version is default_version');
  assert.equal(meta.provides.securitylake.version, v, 'META.json provides.securitylake.version is default_version');
  const top = read('debian/changelog').split('\n')[0];
  const m = /^(\S+) \(([^)]+)\)/.exec(top);
  assert.ok(m, `debian/changelog starts with "source (version)": ${top}`);
  assert.equal(m[2].replace(/-[^-]+$/, ''), v, `debian/changelog's upstream version (${m[2]}) is default_version`);
  const comment = /^comment\s*=\s*'([^']+)'/m.exec(read('securitylake.control'))[1];
  assert.equal(meta.abstract, comment, 'META.json abstract is the control file\'s comment');
});
