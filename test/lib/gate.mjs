// The gate for tests: startGate (see test/gate/gate.mjs) and a small admin helper.
export { startGate, startGateInProcess, DEFAULTS } from '../gate/gate.mjs';

// Call the gate's admin API: admin(gate, 'faults', { count: 2, kinds: ['500'] }).
export async function admin(gate, path, body) {
  const res = await fetch(`${gate.url}/__gate/${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`gate admin ${path}: ${res.status} ${await res.text()}`);
  return res.json();
}
