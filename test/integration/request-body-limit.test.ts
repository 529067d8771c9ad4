/**
 * The request body limit (request-body.ts' useRequestBodyLimit, in place of Yoga's
 * maxRequestBodySize): the same answers as Yoga's plugin, over raw sockets, with a small limit.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Ledger } from '../../src/ledger/port.ts';
import { createLogger } from '../../src/logger.ts';
import { createApp, type App } from '../../src/server/app.ts';

const LIMIT = 1_000;
const body = (filler: number) => `{"query":"{ __typename }","variables":{"x":"${'a'.repeat(filler)}"}}`;
const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;

describe('request body limit', () => {
  let app: App;
  let port: number;
  beforeAll(async () => {
    const ledger = { ping: async () => {} } as unknown as Ledger;
    app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error' }), maxRequestBodyBytes: LIMIT });
    ({ port } = await app.listen());
  });
  afterAll(() => app.close());

  /** Sends `parts` one by one, `gapMs` apart, and resolves with what came back before the server closed or `waitMs` passed. */
  const exchange = (parts: string[], gapMs = 0, waitMs = 1_500) =>
    new Promise<string>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      let got = '';
      socket.on('data', (d) => {
        got += d.toString();
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
      setTimeout(() => {
        socket.destroy();
        resolve(got);
      }, waitMs);
      let i = 0;
      const next = () => {
        if (i < parts.length && !socket.destroyed) {
          socket.write(parts[i++]!);
          setTimeout(next, gapMs);
        }
      };
      next();
    });
  const head = (headers: string) => `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n${headers}Connection: close\r\n\r\n`;

  it('refuses a chunked body with 413 once it passes the limit, while the client is still sending', async () => {
    const parts = [head('Transfer-Encoding: chunked\r\n'), ...Array.from({ length: 8 }, () => chunk('a'.repeat(300))), '0\r\n\r\n'];
    const answer = await exchange(parts, 50);
    expect(answer).toMatch(/^HTTP\/1\.1 413 /);
    expect(answer).toContain('"code":"REQUEST_ENTITY_TOO_LARGE"');
    expect(answer).toContain('Request body too large');
  });

  it('refuses a Content-Length over the limit (413) and one that is not a single integer (400) before reading', async () => {
    expect(await exchange([`${head(`Content-Length: ${LIMIT + 1}\r\n`)}${body(10)}`])).toMatch(/^HTTP\/1\.1 413 [\s\S]*REQUEST_ENTITY_TOO_LARGE/);
    expect(await exchange([`${head('Content-Length: +5\r\n')}hello`])).toMatch(/^HTTP\/1\.1 400 /);
  });

  it('reads a body within the limit, chunked or not', async () => {
    const small = body(100);
    expect(await exchange([`${head(`Content-Length: ${small.length}\r\n`)}${small}`])).toMatch(/^HTTP\/1\.1 200 [\s\S]*"__typename":"Query"/);
    expect(await exchange([head('Transfer-Encoding: chunked\r\n'), chunk(small.slice(0, 50)), chunk(small.slice(50)), '0\r\n\r\n'], 20)).toMatch(
      /^HTTP\/1\.1 200 [\s\S]*"__typename":"Query"/,
    );
    const exact = body(LIMIT - body(0).length);
    expect(Buffer.byteLength(exact)).toBe(LIMIT);
    expect(await exchange([head('Transfer-Encoding: chunked\r\n'), chunk(exact), '0\r\n\r\n'])).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('serves /readyz whatever the other requests are', async () => {
    expect(await exchange(['GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'])).toMatch(/^HTTP\/1\.1 200 [\s\S]*"status":"ready"/);
    expect(await exchange(['GET /x/../readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'])).toMatch(/^HTTP\/1\.1 200 [\s\S]*"status":"ready"/);
  });
});
