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
 * - Keep-alive: a ping every `keepAliveMs`; a socket that does not answer within as long again is
 *   terminated (also how a client that stopped reading is eventually cut off).
 * - close(): no new upgrades, every socket closed with 1001 "Going away", and those that do not
 *   complete the close handshake within the grace are terminated, so shutdown never waits on them.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { GraphQLError, type ExecutionArgs } from 'graphql';
import type { OperationResult } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocketServer } from 'ws';
import type { AuthResult, TokenStore } from '../auth/tokens.ts';
import { maskError } from '../graphql/errors.ts';
import type { Logger } from './logger.ts';
import { runWithRequest } from './logger.ts';

export interface GraphQLWebSocketOptions {
  server: Server;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  yoga: YogaServerInstance<any, any>;
  path: string;
  keepAliveMs: number;
  maxPayloadBytes: number;
  logger: Logger;
  auth?: TokenStore;
}

/** graphql-ws close codes (its own conventions: 4401 Unauthorized, 4403 Forbidden). */
export const WS_UNAUTHORIZED = 4401;
export const WS_FORBIDDEN = 4403;

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

  useServer(
    {
      // Never echo internal error messages in close reasons.
      isProd: true,
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
          let document;
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
    },
    wss,
    options.keepAliveMs,
  );

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
