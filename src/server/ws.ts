/**
 * GraphQL over WebSocket (graphql-ws, subprotocol `graphql-transport-ws`) on the HTTP server's own
 * port and path. Every operation runs through Yoga's envelop — its parse, validate, context,
 * execute and subscribe — so the schema, the abuse limits, the cost limit and error masking are the
 * same as over HTTP.
 *
 * - Same-origin only: browsers let any page open a WebSocket anywhere (no CORS), so an upgrade that
 *   carries an Origin from another host is refused (403); clients that send none (not browsers)
 *   are let in. On an open server (no tokens) this is what keeps a web page from writing.
 * - Authentication (when tokens are configured): `connectionParams.authorization` ("Bearer …") is
 *   checked once in onConnect. Missing or unknown token: closed with 4401 Unauthorized; a token
 *   with no scope at all (nothing it could run): 4403 Forbidden. Per-operation scopes are then
 *   checked by the schema like over HTTP (FORBIDDEN errors), so a write-only token can still send
 *   mutations over the socket.
 * - JSON nested deeper than MAX_JSON_NESTING closes the socket with 4400 before it is parsed
 *   (serveSockets).
 * - Keep-alive: a ping every `keepAliveMs`; a socket that does not answer within as long again is
 *   terminated (also how a client that stopped reading is eventually cut off).
 * - close(): no new upgrades, every socket closed with 1001 "Going away", and those that do not
 *   complete the close handshake within the grace are terminated, so shutdown never waits on them.
 * - Writes are coalesced per turn of the event loop (SocketWriter): see there.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { type DocumentNode, GraphQLError, type ExecutionArgs } from 'graphql';
import { CloseCode, handleProtocols, makeServer, type OperationResult } from 'graphql-ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuthResult, TokenStore } from '../auth/tokens.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import { maskError } from '../graphql/errors.ts';
import { runWithRequest, type Logger } from '../logger.ts';
import { MAX_JSON_NESTING, nestsDeeperThan } from './json-depth.ts';

export interface GraphQLWebSocketOptions {
  server: Server;
  yoga: YogaServerInstance<{ req: IncomingMessage; res: ServerResponse }, GraphQLContext>;
  path: string;
  keepAliveMs: number;
  maxPayloadBytes: number;
  logger: Logger;
  auth?: TokenStore;
}

/** graphql-ws close codes (its own conventions: 4401 Unauthorized, 4403 Forbidden). */
export const WS_UNAUTHORIZED = 4401;
export const WS_FORBIDDEN = 4403;
/** graphql-ws' close code for an invalid message. */
export const WS_BAD_REQUEST = 4400;

export interface GraphQLWebSocket {
  readonly wss: WebSocketServer;
  /** Open sockets. */
  connections(): number;
  /** Refuses new upgrades, closes open sockets with 1001, terminates stragglers after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** Yoga's enveloped execute/subscribe for one operation, carried in rootValue (Yoga's recipe). */
interface Enveloped {
  execute: (args: ExecutionArgs) => OperationResult;
  subscribe: (args: ExecutionArgs) => OperationResult;
  requestId: string;
}

/** What graphql-ws' context carries for each socket (as graphql-ws/use/ws gives it). */
interface Extra {
  readonly socket: WebSocket;
  readonly request: IncomingMessage;
}

/**
 * A socket's sends may leave this much unwritten (ws' bufferedAmount, bytes) before a send waits
 * for its write to complete.
 */
export const SEND_HIGH_WATER_BYTES = 64 * 1024;

/** Writers corked during this turn of the event loop: uncorked together at its end. */
let corkedThisTurn: SocketWriter[] = [];
function uncorkAll(): void {
  const writers = corkedThisTurn;
  corkedThisTurn = [];
  for (const w of writers) w.uncork();
}

/**
 * graphql-ws' `send` for one socket, with its writes coalesced per turn of the event loop.
 *
 * graphql-ws awaits each send before it takes the next result of that subscription. Waiting for
 * each write's callback costs one `writev` per message per socket. Here the first send of a turn
 * corks the connection, and one setImmediate per turn (for all sockets) uncorks it: a socket that
 * gets several messages in a turn (one feed read's events, several subscriptions) gets them in one
 * `writev`. Corking the net.Socket under ws is the way ws' maintainers point to for batching
 * (websockets/ws#1999); `send`'s `fin` option is for fragmenting one message, not for batching.
 *
 * - Order: every frame still goes through ws' Sender in call order (ws' own writes, the close
 *   frame, pings and pongs included); corking only holds them in the stream's buffer. Nested
 *   cork/uncork is counted by the stream, and end()/destroy() clear it.
 * - Backpressure: a send resolves at once while less than SEND_HIGH_WATER_BYTES are unwritten
 *   (this turn's corked frames count). Beyond that it waits for its write to complete, as every
 *   send did before: a subscription whose client stops reading stops pulling from the live feed,
 *   whose bounded queue then ends it with SUBSCRIPTION_OVERFLOW. What a socket can hold unwritten is
 *   the high-water mark plus one message per subscription.
 * - Close: sends waiting for a write that will never complete (the socket was terminated or
 *   dropped) resolve when the socket closes. No per-socket timer: the one setImmediate runs at the
 *   end of the turn whatever happened to the sockets (uncork on a destroyed stream does nothing).
 */
export class SocketWriter {
  private corked = false;
  private waiting: Set<() => void> | null = null;

  constructor(
    private readonly socket: WebSocket,
    /** The connection ws writes to. */
    private readonly raw: Pick<Duplex, 'cork' | 'uncork'>,
    private readonly highWater = SEND_HIGH_WATER_BYTES,
  ) {}

  send(data: string): Promise<void> | void {
    const { socket } = this;
    if (socket.readyState !== socket.OPEN) return;
    if (!this.corked) {
      this.corked = true;
      this.raw.cork();
      if (corkedThisTurn.push(this) === 1) setImmediate(uncorkAll);
    }
    if (socket.bufferedAmount < this.highWater) {
      socket.send(data);
      return;
    }
    return new Promise<void>((resolve, reject) => {
      this.waiting ??= new Set();
      const waiting = this.waiting;
      waiting.add(resolve);
      socket.send(data, (err) => {
        waiting.delete(resolve);
        if (err) reject(err);
        else resolve();
      });
    });
  }

  /** The socket closed: its unfinished writes will never complete, so nothing waits for them. */
  closed(): void {
    const waiting = this.waiting;
    this.waiting = null;
    if (waiting) for (const resolve of waiting) resolve();
  }

  /** @internal End of the turn. */
  uncork(): void {
    this.corked = false;
    this.raw.uncork();
  }
}

/**
 * graphql-ws' `use/ws` adapter, plus one check before graphql-ws sees a message: JSON nested
 * deeper than MAX_JSON_NESTING closes the socket with 4400 Bad Request (graphql-ws' own code for an
 * invalid message) unparsed. graphql-ws JSON.parses every message, connection_init included, so
 * before any authentication, and V8 takes seconds over deep nesting (json-depth.ts). graphql-ws has
 * no hook before its parse, hence our own adapter around makeServer rather than useServer.
 */
function serveSockets(
  wss: WebSocketServer,
  server: ReturnType<typeof makeServer<Record<string, unknown> | undefined, Extra>>,
  keepAliveMs: number,
  logger: Logger,
): void {
  wss.options.handleProtocols = handleProtocols;
  wss.on('error', (e) => logger.error('websocket: server error', e));
  wss.on('connection', (socket, request) => {
    // request.socket is the connection ws writes its frames to (the upgrade's socket).
    const writer = new SocketWriter(socket, request.socket);
    socket.once('error', (e) => {
      logger.warn('websocket: socket error', e);
      socket.close(CloseCode.InternalServerError, 'Internal server error');
    });
    // Keep-alive: a socket that does not answer a ping within keepAliveMs is terminated.
    let pongWait: NodeJS.Timeout | null = null;
    const pingInterval =
      keepAliveMs > 0 && Number.isFinite(keepAliveMs)
        ? setInterval(() => {
            if (socket.readyState !== socket.OPEN) return;
            pongWait = setTimeout(() => socket.terminate(), keepAliveMs);
            socket.once('pong', () => {
              if (pongWait) clearTimeout(pongWait);
              pongWait = null;
            });
            socket.ping();
          }, keepAliveMs)
        : null;
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) => writer.send(data),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (cb) =>
          socket.on('message', async (data: Buffer | ArrayBuffer | Buffer[]) => {
            const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
            if (nestsDeeperThan(bytes)) {
              logger.warn(`websocket: closed a connection that sent JSON nested deeper than ${MAX_JSON_NESTING} levels`);
              socket.close(WS_BAD_REQUEST, 'Message nested too deep');
              return;
            }
            try {
              await cb(bytes.toString());
            } catch (e) {
              logger.error('websocket: message handling failed', e);
              socket.close(CloseCode.InternalServerError, 'Internal server error');
            }
          }),
      },
      { socket, request },
    );
    socket.once('close', (code, reason) => {
      writer.closed();
      if (pongWait) clearTimeout(pongWait);
      if (pingInterval) clearInterval(pingInterval);
      void closed(code, String(reason));
    });
  });
}

/** The Origin names the host the client connected to (or there is none: not a browser). */
export function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export function attachGraphQLWebSocket(options: GraphQLWebSocketOptions): GraphQLWebSocket {
  const { yoga, logger } = options;
  let closing = false;
  const wss = new WebSocketServer({
    server: options.server,
    path: options.path,
    maxPayload: options.maxPayloadBytes,
    verifyClient: ({ req }, done) => {
      if (closing) return done(false, 503, 'Shutting down');
      if (!sameOrigin(req)) {
        logger.warn(`websocket: refused an upgrade from origin ${JSON.stringify(req.headers.origin)} (host ${JSON.stringify(req.headers.host)})`);
        return done(false, 403, 'Cross-origin WebSocket connections are not allowed');
      }
      done(true);
    },
  });

  // As over HTTP, minus Yoga's `extensions.http` (a status code means nothing on a socket).
  const asErrors = (errors: readonly unknown[]) =>
    errors.map((e) => {
      const masked = maskError(e) as GraphQLError;
      const { http: _http, ...extensions } = masked.extensions;
      return _http === undefined ? masked : new GraphQLError(masked.message, { nodes: masked.nodes ?? null, extensions });
    });

  const server = makeServer<Record<string, unknown> | undefined, Extra>({
    onConnect: (ctx) => {
      const { auth } = options;
      if (!auth?.enabled) return true;
      const result = auth.authenticate(ctx.connectionParams?.authorization);
      if (!result.ok) {
        ctx.extra.socket.close(WS_UNAUTHORIZED, 'Unauthorized');
        return false;
      }
      if (result.principal && result.principal.scopes.length === 0) {
        ctx.extra.socket.close(WS_FORBIDDEN, 'Forbidden');
        return false;
      }
      (ctx.extra as { auth?: AuthResult }).auth = result;
      return true;
    },
    execute: (args) => {
      const env = args.rootValue as Enveloped;
      return runWithRequest(env.requestId, () => env.execute(args));
    },
    subscribe: (args) => {
      const env = args.rootValue as Enveloped;
      return runWithRequest(env.requestId, () => env.subscribe(args));
    },
    onSubscribe: async (ctx, _id, payload) => {
      const requestId = randomUUID();
      const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
        ...ctx,
        req: ctx.extra.request,
        socket: ctx.extra.socket,
        params: payload,
        connectionParams: ctx.connectionParams,
        // What onConnect established; the context never re-reads connectionParams.
        wsAuth: (ctx.extra as { auth?: AuthResult }).auth ?? { ok: true, principal: null },
      });
      return runWithRequest(requestId, async () => {
        let document: DocumentNode;
        try {
          document = parse(payload.query);
        } catch (e) {
          // Syntax errors and the token limit: an error message to the client, not a closed socket.
          return asErrors([e]);
        }
        const errors = validate(schema, document);
        if (errors.length > 0) return asErrors(errors);
        const args: ExecutionArgs = {
          schema,
          operationName: payload.operationName ?? null,
          document,
          variableValues: payload.variables ?? null,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe, requestId } as Enveloped,
        };
        return args;
      });
    },
  });
  serveSockets(wss, server, options.keepAliveMs, logger);

  return {
    wss,
    connections: () => wss.clients.size,
    async close(graceMs) {
      if (closing) return;
      closing = true;
      for (const socket of wss.clients) socket.close(1001, 'Going away');
      const deadline = Date.now() + graceMs;
      while (wss.clients.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      for (const socket of wss.clients) socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
