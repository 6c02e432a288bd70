// Shared fixtures for the end-to-end tests: a seed-style Parquet schema for
// Authentication (3002) events and a generator of varied events.

export const AUTH_SCHEMA = {
  Tag: 'name=authentication, repetitiontype=REQUIRED',
  Fields: [
    { Tag: 'name=class_uid, type=INT32, repetitiontype=REQUIRED' },
    { Tag: 'name=category_uid, type=INT32, repetitiontype=OPTIONAL' },
    { Tag: 'name=Activity_id, type=INT32, repetitiontype=OPTIONAL' },
    { Tag: 'name=activity_name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
    { Tag: 'name=severity_id, type=INT32, repetitiontype=OPTIONAL' },
    { Tag: 'name=type_uid, type=INT64, convertedtype=INT_64, repetitiontype=OPTIONAL' },
    { Tag: 'name=time, type=INT64, repetitiontype=REQUIRED' },
    { Tag: 'name=time_dt, type=INT64, convertedtype=TIMESTAMP_MILLIS, repetitiontype=OPTIONAL' },
    { Tag: 'name=is_mfa, type=BOOLEAN, repetitiontype=OPTIONAL' },
    { Tag: 'name=message, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
    { Tag: 'name=risk_score, type=DOUBLE, repetitiontype=OPTIONAL' },
    {
      Tag: 'name=metadata, repetitiontype=OPTIONAL',
      Fields: [
        { Tag: 'name=version, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
        { Tag: 'name=uid, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
        { Tag: 'name=profiles, type=LIST, repetitiontype=OPTIONAL', Fields: [{ Tag: 'name=element, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }] },
        {
          Tag: 'name=product, repetitiontype=OPTIONAL',
          Fields: [
            { Tag: 'name=name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
            { Tag: 'name=vendor_name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
          ],
        },
      ],
    },
    {
      Tag: 'name=user, repetitiontype=OPTIONAL',
      Fields: [
        { Tag: 'name=name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
        { Tag: 'name=uid, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
        { Tag: 'name=groups, type=LIST, repetitiontype=OPTIONAL', Fields: [{ Tag: 'name=element, repetitiontype=OPTIONAL', Fields: [{ Tag: 'name=name, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }] }] },
      ],
    },
    {
      Tag: 'name=src_endpoint, repetitiontype=OPTIONAL',
      Fields: [
        { Tag: 'name=ip, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' },
        { Tag: 'name=port, type=INT32, repetitiontype=OPTIONAL' },
      ],
    },
    { Tag: 'name=unmapped, type=MAP, repetitiontype=OPTIONAL', Fields: [{ Tag: 'name=key, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=REQUIRED' }, { Tag: 'name=value, type=BYTE_ARRAY, convertedtype=UTF8, repetitiontype=OPTIONAL' }] },
  ],
};

const DAY = 86400000;
export const BASE_TIME = Date.UTC(2026, 10, 20, 0, 0, 0); // 2026-11-20

// n varied Authentication events; every 7th has no user, every 5th a unicode name,
// spread over `days` days.
export function authEvents(n, { days = 1, seed = 1, region, account } = {}) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = BASE_TIME + (i % days) * DAY + ((i * 7919 + seed * 104729) % DAY);
    const e = {
      class_uid: 3002, category_uid: 3, activity_id: 1 + (i % 3), activity_name: ['Logon', 'Logoff', 'Authentication Ticket'][i % 3],
      severity_id: 1, type_uid: 300200 + 1 + (i % 3), time: t, time_dt: t,
      is_mfa: i % 2 === 0, risk_score: (i % 100) / 4,
      message: i % 5 === 0 ? `connexion réussie — ユーザー ${i} ✓` : `user ${i} logged on`,
      metadata: { version: '1.1.0', uid: `evt-${seed}-${i}`, profiles: ['cloud', 'datetime'], product: { name: 'CloudTrail', vendor_name: 'AWS' } },
      src_endpoint: { ip: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 1024 + (i % 60000) },
    };
    if (i % 7 !== 0) e.user = { name: `user${i % 97}`, uid: `AIDA${i}`, groups: i % 3 === 0 ? [] : [{ name: 'admins' }, { name: `g${i % 5}` }] };
    if (i % 11 === 0) e.vendor_extra = { note: 'kept in unmapped', n: i };
    if (region || account) e.cloud = { region, account: account ? { uid: account } : undefined };
    out.push(e);
  }
  return out;
}
