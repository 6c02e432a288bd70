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
