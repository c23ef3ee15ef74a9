/**
 * `gatehouse demo` (what `npm start` runs): small demo services on loopback — a users service on two
 * instances and an orders service — and the gateway on examples/gatehouse.yaml, with curl lines that show
 * routing, load balancing and a health-check ejection.
 */
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../main.js';

/** DEMO_PORTS are where the demo services listen; examples/gatehouse.yaml points at them. */
export const DEMO_PORTS = { users1: 3001, users2: 3002, orders: 3003 } as const;

/** startDemoServices starts the demo upstreams; `ports` may be overridden (tests use 0). */
export async function startDemoServices(ports: { users1: number; users2: number; orders: number } = DEMO_PORTS): Promise<{ servers: Server[]; ports: typeof ports; setUsers2Healthy(ok: boolean): void }> {
  let users2Healthy = true;
  const users = (instance: string, healthy: () => boolean): Server => createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/health') {
      res.writeHead(healthy() ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: healthy() }));
      return;
    }
    const m = /^\/users\/([^/]+)$/.exec(url.pathname);
    const body = m ? { id: m[1], name: `User ${m[1]}`, servedBy: instance } : { users: [{ id: '1', name: 'Ada' }, { id: '2', name: 'Grace' }], servedBy: instance };
    res.writeHead(m || url.pathname === '/users' ? 200 : 404, { 'content-type': 'application/json', 'x-served-by': instance, server: 'demo-users/1.0' });
    res.end(JSON.stringify(m || url.pathname === '/users' ? body : { error: 'not found' }));
  });
  const orders = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/health') { res.writeHead(200).end('ok'); return; }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ orders: [{ id: 'o-1', user: url.searchParams.get('user') ?? '1', total: 4200 }], path: url.pathname }));
  });
  const servers = [users('users-1', () => true), users('users-2', () => users2Healthy), orders];
  const bound = { ...ports };
  const keys = ['users1', 'users2', 'orders'] as const;
  await Promise.all(servers.map((s, i) => new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.listen(ports[keys[i]!], '127.0.0.1', () => { bound[keys[i]!] = (s.address() as { port: number }).port; resolve(); });
  })));
  return { servers, ports: bound, setUsers2Healthy: (ok) => { users2Healthy = ok; } };
}

/** runDemo starts everything and prints the tour; it runs until Ctrl-C. */
export async function runDemo(): Promise<number> {
  const demo = await startDemoServices();
  const config = fileURLToPath(new URL('../../../examples/gatehouse.yaml', import.meta.url));
  const gw = await startGateway({ configFile: config, signals: true });
  // Control endpoint of the demo only: flips the second users instance's health so the ejection can be seen.
  const control = createServer((req, res) => {
    const ok = req.url !== '/users-2/down';
    demo.setUsers2Healthy(ok);
    res.end(`users-2 health check now answers ${ok ? 200 : 503}\n`);
  }).listen(3009, '127.0.0.1');
  const u = gw.url;
  process.stdout.write(`
Gatehouse demo is running. Try:

  curl -i ${u}/api/users/42              # routed to the users service, path rewritten to /users/42
  for i in 1 2 3 4; do curl -s ${u}/api/users | grep -o 'users-[12]'; done   # round-robin over two instances
  curl -i ${u}/api/orders?user=7         # the orders service
  curl -i ${u}/nowhere                   # 404 as application/problem+json
  curl -i -X DELETE ${u}/api/orders      # 405 with Allow
  curl -i -H 'api-version: 2' ${u}/api/users/42   # version 2 of the API, with Deprecation/Sunset on v1
  curl -s http://127.0.0.1:3009/users-2/down   # make users-2 fail its health checks...
  for i in 1 2 3 4; do curl -s ${u}/api/users | grep -o 'users-[12]'; done   # ...after ~3s only users-1 answers
  curl -s http://127.0.0.1:3009/users-2/up     # and it comes back

Edit examples/gatehouse.yaml while this runs: the gateway reloads it (a bad edit is refused and logged).
Ctrl-C stops everything.
`);
  process.once('SIGINT', () => { control.close(); for (const s of demo.servers) s.close(); });
  return new Promise<number>(() => { /* until Ctrl-C */ });
}
