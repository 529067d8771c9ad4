/**
 * SocketWriter (src/server/ws.ts): graphql-ws' send with writes coalesced per turn of the event
 * loop, over real `ws` sockets on loopback. What must survive the coalescing: every message, in
 * order, before a close frame sent after them; backpressure from a client that stops reading; and
 * no send left waiting once the socket is gone.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket, { WebSocketServer } from 'ws';
import { SEND_HIGH_WATER_BYTES, SocketWriter } from '../../src/server/ws.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const turn = () => new Promise((r) => setImmediate(r));

interface Pair {
  server: WebSocket;
  request: IncomingMessage;
  writer: SocketWriter;
  client: WebSocket;
  /** Messages the client received, as text. */
  received: string[];
  /** The close code the client saw, once it did. */
  closeCode: () => number | null;
  /** Messages received when the close arrived. */
  receivedAtClose: () => number | null;
}

let wss: WebSocketServer | null = null;
afterEach(async () => {
  for (const c of wss?.clients ?? []) c.terminate();
  await new Promise<void>((resolve) => (wss ? wss.close(() => resolve()) : resolve()));
  wss = null;
});

/** A connected pair; the server side wired like serveSockets (writer.closed() on close). */
async function connect(): Promise<Pair> {
  wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise((r) => wss!.once('listening', r));
  const accepted = new Promise<[WebSocket, IncomingMessage]>((resolve) => wss!.once('connection', (s, req) => resolve([s, req])));
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
  const received: string[] = [];
  let closeCode: number | null = null;
  let receivedAtClose: number | null = null;
  client.on('message', (data) => received.push(String(data)));
  client.on('close', (code) => {
    closeCode = code;
    receivedAtClose = received.length;
  });
  await new Promise((resolve, reject) => {
    client.once('open', resolve);
    client.once('error', reject);
  });
  const [server, request] = await accepted;
  const writer = new SocketWriter(server, request.socket);
  server.once('close', () => writer.closed());
  return { server, request, writer, client, received, closeCode: () => closeCode, receivedAtClose: () => receivedAtClose };
}

async function until(what: string, pred: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('SocketWriter: per-turn write coalescing', () => {
  it('writes ws frames to the upgrade request’s socket, corked for the rest of the turn after the first send', async () => {
    const p = await connect();
    // What the writer corks is the stream ws writes to.
    expect(p.request.socket).toBe((p.server as unknown as { _socket: unknown })._socket);
    expect(p.request.socket.writableCorked).toBe(0);
    p.writer.send('a');
    p.writer.send('b');
    expect(p.request.socket.writableCorked).toBe(1);
    expect(p.received).toEqual([]);
    await turn();
    expect(p.request.socket.writableCorked).toBe(0);
    await until('both messages', () => p.received.length === 2);
    expect(p.received).toEqual(['a', 'b']);
  });

  it('many subscriptions on one socket, each awaiting its sends as graphql-ws does: all arrive, each in order, then the close', async () => {
    const p = await connect();
    const subs = 8;
    const each = 2_000;
    // Sizes vary so that some turns cross the high-water mark and some sends wait for their write.
    const message = (s: number, i: number) => JSON.stringify({ id: String(s), i, pad: 'x'.repeat((i * 37 + s * 101) % 900) });
    const loops = Array.from({ length: subs }, async (_, s) => {
      for (let i = 0; i < each; i++) await p.writer.send(message(s, i));
    });
    await Promise.all(loops);
    p.server.close(4000, 'done'); // in the same turn as the last sends: still corked
    await until('the close', () => p.closeCode() !== null);
    expect(p.closeCode()).toBe(4000);
    expect(p.receivedAtClose()).toBe(subs * each);
    const got = p.received.map((m) => JSON.parse(m) as { id: string; i: number });
    for (let s = 0; s < subs; s++) expect(got.filter((m) => m.id === String(s)).map((m) => m.i)).toEqual(Array.from({ length: each }, (_, i) => i));
    // Interleaved: the subscriptions took turns, as they do when graphql-ws awaits each send.
    expect(got.slice(0, subs * 10).some((m) => m.id !== got[0]!.id)).toBe(true);
  });

  it('a burst in one turn followed by a close in the same turn: every message before the close frame', async () => {
    const p = await connect();
    const n = 20_000;
    for (let i = 0; i < n; i++) void p.writer.send(String(i)); // most of these cross the high-water mark
    p.server.close(4001, 'after the burst');
    await until('the close', () => p.closeCode() !== null);
    expect(p.closeCode()).toBe(4001);
    expect(p.receivedAtClose()).toBe(n);
    expect(p.received).toEqual(Array.from({ length: n }, (_, i) => String(i)));
  });

  it('backpressure: a client that stops reading makes sends wait beyond the high-water mark; all arrive once it reads again', async () => {
    const p = await connect();
    const rawClient = (p.client as unknown as { _socket: import('node:net').Socket })._socket;
    rawClient.pause(); // stops reading: the kernel buffers fill, then the server's stream buffer
    const big = 'y'.repeat(16 * 1024);
    let sent = 0;
    let maxBuffered = 0;
    let stop = false;
    const loop = (async () => {
      while (!stop && sent < 20_000) {
        await p.writer.send(`${sent}:${big}`);
        sent++;
        maxBuffered = Math.max(maxBuffered, p.server.bufferedAmount);
      }
    })();
    // Wait until the sender has stalled (no progress for a while): it is waiting for a write.
    let last = -1;
    while (sent !== last) {
      last = sent;
      await sleep(300);
    }
    expect(sent).toBeLessThan(20_000);
    // What the server holds unwritten is bounded: the high-water mark plus the message that crossed it.
    expect(p.server.bufferedAmount).toBeGreaterThanOrEqual(SEND_HIGH_WATER_BYTES);
    expect(maxBuffered).toBeLessThan(SEND_HIGH_WATER_BYTES + big.length + 100);
    stop = true;
    rawClient.resume();
    await loop;
    await until('every message', () => p.received.length === sent);
    expect(p.received.map((m) => Number(m.slice(0, m.indexOf(':'))))).toEqual(Array.from({ length: sent }, (_, i) => i));
  });

  it('a send waiting on a client that stopped reading is released when the socket is terminated; later sends are dropped', async () => {
    const p = await connect();
    (p.client as unknown as { _socket: import('node:net').Socket })._socket.pause();
    const big = 'z'.repeat(64 * 1024);
    // Fill the kernel buffers first (sends that wait for their write are let through here)...
    let waiting: Promise<void> | null = null;
    for (let i = 0; i < 2_000; i++) {
      const r = p.writer.send(big);
      if (r) {
        waiting = r;
        let done = false;
        // Settled either way: once the socket is terminated, Node 24 fails the stalled write (ECANCELED).
        void r.then(
          () => (done = true),
          () => (done = true),
        );
        await sleep(20);
        if (!done) break; // ...until one really stalls
        waiting = null;
      }
    }
    expect(waiting).not.toBeNull();
    p.server.terminate();
    // Settles (its write's error, or the close releasing it) instead of waiting forever.
    await waiting!.then(
      () => undefined,
      () => undefined,
    );
    await until('the server side to see the close', () => p.server.readyState === WebSocket.CLOSED);
    expect(p.writer.send('after')).toBeUndefined();
  });
});
