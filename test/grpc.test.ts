/**
 * gRPC through the gateway with @grpc/grpc-js on both sides: the client speaks HTTP/2 over TLS to the
 * gateway, the gateway speaks HTTP/2 to the gRPC server (h2c to an insecure one, ALPN to a TLS one). A unary
 * and a server-streaming call come through with their trailers (`grpc-status`, `grpc-message`, trailing
 * metadata) intact, an upstream error status reaches the client as the server sent it, and the gateway's own
 * refusals reach it as gRPC statuses: no credential → UNAUTHENTICATED (and the server never sees the call),
 * a rate limit → RESOURCE_EXHAUSTED, no route → UNIMPLEMENTED, an unreachable service → UNAVAILABLE.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type * as GrpcJs from '@grpc/grpc-js';
import { startTestGateway, type TestGateway } from './helpers/gateway.js';
import { freePort } from './helpers/upstream.js';
import { CertMaker, hasOpenssl } from './helpers/certs.js';

const PROTO = `
syntax = "proto3";
package test;
service Greeter {
  rpc SayHello (HelloRequest) returns (HelloReply);
  rpc CountTo (CountRequest) returns (stream HelloReply);
  rpc Fail (HelloRequest) returns (HelloReply);
}
service Limited { rpc SayHello (HelloRequest) returns (HelloReply); }
service Unrouted { rpc SayHello (HelloRequest) returns (HelloReply); }
service Down { rpc SayHello (HelloRequest) returns (HelloReply); }
message HelloRequest { string name = 1; }
message CountRequest { int32 n = 1; int32 delay_ms = 2; }
message HelloReply { string message = 1; }
`;

const KEY = 'gh_test_0123456789abcdefghijABCDEFGHIJ0123456789abcdefghi';

/** Loads @grpc/grpc-js and @grpc/proto-loader, or says why the test is skipped. */
async function loadGrpc(): Promise<{ grpc: typeof GrpcJs; loader: typeof import('@grpc/proto-loader') } | string> {
  if (!hasOpenssl()) return 'the openssl CLI is not installed (it makes the test certificates)';
  try {
    return { grpc: await import('@grpc/grpc-js'), loader: await import('@grpc/proto-loader') };
  } catch {
    return '@grpc/grpc-js and @grpc/proto-loader are not installed (devDependencies: run npm install)';
  }
}
const loaded = await loadGrpc();
const SKIP = typeof loaded === 'string' ? loaded : false;

// Loose shapes of the generated stubs (grpc-js types them as `any`-ish service clients).
type Callback = (err: GrpcJs.ServiceError | null, reply?: { message: string }) => void;
interface GreeterClient extends GrpcJs.Client {
  SayHello(req: { name: string }, md: GrpcJs.Metadata, cb: Callback): GrpcJs.ClientUnaryCall;
  Fail(req: { name: string }, md: GrpcJs.Metadata, cb: Callback): GrpcJs.ClientUnaryCall;
  CountTo(req: { n: number; delay_ms: number }, md: GrpcJs.Metadata): GrpcJs.ClientReadableStream<{ message: string }>;
}
type ClientCtor = (new (address: string, creds: GrpcJs.ChannelCredentials, options?: GrpcJs.ChannelOptions) => GreeterClient) & { service: GrpcJs.ServiceDefinition };

describe('gRPC pass-through', { skip: SKIP }, () => {
  const { grpc, loader } = loaded as Exclude<typeof loaded, string>;
  let certs: CertMaker;
  let server: GrpcJs.Server;
  let tlsServer: GrpcJs.Server;
  let gw: TestGateway;
  let pkg: Record<string, ClientCtor>;
  /** Calls the gRPC servers received, by method path. */
  const calls: string[] = [];

  const unary = (client: GreeterClient, method: 'SayHello' | 'Fail', name: string, md = new grpc.Metadata()): Promise<{ message: string }> =>
    new Promise((resolve, reject) => { client[method]({ name }, md, (err, reply) => (err ? reject(err) : resolve(reply!))); });

  const withKey = (extra: Record<string, string> = {}): GrpcJs.Metadata => {
    const md = new grpc.Metadata();
    md.set('x-api-key', KEY);
    for (const [k, v] of Object.entries(extra)) md.set(k, v);
    return md;
  };

  const client = (service: string): GreeterClient => new pkg[service]!(`127.0.0.1:${gw.port}`, grpc.credentials.createSsl(Buffer.from(certs.ca.certPem)), {
    'grpc.ssl_target_name_override': 'api.test',
    'grpc.default_authority': 'api.test',
  });

  before(async () => {
    certs = new CertMaker();
    const dir = mkdtempSync(join(tmpdir(), 'gatehouse-grpc-'));
    writeFileSync(join(dir, 'test.proto'), PROTO);
    const def = loader.loadSync(join(dir, 'test.proto'), { keepCase: true, defaults: true });
    const proto = grpc.loadPackageDefinition(def) as unknown as { test: Record<string, ClientCtor> };
    pkg = proto.test;
    const impl = (who: string): GrpcJs.UntypedServiceImplementation => ({
      SayHello: (call: GrpcJs.ServerUnaryCall<{ name: string }, unknown>, cb: GrpcJs.sendUnaryData<unknown>) => {
        calls.push(`${who}:SayHello`);
        const consumer = call.metadata.get('x-consumer-id')[0] ?? 'nobody';
        cb(null, { message: `hello ${call.request.name} from ${String(consumer)} via ${who}` });
      },
      Fail: (_call: GrpcJs.ServerUnaryCall<unknown, unknown>, cb: GrpcJs.sendUnaryData<unknown>) => {
        calls.push(`${who}:Fail`);
        const trailer = new grpc.Metadata();
        trailer.set('x-detail', 'looked everywhere');
        cb({ code: grpc.status.NOT_FOUND, details: 'no such greeting', metadata: trailer });
      },
      CountTo: async (call: GrpcJs.ServerWritableStream<{ n: number; delay_ms: number }, unknown>) => {
        calls.push(`${who}:CountTo`);
        for (let i = 1; i <= call.request.n; i++) {
          call.write({ message: `count ${i}` });
          await new Promise((resolve) => setTimeout(resolve, call.request.delay_ms));
        }
        call.end();
      },
    });
    const bind = async (creds: GrpcJs.ServerCredentials, who: string): Promise<{ s: GrpcJs.Server; port: number }> => {
      const s = new grpc.Server();
      s.addService(pkg.Greeter!.service, impl(who));
      s.addService(pkg.Limited!.service, impl(who));
      const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
      return { s, port };
    };
    const plain = await bind(grpc.ServerCredentials.createInsecure(), 'h2c');
    server = plain.s;
    const upstreamCert = certs.leaf('grpc.internal', { ip: ['127.0.0.1'] });
    const secure = await bind(grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(upstreamCert.certPem), private_key: Buffer.from(upstreamCert.keyPem) }]), 'tls');
    tlsServer = secure.s;
    const listener = certs.leaf('api.test', { dns: ['api.test'] });
    gw = await startTestGateway(`
listen: { host: 127.0.0.1, port: 0, tls: { cert: "${listener.cert}", key: "${listener.key}" } }
consumers:
  acme: { keys: ["sha256:${createHash('sha256').update(KEY).digest('hex')}"] }
auth: { key: { apiKey: {} } }
services:
  greeter: { targets: ["http://127.0.0.1:${plain.port}"], protocol: h2 }
  greeter-tls: { targets: ["https://127.0.0.1:${secure.port}"], protocol: h2, tls: { ca: "${certs.ca.cert}" } }
  down: { targets: ["http://127.0.0.1:${await freePort()}"], protocol: h2, retries: 0 }
routes:
  - { name: greeter-tls, priority: 10, match: { path: /test.Greeter/*, headers: { x-upstream: tls } }, service: greeter-tls, auth: [key] }
  - { name: greeter, match: { path: /test.Greeter/* }, service: greeter, auth: [key] }
  - { name: limited, match: { path: /test.Limited/* }, service: greeter, rate-limit: { limit: 1, per: 1m } }
  - { name: down, match: { path: /test.Down/* }, service: down }
`);
  });
  after(async () => {
    await gw?.close();
    server?.forceShutdown();
    tlsServer?.forceShutdown();
  });

  test('a unary call comes through with the consumer the gateway authenticated (h2c and TLS upstreams)', { timeout: 15_000 }, async () => {
    const c = client('Greeter');
    try {
      assert.equal((await unary(c, 'SayHello', 'ada', withKey())).message, 'hello ada from acme via h2c');
      assert.equal((await unary(c, 'SayHello', 'bob', withKey({ 'x-upstream': 'tls' }))).message, 'hello bob from acme via tls');
      // Several calls at once share the gateway's connections both ways.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => unary(c, 'SayHello', `n${i}`, withKey())));
      assert.deepEqual(many.map((r) => r.message), Array.from({ length: 20 }, (_, i) => `hello n${i} from acme via h2c`));
    } finally {
      c.close();
    }
  });

  test('a server-streaming call delivers every message and the final OK status', { timeout: 15_000 }, async () => {
    const c = client('Greeter');
    try {
      const call = c.CountTo({ n: 5, delay_ms: 30 }, withKey());
      const messages: string[] = [];
      call.on('data', (m: { message: string }) => messages.push(m.message));
      const status = await new Promise<GrpcJs.StatusObject>((resolve, reject) => {
        call.on('status', resolve);
        call.on('error', reject);
      });
      assert.equal(status.code, grpc.status.OK);
      assert.deepEqual(messages, ['count 1', 'count 2', 'count 3', 'count 4', 'count 5']);
    } finally {
      c.close();
    }
  });

  test('the upstream\'s error status, message and trailing metadata reach the client unchanged', { timeout: 10_000 }, async () => {
    const c = client('Greeter');
    try {
      await assert.rejects(unary(c, 'Fail', 'x', withKey()), (err: GrpcJs.ServiceError) => {
        assert.equal(err.code, grpc.status.NOT_FOUND);
        assert.equal(err.details, 'no such greeting');
        assert.deepEqual(err.metadata.get('x-detail'), ['looked everywhere']);
        return true;
      });
    } finally {
      c.close();
    }
  });

  test('gateway refusals become gRPC statuses: UNAUTHENTICATED, RESOURCE_EXHAUSTED, UNIMPLEMENTED, UNAVAILABLE', { timeout: 15_000 }, async () => {
    const before = calls.length;
    const greeter = client('Greeter');
    const limited = client('Limited');
    const unrouted = client('Unrouted');
    const down = client('Down');
    try {
      await assert.rejects(unary(greeter, 'SayHello', 'x'), (err: GrpcJs.ServiceError) => {
        assert.equal(err.code, grpc.status.UNAUTHENTICATED);
        assert.match(err.details, /Authentication is required/);
        assert.ok(err.metadata.get('x-request-id').length === 1, 'the request id comes along');
        return true;
      });
      await assert.rejects(unary(greeter, 'SayHello', 'x', withKey({ 'x-api-key': 'gh_test_wrong' })), (err: GrpcJs.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
      assert.equal(calls.length, before, 'refused calls never reach the server');

      assert.equal((await unary(limited, 'SayHello', 'first')).message, 'hello first from nobody via h2c');
      await assert.rejects(unary(limited, 'SayHello', 'second'), (err: GrpcJs.ServiceError) => err.code === grpc.status.RESOURCE_EXHAUSTED);
      await assert.rejects(unary(unrouted, 'SayHello', 'x'), (err: GrpcJs.ServiceError) => err.code === grpc.status.UNIMPLEMENTED);
      await assert.rejects(unary(down, 'SayHello', 'x'), (err: GrpcJs.ServiceError) => err.code === grpc.status.UNAVAILABLE);
    } finally {
      for (const c of [greeter, limited, unrouted, down]) c.close();
    }
  });
});
