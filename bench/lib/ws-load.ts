// The WebSocket part of `npm run bench`: echo round trips over long-lived connections, straight to the
// upstream's echo endpoint and through a Gatehouse route with `websocket:`. Each connection keeps one message
// in flight (send, wait for the echo, send again), so messages/s and the round-trip latency both show what the
// gateway adds per message. The load runs in the bench process, like autocannon.
import WebSocket from 'ws';

/** WsResult is one measured run. */
export interface WsResult {
  messagesPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
}

/** WS_MESSAGE is what every round trip sends: 64 bytes, as the HTTP scenarios' smallest body. */
const WS_MESSAGE = Buffer.alloc(64, 'w');

/**
 * measureWs opens `connections` WebSockets to `url`, runs round trips for `warmupS` (not recorded) then
 * `durationS` seconds, and closes them. Latencies are kept in a fixed histogram of 10 µs buckets up to 100 ms.
 */
export async function measureWs(url: string, connections: number, durationS: number, warmupS: number): Promise<WsResult> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => open(url)));
  const buckets = new Uint32Array(10_001);
  let recording = false;
  let stopped = false;
  let count = 0;
  let errors = 0;
  const loops = sockets.map((ws) => new Promise<void>((resolve) => {
    let sentAt = 0;
    const send = (): void => {
      if (stopped) { resolve(); return; }
      sentAt = performance.now();
      ws.send(WS_MESSAGE, { binary: true });
    };
    ws.on('message', () => {
      if (recording) {
        const us = (performance.now() - sentAt) * 1000;
        buckets[Math.min(10_000, Math.floor(us / 10))]!++;
        count++;
      }
      send();
    });
    ws.on('error', () => { errors++; resolve(); });
    ws.on('close', () => resolve());
    send();
  }));
  await sleep(warmupS * 1000);
  recording = true;
  const start = performance.now();
  await sleep(durationS * 1000);
  recording = false;
  const elapsed = (performance.now() - start) / 1000;
  stopped = true;
  await Promise.race([Promise.all(loops), sleep(2000)]);
  for (const ws of sockets) ws.terminate();
  return { messagesPerSecond: count / elapsed, p50Ms: percentile(buckets, count, 0.5), p99Ms: percentile(buckets, count, 0.99), errors };
}

function open(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket handshake answered ${res.statusCode}`)));
  });
}

function percentile(buckets: Uint32Array, count: number, q: number): number {
  if (count === 0) return 0;
  const want = Math.ceil(count * q);
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    seen += buckets[i]!;
    if (seen >= want) return (i + 0.5) / 100;
  }
  return 100;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
