/**
 * The pure parts of the WebSocket backend: handshake header checks, subprotocol lists (at least as strict as
 * ws, which parses them again), close codes passed on, and the config checks the schema cannot express.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { closeCodeFor, MAX_PROTOCOLS, parseProtocols, validKey } from './handshake.js';
import { checkWebSocket, type WebSocketConfig } from './schema.js';

describe('validKey', () => {
  test('16 bytes of base64, nothing else', () => {
    assert.equal(validKey('dGhlIHNhbXBsZSBub25jZQ=='), true);
    assert.equal(validKey(undefined), false);
    assert.equal(validKey(''), false);
    assert.equal(validKey('dGhlIHNhbXBsZSBub25jZQ'), false);
    assert.equal(validKey('dGhlIHNhbXBsZSBub25jZQ==\r\nx: y'), false);
    assert.equal(validKey('dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ=='), false);
  });
});

describe('parseProtocols', () => {
  test('absent header: none offered', () => {
    assert.deepEqual(parseProtocols(undefined), []);
  });
  test('a list of tokens, in order, spaces ignored', () => {
    assert.deepEqual(parseProtocols('chat.v2'), ['chat.v2']);
    assert.deepEqual(parseProtocols('chat.v2, chat.v1 ,graphql-ws'), ['chat.v2', 'chat.v1', 'graphql-ws']);
  });
  test('empty entries, duplicates, separators and control characters are refused', () => {
    for (const bad of ['', ' ', 'a,,b', 'a,', ',a', 'a, a', 'a b', 'a;b', 'a/b', '"a"', 'a\u0000', 'chät']) {
      assert.equal(parseProtocols(bad), null, JSON.stringify(bad));
    }
  });
  test('at most MAX_PROTOCOLS', () => {
    const many = Array.from({ length: MAX_PROTOCOLS + 1 }, (_, i) => `p${i}`);
    assert.equal(parseProtocols(many.join(',')), null);
    assert.equal(parseProtocols(many.slice(1).join(','))?.length, MAX_PROTOCOLS);
  });
});

describe('closeCodeFor', () => {
  test('a code that can be sent passes as it is, both ways', () => {
    for (const code of [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4001, 4999]) {
      assert.equal(closeCodeFor(code, true), code);
      assert.equal(closeCodeFor(code, false), code);
    }
  });
  test('no status (1005) stays no status: an empty close frame', () => {
    assert.equal(closeCodeFor(1005, true), undefined);
    assert.equal(closeCodeFor(1005, false), undefined);
  });
  test('an abnormal end (1006, 1015): the service hears 1001, the client 1014', () => {
    for (const code of [1006, 1015]) {
      assert.equal(closeCodeFor(code, true), 1001);
      assert.equal(closeCodeFor(code, false), 1014);
    }
  });
});

describe('checkWebSocket', () => {
  const base: WebSocketConfig = {
    maxMessage: '1mb', messagesPerSecond: 1000, idle: '10m', maxLifetime: '2h', closeOnExpiry: true,
    handshakeTimeout: '10s', maxConnectionsPerConsumer: 100,
  };
  test('the defaults are valid', () => {
    assert.deepEqual(checkWebSocket(base), []);
  });
  test('origins are checked like cors origins', () => {
    assert.deepEqual(checkWebSocket({ ...base, origins: ['https://app.example.com', 'https://*.example.com'] }), []);
    const problems = checkWebSocket({ ...base, origins: ['https://app.example.com/', '*', 'https://a.*.example.com'] });
    assert.deepEqual(problems.map((p) => p[0]), ['origins[0]', 'origins[1]', 'origins[2]']);
  });
  test('sizes and durations in range', () => {
    assert.deepEqual(checkWebSocket({ ...base, maxMessage: '0b', idle: '10ms', maxLifetime: '0s', handshakeTimeout: '99ms' }).map((p) => p[0]),
      ['maxMessage', 'idle', 'maxLifetime', 'handshakeTimeout']);
    assert.deepEqual(checkWebSocket({ ...base, maxMessage: '2gb' }).map((p) => p[0]), ['maxMessage']);
  });
});
