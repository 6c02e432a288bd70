// Rebuilding an event from a row of the lake (DuckDB's to_json of a full OCSF class
// schema object), as README's "The unmapped column" says a reader does: typed columns,
// json_t columns parsed back, `unmapped` entries under their JSONPath or under
// `unmapped`; and the event as the lake should hold it (absent *_dt filled from their
// twins). Used by test/e2e/samples.test.mjs and test/e2e/fuzz.test.mjs.
import assert from 'node:assert/strict';
import { query, lit } from './pg.mjs';


// Drop nulls from objects (absent and null are the same to Parquet); arrays keep theirs.
export function stripNulls(v) {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (v && typeof v === 'object') {
    const out = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = stripNulls(x);
    return out;
  }
  return v;
}

// "$.a.b[0][\"x.y\"]" → ['a', 'b', 0, 'x.y']
export function parseJsonPath(path) {
  assert.ok(path.startsWith('$'), path);
  const out = [];
  const re = /\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/gy;
  re.lastIndex = 1;
  let m;
  while (re.lastIndex < path.length && (m = re.exec(path))) {
    out.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : JSON.parse(m[3])));
  }
  assert.equal(re.lastIndex, path.length, `a JSONPath we can read: ${path}`);
  return out;
}

export function setAt(root, segments, value) {
  let node = root;
  segments.forEach((seg, i) => {
    if (i === segments.length - 1) { node[seg] = value; return; }
    if (node[seg] === undefined || node[seg] === null) node[seg] = typeof segments[i + 1] === 'number' ? [] : {};
    node = node[seg];
  });
}

// An unmapped value: JSON text, or a string stored as itself when it is not valid JSON.
export function unmappedValue(text) {
  try { return JSON.parse(text); } catch { return text; }
}

// DuckDB's to_json writes TIMESTAMP as "2024-05-01 12:00:00.123"; the input had RFC 3339.
export function normaliseDatetimes(v, key = '') {
  if (Array.isArray(v)) return v.map((x) => normaliseDatetimes(x, key));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normaliseDatetimes(x, k)]));
  if (key.endsWith('_dt') && typeof v === 'string') {
    let text = v.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
    if (!/[zZ]$|[+-]\d\d:\d\d$/.test(text)) text += 'Z';
    const ms = Date.parse(text);
    return Number.isNaN(ms) ? v : ms;
  }
  return v;
}

// What the class schema says about paths (dotted, list levels dropped): which columns
// are json_t (STRING columns holding JSON text) and which *_dt columns have an epoch-ms
// twin (the worker fills an absent x_dt from x, source option fill_dt).
const schemaInfos = new Map();
export function schemaInfo(version, classUid) {
  const key = `${version}/${classUid}`;
  if (!schemaInfos.has(key)) {
    const rows = query(`SELECT path, ocsf_type, type FROM securitylake.parquet_schema(${classUid}, ${lit(version)})`);
    const norm = (p) => p.replace(/\.list\.element/g, '');
    const ts = new Set(rows.filter((r) => r.ocsf_type === 'timestamp_t').map((r) => norm(r.path)));
    schemaInfos.set(key, {
      json: new Set(rows.filter((r) => r.ocsf_type === 'json_t' && r.type === 'BYTE_ARRAY').map((r) => norm(r.path))),
      dt: new Set(rows.filter((r) => r.ocsf_type === 'datetime_t' && r.path.endsWith('_dt')).map((r) => norm(r.path))
        .filter((p) => ts.has(p.slice(0, -3)))),
    });
  }
  return schemaInfos.get(key);
}

// json_t columns hold JSON text: parse it back (elements of a list of json_t too).
export function parseJsonColumns(v, info, path = '') {
  if (Array.isArray(v)) return v.map((x) => parseJsonColumns(x, info, path));
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => {
      const p = path ? `${path}.${k}` : k;
      if (info.json.has(p)) return [k, Array.isArray(x) ? x.map((t) => (typeof t === 'string' ? JSON.parse(t) : t)) : (typeof x === 'string' ? JSON.parse(x) : x)];
      return [k, parseJsonColumns(x, info, p)];
    }));
  }
  return v;
}

// The event as the lake holds it: every x_dt the schema pairs with x, absent, filled from x.
export function withFilledDt(v, info, path = '') {
  if (Array.isArray(v)) return v.map((x) => withFilledDt(x, info, path));
  if (v && typeof v === 'object') {
    const out = Object.fromEntries(Object.entries(v).map(([k, x]) => [k, withFilledDt(x, info, path ? `${path}.${k}` : k)]));
    for (const dt of info.dt) {
      const parent = dt.includes('.') ? dt.slice(0, dt.lastIndexOf('.')) : '';
      const name = dt.slice(parent ? parent.length + 1 : 0);
      const twin = name.slice(0, -3);
      if (parent === path && typeof out[twin] === 'number' && (out[name] === undefined || out[name] === null)) out[name] = out[twin];
    }
    return out;
  }
  return v;
}

export function rebuild(row, info) {
  const event = parseJsonColumns(stripNulls(row), info);
  const entries = event.unmapped ?? {};
  delete event.unmapped;
  for (const [key, text] of Object.entries(entries)) {
    if (key.startsWith('$')) setAt(event, parseJsonPath(key), unmappedValue(text));
    else setAt(event, ['unmapped', key], unmappedValue(text));
  }
  return reviveMaps(event);
}

// Generic `object` attributes (MAP<STRING,STRING>, e.g. file.xattributes) hold values as
// unmapped does; DuckDB gives them as JSON objects of strings.
export function reviveMaps(v, parentKey = '') {
  if (Array.isArray(v)) return v.map((x) => reviveMaps(x, parentKey));
  if (v && typeof v === 'object') {
    const isMap = parentKey === 'xattributes';
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, isMap && typeof x === 'string' ? unmappedValue(x) : reviveMaps(x, k)]));
  }
  return v;
}

export const canonical = (e) => JSON.stringify(sortKeys(normaliseDatetimes(stripNulls(e))));
export function sortKeys(v) {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]));
  return v;
}

