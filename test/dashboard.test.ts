/**
 * The dashboard in a real headless browser (Debian's Chromium driven by playwright-core) against the real
 * gateway and its admin listener: the shell's headers; signing in (a wrong token is refused inline, a token
 * that stops working sends the page back to the login form); live numbers that move while traffic flows;
 * adding a route through the form, first with a validation error shown next to its field, then for real,
 * and the new route answering; no secret anywhere on the page.
 *
 * Without /usr/bin/chromium the browser test skips with a message (under CI=true it fails: `.ci/run`
 * installs it). With GATEHOUSE_SCREENSHOTS=DIR it saves the README's screenshots into DIR.
 */
import { describe, test, after, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { startUpstream, freePort, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { request } from './helpers/http.js';
import { serveDashboard, DASHBOARD_CSP } from '../src/admin/dashboard.js';

const CHROMIUM = '/usr/bin/chromium';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ADMIN_TOKEN = 'admin-token-dashboard-0123456789';
const KEY = 'gh_test_dashboard_key_0123456789abcdef';
const sha = (k: string): string => createHash('sha256').update(k).digest('hex');
const SHOTS = process.env.GATEHOUSE_SCREENSHOTS ? resolve(process.cwd(), process.env.GATEHOUSE_SCREENSHOTS) : null;

/** The bundle is made by `npm run build`; a test run straight after `tsc` builds it here. */
function ensureBundle(): void {
  if (existsSync(join(ROOT, 'dist', 'dashboard', 'app.js'))) return;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build-dashboard.mjs')], { cwd: ROOT, stdio: 'inherit' });
  assert.equal(r.status, 0, 'building the dashboard failed');
}

function needChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  if (process.env.CI === 'true') throw new Error(`Chromium is required under CI=true but ${CHROMIUM} is missing (apt-get install chromium)`);
  t.skip(`${CHROMIUM} not found; install Debian's chromium (apt-get install chromium) to run the dashboard's browser test`);
  return false;
}

let upstream: Upstream;
let gw: TestGateway;
let dead: number;

before(async () => {
  ensureBundle();
  dead = await freePort();
  // Some latency so the percentiles have something to show, and /fail answering 500 for the error rate.
  upstream = await startUpstream('api', (req, res) => {
    const fail = req.url!.includes('/fail');
    setTimeout(() => {
      res.writeHead(fail ? 500 : 200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ upstream: 'api', url: req.url }));
    }, 2 + Math.floor(Math.random() * 12));
  });
  gw = await startTestGateway(`admin: { port: 0, token: "${ADMIN_TOKEN}" }
consumers:
  acme: { groups: [partners], plan: gold, keys: ["sha256:${sha(KEY)}"] }
  globex: { groups: [internal], jwt: { subject: globex-svc } }
auth:
  key: { apiKey: { header: x-api-key } }
plans:
  gold: { rate-limit: [ { limit: 1000, per: 1s } ] }
services:
  orders: { targets: ["${upstream.url}"], circuitBreaker: { failures: 50, cooldown: 30s } }
  users:
    targets: ["${upstream.url}", "http://127.0.0.1:${dead}"]
    healthCheck: { path: /health, interval: 200ms, timeout: 300ms, unhealthy: 1, healthy: 1 }
routes:
  - { name: orders, match: { path: /orders/*, methods: [GET, POST] }, service: orders, rate-limit: { limit: 1000, per: 1s } }
  - { name: users, match: { path: /users/* }, service: users, auth: [key] }
  - { name: status, match: { path: /status }, static: { json: { ok: true } } }
`);
});
after(async () => {
  await gw?.close();
  await upstream?.close();
});

describe('the dashboard shell', () => {
  test('serveDashboard serves index.html, app.js and app.css with a strict CSP and ETags, and nothing else', async () => {
    const server: Server = createServer((req, res) => {
      if (!serveDashboard(req, res, req.url!)) { res.writeHead(418); res.end(); }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const index = await request(`${base}/`);
      assert.equal(index.status, 200);
      assert.match(String(index.headers['content-type']), /^text\/html/);
      assert.equal(index.headers['content-security-policy'], DASHBOARD_CSP);
      assert.match(DASHBOARD_CSP, /default-src 'none'/);
      assert.match(DASHBOARD_CSP, /script-src 'self';/);
      assert.match(DASHBOARD_CSP, /frame-ancestors 'none'/);
      assert.doesNotMatch(DASHBOARD_CSP, /unsafe/);
      assert.equal(index.headers['x-content-type-options'], 'nosniff');
      assert.equal(index.headers['cache-control'], 'no-cache');
      // No inline script and nothing from another origin: the page loads only its own two files.
      assert.doesNotMatch(index.body, /<script>|<script [^>]*>[^<]|https?:\/\//);
      assert.match(index.body, /src="\/dashboard\/app\.js"/);
      const js = await request(`${base}/dashboard/app.js`);
      assert.equal(js.status, 200);
      assert.match(String(js.headers['content-type']), /^text\/javascript/);
      assert.doesNotMatch(js.body, /https?:\/\/(?!www\.w3\.org)[a-z]/i, 'the bundle fetches nothing from other origins');
      const css = await request(`${base}/dashboard/app.css`);
      assert.equal(css.status, 200);
      assert.match(String(css.headers['content-type']), /^text\/css/);
      assert.doesNotMatch(css.body, /@import|url\(/);
      const again = await request(`${base}/dashboard/app.js`, { headers: { 'if-none-match': String(js.headers.etag) } });
      assert.equal(again.status, 304);
      assert.equal((await request(`${base}/dashboard/secret.txt`)).status, 418);
      assert.equal((await request(`${base}/dashboard/../package.json`)).status, 418);
      assert.equal((await request(`${base}/api/stats`)).status, 418);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  test('the admin listener serves the shell without a token and its data only with one', async () => {
    const admin = gw.adminUrl!;
    const index = await request(`${admin}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers['content-security-policy'], DASHBOARD_CSP);
    assert.equal((await request(`${admin}/dashboard/app.js`)).status, 200);
    assert.equal((await request(`${admin}/api/stats`)).status, 401);
    const stats = await request(`${admin}/api/stats`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    assert.equal(stats.status, 200);
    assert.equal(stats.json.windowS, 60);
    assert.deepEqual(stats.json.routes.map((r: { route: string }) => r.route).sort(), ['orders', 'status', 'users']);
  });
});

describe('the dashboard in a browser', () => {
  let context: BrowserContext | null = null;
  let profile = '';
  after(async () => {
    await context?.close();
    if (profile !== '') rmSync(profile, { recursive: true, force: true });
  });

  test('sign in, live numbers, add a route through the form, and no secret on the page', async (t) => {
    if (!needChromium(t)) return;
    profile = mkdtempSync(join(tmpdir(), 'gatehouse-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1400, height: 900 },
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(15_000);
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/status of (401|422)/.test(m.text())) problems.push(`console: ${m.text()}`); });
    page.on('request', (r) => { if (!r.url().startsWith(gw.adminUrl!)) problems.push(`request to another origin: ${r.url()}`); });

    // Sign in: a wrong token is refused next to the field, the right one opens the dashboard.
    await page.goto(`${gw.adminUrl}/`);
    const token = page.getByLabel('Admin token');
    await token.waitFor();
    assert.equal(await token.getAttribute('type'), 'password');
    await shot(page, 'dashboard-login.png');
    await token.fill('not-the-admin-token-at-all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('This token was not accepted.').waitFor();
    await token.fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const orders = page.locator('tr[data-route="orders"]');
    await orders.waitFor();

    // Live numbers: traffic starts, and the total and the rate move without a reload.
    const traffic = new Traffic(gw.url);
    traffic.start();
    try {
      const first = await waitForNumber(page, 'tr[data-route="orders"] [data-col="total"]', (n) => n > 0);
      await waitForNumber(page, 'tr[data-route="orders"] [data-col="total"]', (n) => n >= first + 10);
      await waitForNumber(page, 'tr[data-route="orders"] [data-col="rps"]', (n) => n > 1);
      await waitForNumber(page, 'tr[data-route="users"] [data-col="rps"]', (n) => n > 0);
      // One request in 25 fails upstream: the error rate shows it.
      await waitForNumber(page, 'tr[data-route="orders"] [data-col="errors"]', (n) => n > 0 && n < 50);
      assert.match(await orders.locator('[data-col="p99"]').innerText(), /\d+(\.\d)? ms/);
      assert.ok(await orders.locator('svg.spark polyline').count() === 1);
      // Services: the dead target of `users` is shown down, the circuit state of `orders` closed.
      await page.locator('[data-service="users"]').getByText('down').waitFor();
      assert.equal(await page.locator('[data-service="orders"] [data-col="circuit"]').innerText(), 'circuit closed');
      await page.locator('tr[data-consumer="acme"]').waitFor();

      // The form: a path without its leading slash is refused, with the error next to the path field.
      const form = page.locator('#add-route');
      await form.getByLabel('Name').fill('fresh');
      await form.getByLabel('Path').fill('fresh/*');
      await form.getByLabel('Methods').fill('GET');
      await form.getByLabel('Service').selectOption('orders');
      await form.getByRole('button', { name: 'Add route' }).click();
      const pathError = form.locator('.field-error[data-field="path"]');
      await pathError.waitFor();
      assert.match(await pathError.innerText(), /\S/);
      assert.equal(await form.getByLabel('Path').getAttribute('aria-invalid'), 'true');
      assert.match(await form.locator('[data-testid="form-error"]').innerText(), /Not saved/);
      assert.equal((await request(`${gw.url}/fresh/x`)).status, 404);
      await shot(page, 'dashboard-form-error.png', false, '#add');

      // Fixed, it is accepted, listed, and the gateway routes it at once.
      await form.getByLabel('Path').fill('/fresh/*');
      await form.getByRole('button', { name: 'Add route' }).click();
      await form.locator('.form-ok').waitFor();
      await page.locator('tr[data-route="fresh"]').waitFor();
      const r = await request(`${gw.url}/fresh/x`);
      assert.equal(r.status, 200);
      assert.equal(r.json.url, '/fresh/x');
      await page.locator('#changes').getByText('fresh').first().waitFor();
      traffic.paths.push('/fresh/a', '/fresh/b');

      // A consumer, the same way; then its usage of the day, read on demand.
      const consumerForm = page.locator('#add-consumer');
      await consumerForm.getByLabel('Id').fill('initech');
      await consumerForm.getByLabel('Groups').fill('beta, partners');
      await consumerForm.getByLabel('Plan').selectOption('gold');
      await consumerForm.getByRole('button', { name: 'Add consumer' }).click();
      await consumerForm.locator('.form-ok').waitFor();
      const initech = page.locator('tr[data-consumer="initech"]');
      await initech.waitFor();
      assert.match(await initech.innerText(), /beta[\s\S]*partners[\s\S]*gold/);
      const acme = page.locator('tr[data-consumer="acme"]');
      await acme.getByRole('button', { name: 'Today' }).click();
      await acme.getByText(/calls today/).waitFor();

      // For the README: a minute's worth of sparkline is more telling than three seconds of it.
      if (SHOTS !== null) await page.waitForTimeout(20_000);
      await shot(page, 'dashboard.png', true);
    } finally {
      await traffic.stop();
    }

    // No secret anywhere: not the key, not its full hash, not the admin token (which is in sessionStorage).
    const html = await page.content();
    assert.ok(!html.includes(KEY));
    assert.ok(!html.includes(sha(KEY)));
    assert.ok(html.includes(`sha256:${sha(KEY).slice(0, 12)}`), 'the key is listed by its short hash');
    assert.ok(!html.includes(ADMIN_TOKEN));

    // A token that stops working (changed in the config, say) ends the session: back to the login form.
    await page.evaluate("sessionStorage.setItem('gatehouse.admin-token', 'an-old-token-that-no-longer-works')");
    await page.reload();
    await page.getByLabel('Admin token').waitFor();
    await page.getByText('Sign in again').waitFor();
    assert.deepEqual(problems, []);
  });
});

/** shot saves a screenshot for the README when GATEHOUSE_SCREENSHOTS is set. */
async function shot(page: Page, name: string, fullPage = false, selector?: string): Promise<void> {
  if (SHOTS === null) return;
  mkdirSync(SHOTS, { recursive: true });
  if (selector !== undefined) await page.locator(selector).screenshot({ path: join(SHOTS, name) });
  else await page.screenshot({ path: join(SHOTS, name), fullPage });
}

/** waitForNumber waits until the number in the element at `selector` satisfies `ok`, and returns it. */
async function waitForNumber(page: Page, selector: string, ok: (n: number) => boolean, timeoutMs = 15_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < deadline) {
    text = await page.locator(selector).innerText().catch(() => '');
    const n = Number.parseFloat(text.replace(/,/g, ''));
    if (Number.isFinite(n) && ok(n)) return n;
    await page.waitForTimeout(100);
  }
  throw new Error(`${selector} still shows "${text}" after ${timeoutMs} ms`);
}

/** Traffic sends a steady stream of requests to the gateway (about 40/s, a few failing) until stopped. */
class Traffic {
  /** Extra paths sent in turn with the built-in mix (a route added during the test). */
  readonly paths: string[];
  readonly #base: string;
  #running: Promise<void> | null;
  #stopped: boolean;
  constructor(base: string) {
    this.paths = [];
    this.#base = base;
    this.#running = null;
    this.#stopped = false;
  }

  start(): void {
    this.#running = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    for (let i = 0; !this.#stopped; i++) {
      const extra = this.paths.length > 0 && i % 4 === 1 ? this.paths[i % this.paths.length]! : null;
      const path = extra ?? (i % 25 === 7 ? '/orders/fail' : i % 3 === 0 ? `/users/${i}` : i % 7 === 0 ? '/status' : `/orders/${i}`);
      const headers: Record<string, string> = path.startsWith('/users') ? { 'x-api-key': KEY } : {};
      await request(`${this.#base}${path}`, { headers }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}
