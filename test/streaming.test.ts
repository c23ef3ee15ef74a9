/**
 * Server-sent events through the real gateway, over HTTP/1.1 and HTTP/2: each event reaches the client as
 * the upstream sends it (the upstream sends the next one only after the client has the previous one, so a
 * gateway that buffered would stall the test), and the service's `timeouts.idle` bounds the silence between
 * two events, not the length of the stream: events every 200 ms under a 500 ms idle timeout flow for 2 s,
 * while a stream silent for longer is cut.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { connect as h2connect, type ClientHttp2Session } from 'node:http2';
import { startUpstream, type Upstream } from './helpers/upstream.js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { CertMaker, hasOpenssl } from './helpers/certs.js';

/** Gate is a promise the upstream waits on and the client opens. */
class Gate {
  readonly promise: Promise<void>;
  open!: () => void;
  constructor() { this.promise = new Promise((resolve) => { this.open = resolve; }); }
}

/** EventStream reads an SSE body as it arrives: `events` grows per event, `onEvent` sees each one. */
interface EventStream { status: number; type: string | undefined; events: string[]; ended: Promise<'end' | 'cut'> }

/** sseOverH1 opens an event stream with HTTP/1.1; `onEvent` runs as each event arrives. */
function sseOverH1(gw: TestGateway, path: string, onEvent: (data: string) => void): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, gw.url);
    const req = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, headers: { accept: 'text/event-stream' } }, (res) => {
      const out: EventStream = { status: res.statusCode!, type: res.headers['content-type'], events: [], ended: null as unknown as Promise<'end' | 'cut'> };
      out.ended = readEvents(res, out.events, onEvent);
      resolve(out);
    });
    req.on('error', reject);
    req.end();
  });
}

/** sseOverH2 opens an event stream on an HTTP/2 session. */
function sseOverH2(session: ClientHttp2Session, path: string, onEvent: (data: string) => void): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ':path': path, accept: 'text/event-stream' });
    s.on('response', (h) => {
      const out: EventStream = { status: Number(h[':status']), type: h['content-type'] as string | undefined, events: [], ended: null as unknown as Promise<'end' | 'cut'> };
      out.ended = readEvents(s, out.events, onEvent);
      resolve(out);
    });
    s.on('error', reject);
    s.end();
  });
}

/** readEvents splits `data:` events out of a byte stream as they arrive; resolves how the stream ended. */
function readEvents(stream: NodeJS.ReadableStream & { on(e: string, f: (...a: unknown[]) => void): unknown }, events: string[], onEvent: (data: string) => void): Promise<'end' | 'cut'> {
  return new Promise((resolve) => {
    let buf = '';
    let done = false;
    const finish = (how: 'end' | 'cut'): void => { if (!done) { done = true; resolve(how); } };
    stream.on('data', (chunk: unknown) => {
      buf += String(chunk);
      let i;
      while ((i = buf.indexOf('\n\n')) !== -1) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        events.push(data);
        onEvent(data);
      }
    });
    stream.on('end', () => finish('end'));
    stream.on('aborted', () => finish('cut'));
    stream.on('error', () => finish('cut'));
    stream.on('close', () => finish(buf === '' && events.length > 0 ? 'end' : 'cut'));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('server-sent events', () => {
  let up: Upstream;
  /** Gates of the lock-step stream: the upstream sends event i+1 only once gates[i] is open. */
  let gates: Gate[] = [];
  let certs: CertMaker | null = null;
  let gw: TestGateway;
  let tlsGw: TestGateway | null = null;

  before(async () => {
    up = await startUpstream('sse', async (req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      if (req.url === '/lockstep') {
        for (let i = 0; i < 3; i++) {
          res.write(`data: event ${i}\n\n`);
          await gates[i]!.promise;
        }
        res.end();
      } else if (req.url === '/ticker') {
        for (let i = 0; i < 10; i++) {
          res.write(`data: tick ${i}\n\n`);
          await sleep(200);
        }
        res.end();
      } else if (req.url === '/silent') {
        res.write('data: hello\n\n');
        // Then nothing, for longer than the idle timeout (the gateway must cut it; the test ends it otherwise).
        await sleep(8000);
        res.end();
      }
    });
    const yaml = (listen: string): string => `${listen}
services: { sse: { targets: ["${up.url}"], timeouts: { idle: 500ms } } }
routes: [ { name: events, match: { path: /* }, service: sse } ]
`;
    gw = await startTestGateway(yaml('listen: { host: 127.0.0.1, port: 0 }'));
    if (hasOpenssl()) {
      certs = new CertMaker();
      const c = certs.leaf('api.test', { dns: ['api.test'] });
      tlsGw = await startTestGateway(yaml(`listen: { host: 127.0.0.1, port: 0, tls: { cert: "${c.cert}", key: "${c.key}" } }`));
    }
  });
  after(async () => {
    await gw.close();
    await tlsGw?.close();
    up.server.closeAllConnections();
    await up.close();
  });

  /** Runs the lock-step stream: each event must arrive while the upstream waits for the client to have it. */
  async function lockstep(open: (onEvent: (data: string) => void) => Promise<EventStream>): Promise<void> {
    gates = [new Gate(), new Gate(), new Gate()];
    let received = 0;
    const s = await open(() => { gates[received++]!.open(); });
    assert.equal(s.status, 200);
    assert.equal(s.type, 'text/event-stream');
    const how = await Promise.race([s.ended, sleep(5000).then(() => 'stalled' as const)]);
    assert.equal(how, 'end', 'every event arrived before the next was sent (a buffering gateway stalls here)');
    assert.deepEqual(s.events, ['event 0', 'event 1', 'event 2']);
  }

  test('HTTP/1.1: each event reaches the client before the upstream sends the next', { timeout: 10_000 }, async () => {
    await lockstep((onEvent) => sseOverH1(gw, '/lockstep', onEvent));
  });

  test('HTTP/2: each event reaches the client before the upstream sends the next', { timeout: 10_000, skip: hasOpenssl() ? false : 'no openssl CLI for the test certificate' }, async () => {
    const session = h2connect(tlsGw!.url, { ca: certs!.ca.certPem, servername: 'api.test' });
    try {
      await lockstep((onEvent) => sseOverH2(session, '/lockstep', onEvent));
    } finally {
      session.close();
    }
  });

  test('the idle timeout applies between events: a 2 s stream with an event every 200 ms under `idle: 500ms` completes', { timeout: 10_000 }, async () => {
    const t0 = Date.now();
    const s = await sseOverH1(gw, '/ticker', () => {});
    assert.equal(await s.ended, 'end');
    assert.equal(s.events.length, 10);
    assert.ok(Date.now() - t0 >= 1800, 'the stream lasted about 2 s, four times the idle timeout');
  });

  test('a stream silent for longer than the idle timeout is cut, over HTTP/1.1 and HTTP/2', { timeout: 15_000 }, async () => {
    const t0 = Date.now();
    const s = await sseOverH1(gw, '/silent', () => {});
    assert.equal(await s.ended, 'cut');
    assert.deepEqual(s.events, ['hello']);
    const took = Date.now() - t0;
    // undici's idle timer is coarse (about 0.5 s ticks): cut after 0.5 s to about 2 s of silence, never 8 s.
    assert.ok(took >= 400 && took < 4000, `cut after ${took} ms`);
    if (tlsGw !== null) {
      const session = h2connect(tlsGw.url, { ca: certs!.ca.certPem, servername: 'api.test' });
      try {
        const t1 = Date.now();
        const s2 = await sseOverH2(session, '/silent', () => {});
        assert.equal(await s2.ended, 'cut');
        assert.deepEqual(s2.events, ['hello']);
        assert.ok(Date.now() - t1 < 4000);
        // The session itself is fine: only that stream was cut.
        const again = await sseOverH2(session, '/ticker', () => {});
        assert.equal(again.status, 200);
        assert.equal(await again.ended, 'end');
      } finally {
        session.close();
      }
    }
  });
});
