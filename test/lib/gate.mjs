// The gate for tests: startGate (see test/gate/gate.mjs) and a small admin helper.
export { startGate, startGateInProcess, DEFAULTS } from '../gate/gate.mjs';

// Call the gate's admin API: admin(gate, 'faults', { count: 2, kinds: ['500'] }).
// A kept-alive connection the gate closes just as fetch reuses it fails with "fetch failed"
// (the calls set state: repeating one is harmless): tried again, twice at most.
export async function admin(gate, path, body) {
  let res;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(`${gate.url}/__gate/${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      break;
    } catch (err) {
      if (attempt >= 2 || err.message !== 'fetch failed') throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  if (res.status !== 200) throw new Error(`gate admin ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

// Request stalls (the gate's stall API): hold matching S3 requests unanswered.
//   await stall(gate, { method: 'PUT', pathPrefix: '/bucket/ext/x/', kind: 'put' }, 2);
//   const held = await stalled(gate);   // [{ method, path, kind, ... }]
//   await releaseStall(gate);
export const stall = (gate, match, count = 1) => admin(gate, 'stall', { match, count });
export async function stalled(gate) {
  const r = await admin(gate, 'stall');
  return Array.isArray(r) ? r : (r.held ?? r.requests ?? []);
}
export const releaseStall = (gate) => admin(gate, 'stall/release', {});

// Wait until at least n requests are held by a stall; returns them.
export async function waitStalled(gate, n = 1, timeoutMs = 60000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const held = await stalled(gate);
    if (held.length >= n) return held;
    if (Date.now() > until) throw new Error(`no ${n} stalled request(s) within ${timeoutMs} ms (held: ${JSON.stringify(held)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
