/**
 * The HTTP server: GraphQL (Yoga) on /graphql over HTTP and over WebSocket (graphql-ws, ws.ts),
 * /checkpoint and /checkpoint/key, /export (export-route.ts), /healthz and /readyz, all on one port.
 *
 * createApp does not listen (call `listen()`), does not own the ledger, the index or the live feed
 * (close them after `close()`), and works with any Ledger.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { getOperationAST } from 'graphql';
import { createYoga, useReadinessCheck, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type { RateLimiter } from '../auth/rate-limit.ts';
import { hasScope, type AuthResult, type TokenStore } from '../auth/tokens.ts';
import { createCheckpointSigner, defaultCheckpointOrigin, type CheckpointSigner } from '../checkpoint/checkpoint.ts';
import { ErrorCode, isAuditError } from '../errors.ts';
import type { IndexLag } from '../index/index.ts';
import type { EventIndex } from '../index/port.ts';
import type { LiveFeed } from '../live/index.ts';
import { createContext, type GraphQLContext } from '../graphql/context.ts';
import { maskError, useEnumValueErrors } from '../graphql/errors.ts';
import { useDisableIntrospection } from '../graphql/introspection.ts';
import { useQueryLimits } from '../graphql/limits.ts';
import { schema } from '../graphql/schema.ts';
import { useSharedLiveExecution } from '../graphql/subscriptions/shared-execution.ts';
import { bodyCacheStatsOf } from '../ledger/body-cache.ts';
import type { Ledger } from '../ledger/port.ts';
import { createLogger, currentRequestId, runWithRequest, type Logger } from '../logger.ts';
import type { Config } from './config.ts';
import { AppMetrics, instrumentIndex, instrumentLedger } from './metrics.ts';
import { budgetKey, useRateLimit, writeTaker } from './rate-limit.ts';
import { useJsonNestingLimit, useJsonPostOnly, useRequestBodyLimit } from './request-body.ts';
import { isExportUrl, serveExport } from './export-route.ts';
import { attachGraphQLWebSocket, type GraphQLWebSocket } from './ws.ts';

export const GRAPHQL_PATH = '/graphql';
export const HEALTH_PATH = '/healthz';
export const READY_PATH = '/readyz';
export const METRICS_PATH = '/metrics';
export const CHECKPOINT_PATH = '/checkpoint';
export const CHECKPOINT_KEY_PATH = '/checkpoint/key';

/** Largest request body: a full batch of typical events fits; send bigger batches in parts. */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024;
const READY_TIMEOUT_MS = 2_000;
const SHUTDOWN_GRACE_MS = 10_000;
/** How long close() waits for WebSocket clients to answer the 1001 close before cutting them. */
const WS_CLOSE_GRACE_MS = 2_000;

/** The example ids the operations below use: CreateEvent writes this event, Verify reads it. */
const EXAMPLE_EVENT_ID = '0190a5d2-0000-7000-8000-000000000001';
const EXAMPLE_CORRELATION_ID = 'rr-2025-001';

/**
 * What GraphiQL opens on (and each new tab): one working example per kind of operation. Each runs
 * as written; Verify needs CreateEvent's event to exist (run CreateEvent once first).
 */
export const DEFAULT_QUERY = `# auditgraph: audit events in an immutable, verifiable ledger.
#
# Put the cursor in an operation and press Ctrl-Enter, or press ▶ and pick one.
# CreateEvent writes an event (run it again: same eventId, same content → created: false);
# Timeline, Search and Verify read it back; Watch streams events as they are committed
# (over WebSocket; add afterTxId: "<txId>" to replay from a tx on).

query Timeline {
  timeline(correlationId: "${EXAMPLE_CORRELATION_ID}", first: 20) {
    edges {
      cursor
      node {
        eventId
        eventType
        outcome
        timestamp
        recordedAt
        actor { type id }
        resource { type id namespace }
        data
        ledger { txId key }
      }
    }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
  ledgerState { txId txHash }
}

query Search {
  auditEvents(filter: { eventCategory: ["gateway"], outcome: [SUCCESS, FAILURE] }, first: 20) {
    edges { node { eventId eventType outcome timestamp correlationId actor { type id } } }
    pageInfo { hasNextPage endCursor }
  }
}

subscription Watch {
  auditEventCreated(filter: { correlationId: "${EXAMPLE_CORRELATION_ID}" }) {
    eventId
    eventType
    outcome
    timestamp
    ledger { txId }
  }
}

query Verify {
  verifyAuditEvent(eventId: "${EXAMPLE_EVENT_ID}") {
    verified
    eventId
    proof { txId json }
  }
  ledgerState { txId txHash }
}

mutation CreateEvent {
  createAuditEvent(input: {
    eventId: "${EXAMPLE_EVENT_ID}"
    eventType: "gateway.signal.received", eventCategory: "gateway", eventAction: "received", outcome: SUCCESS
    correlationId: "${EXAMPLE_CORRELATION_ID}", actorType: "service", actorId: "gateway"
    resourceType: "pod", resourceId: "web-7f9c", resourceNamespace: "prod"
    data: { signal: "disk-pressure" }
  }) {
    created
    event { eventId timestamp ledger { txId key } }
    proof { verified txId }
  }
}
`;

export interface AppOptions {
  ledger: Ledger;
  /** The secondary index behind `auditEvents` (and a /readyz check); the app does not own it. */
  index?: EventIndex;
  /** How far the index is behind the ledger; shown in the /readyz index check (never fails it). */
  indexLag?: () => Promise<IndexLag>;
  /** The live feed behind `auditEventCreated` (the app does not own it); without it subscriptions fail. */
  live?: LiveFeed;
  /** graphql-ws keep-alive: ping interval, and how long a pong may take before the socket is cut. */
  wsKeepAliveMs?: number;
  /** `graphiql` and `introspection` default to true (GRAPHIQL, INTROSPECTION). */
  config: Pick<Config, 'port' | 'host'> & Partial<Pick<Config, 'graphiql' | 'introspection'>>;
  /** Where /metrics counts; one is created when absent (pass one to read it in tests). */
  metrics?: AppMetrics;
  /** Per-principal budgets (events written, query cost per second); absent: unlimited. The app does not own it. */
  rateLimiter?: RateLimiter;
  /** Bearer tokens; absent or with none configured, the server is open (every request allowed). */
  auth?: TokenStore;
  /**
   * Signs `ledgerState.checkpoint` and GET /checkpoint. Absent: a key made for this app alone, gone
   * when it stops (main.ts always passes the configured one).
   */
  checkpoints?: CheckpointSigner;
  logger?: Logger;
  /** Dependencies /readyz checks besides the ledger (e.g. `index` once there is one). */
  readiness?: Record<string, () => Promise<void>>;
  maxRequestBodyBytes?: number;
  /** How long close() lets in-flight requests run before cutting connections. */
  shutdownGraceMs?: number;
}

export interface App {
  yoga: YogaServerInstance<{ req: IncomingMessage; res: ServerResponse }, GraphQLContext>;
  server: Server;
  metrics: AppMetrics;
  /** GraphQL over WebSocket on the same port and path. */
  ws: GraphQLWebSocket;
  /** Listens on config.host:config.port (port 0: any free port) and returns the bound address. */
  listen(): Promise<{ host: string; port: number; url: string }>;
  /**
   * Stops accepting, closes WebSockets with 1001 "Going away" (subscriptions end), lets in-flight
   * HTTP requests (and so their writes) finish, closes the server.
   */
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Query execution time (HTTP and WebSocket alike); writes and verified reads are timed at the ledger. */
function useQueryTiming(metrics: AppMetrics): Plugin {
  return {
    onExecute({ args }) {
      if (getOperationAST(args.document, args.operationName)?.operation !== 'query') return;
      const start = performance.now();
      return { onExecuteDone: () => metrics.querySeconds.observe((performance.now() - start) / 1000) };
    },
  };
}

/**
 * useReadinessCheck's own test runs on every request: it parses the URL and runs a URLPattern (a
 * polyfill on Node 20), a visible share of a createAuditEvent's CPU (bench/results/graphql-20261207T2017.md).
 * All three of its tests need the path to end in READY_PATH or to be it, and URL parsing never
 * makes a path out of characters the URL does not hold, except that it drops tabs and newlines. So
 * a request whose URL holds neither READY_PATH's name nor such a character cannot be taken; every
 * other request goes to the plugin's own test, unchanged.
 */
function onlyOnReadyPath(plugin: Plugin): Plugin {
  const onRequest = plugin.onRequest;
  if (!onRequest) return plugin;
  const name = READY_PATH.slice(1);
  return {
    ...plugin,
    onRequest(payload) {
      const url = payload.request.url;
      if (url.includes(name) || /[\t\n\r]/.test(url)) return onRequest(payload);
    },
  };
}

/**
 * GET /checkpoint (the signed checkpoint of the trusted state) and /checkpoint/key (its verifier
 * key), as plain text. They need what `ledgerState` needs: scope audit:read when tokens are
 * configured. Refusals are JSON like GraphQL errors, with `extensions.code`.
 */
async function serveCheckpoint(
  req: IncomingMessage,
  res: ServerResponse,
  keyOnly: boolean,
  deps: { ledger: Ledger; checkpoints: CheckpointSigner; auth: TokenStore | undefined; logger: Logger },
): Promise<void> {
  const refuse = (status: number, code: ErrorCode, message: string, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
  };
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    return refuse(405, ErrorCode.BAD_USER_INPUT, `${req.method} is not allowed here: use GET`, { allow: 'GET, HEAD' });
  }
  if (deps.auth?.enabled) {
    const result = deps.auth.authenticate(req.headers.authorization);
    if (!result.ok || !result.principal) {
      return refuse(401, ErrorCode.UNAUTHENTICATED, 'Authentication required: send Authorization: Bearer <token>.', { 'www-authenticate': 'Bearer' });
    }
    if (!hasScope(result.principal, 'audit:read')) return refuse(403, ErrorCode.FORBIDDEN, `${result.principal.name} lacks the scope this needs (audit:read).`);
  }
  let body: string;
  try {
    body = keyOnly ? `${deps.checkpoints.verifierKey}\n` : deps.checkpoints.checkpoint(await deps.ledger.trustedState());
  } catch (e) {
    if (isAuditError(e)) return refuse(e.code === ErrorCode.LEDGER_UNAVAILABLE ? 503 : 500, e.code, e.message);
    deps.logger.error('checkpoint: failed', e);
    res.writeHead(500).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', ...(keyOnly ? {} : { 'cache-control': 'no-store' }) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

export function createApp(options: AppOptions): App {
  const { config } = options;
  const logger = options.logger ?? createLogger();
  const { indexLag, live, auth, rateLimiter } = options;
  const metrics = options.metrics ?? new AppMetrics();
  const ledger = instrumentLedger(options.ledger, metrics);
  const checkpoints = options.checkpoints ?? createCheckpointSigner(generateKeyPairSync('ed25519').privateKey, defaultCheckpointOrigin(ledger.database));
  const index = options.index ? instrumentIndex(options.index, metrics) : undefined;
  // biome-ignore lint/suspicious/noConfusingVoidType: ledger.ping() and options.readiness resolve with nothing (Promise<void>), the index check with details
  const checks: Record<string, () => Promise<void | Record<string, unknown>>> = {
    ledger: () => ledger.ping(),
    ...(index
      ? {
          index: async () => {
            await index.health();
            return indexLag ? { lag: await indexLag().catch(() => null) } : {};
          },
        }
      : {}),
    ...options.readiness,
  };

  let graphiqlPage: Promise<string> | undefined;
  const yoga = createYoga<{ req: IncomingMessage; res: ServerResponse }, GraphQLContext>({
    schema,
    graphqlEndpoint: GRAPHQL_PATH,
    healthCheckEndpoint: HEALTH_PATH,
    landingPage: false,
    // GRAPHIQL=false: a browser's GET of /graphql is then answered like any GET without a query
    // (400 and a coded error), never with the GraphiQL page.
    graphiql: config.graphiql === false ? false : { title: 'auditgraph', defaultQuery: DEFAULT_QUERY, subscriptionsProtocol: 'WS' },
    // GraphiQL from the bundled @graphql-yoga/render-graphiql (scripts, styles and editor workers
    // inline in the page), never from a CDN: it works where the browser cannot reach the internet.
    // The page (some 9 MB) is rendered once: the options above never change. Loaded on the first
    // GraphiQL request, not at start-up: the module is large and most starts never serve the page.
    renderGraphiQL: (options) => (graphiqlPage ??= import('@graphql-yoga/render-graphiql').then((m) => m.renderGraphiQL(options))),
    logging: logger,
    // Never the stack, whatever NODE_ENV says: maskError builds every client-visible error.
    maskedErrors: { maskError: (error) => maskError(error), isDev: false },
    // The same limit, checked by useRequestBodyLimit (request-body.ts, the last plugin) at less cost.
    maxRequestBodySize: false,
    batching: false,
    // Same-origin only, and POST bodies only as JSON: on an open server (no tokens), a web page in a
    // browser on this machine must not be able to write (form posts need no CORS preflight).
    cors: false,
    multipart: false,
    context: (initial) => {
      // Over WebSocket the socket was authenticated once, in onConnect (ws.ts); over HTTP, each request.
      const ws = (initial as { wsAuth?: AuthResult }).wsAuth;
      const result: AuthResult = ws ?? auth?.authenticate(initial.request?.headers.get('authorization') ?? undefined) ?? { ok: true, principal: null };
      const principal = result.ok ? result.principal : null;
      const authRequired = auth?.enabled ?? false;
      return createContext({
        ledger,
        ...(index ? { index } : {}),
        ...(live ? { live } : {}),
        checkpoints,
        requestId: currentRequestId() ?? randomUUID(),
        principal,
        authRequired,
        takeWrites: writeTaker(rateLimiter, budgetKey(principal, authRequired)),
      });
    },
    plugins: [
      useJsonPostOnly(),
      useJsonNestingLimit(),
      // INTROSPECTION=false: a validation rule, so over HTTP and WebSocket alike (ws.ts validates through this envelop).
      ...(config.introspection === false ? [useDisableIntrospection()] : []),
      useQueryTiming(metrics),
      // An unknown enum value written in the document is bad input at its argument, as in variables.
      useEnumValueErrors(),
      ...useQueryLimits(),
      // After the cost limit, which measures the cost this charges.
      ...(rateLimiter ? [useRateLimit(rateLimiter)] : []),
      // Live subscriptions: each event executed once per distinct subscription, not per subscriber.
      useSharedLiveExecution(),
      onlyOnReadyPath(
        useReadinessCheck({
          endpoint: READY_PATH,
          check: async ({ fetchAPI }) => {
            const results = await Promise.all(
              Object.entries(checks).map(async ([name, check]) => {
                try {
                  const details = await withTimeout(check(), READY_TIMEOUT_MS, name);
                  return [name, { ok: true, ...details }] as const;
                } catch (e) {
                  logger.warn(`readiness: ${name} is not ready`, e);
                  const error = isAuditError(e) ? { code: e.code, message: e.message } : { message: e instanceof Error ? e.message : String(e) };
                  return [name, { ok: false, ...error }] as const;
                }
              }),
            );
            const failing = results.filter(([, r]) => !r.ok).map(([name]) => name);
            const body = { status: failing.length === 0 ? 'ready' : 'unavailable', failing, checks: Object.fromEntries(results) };
            return new fetchAPI.Response(JSON.stringify(body), {
              status: failing.length === 0 ? 200 : 503,
              headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
            });
          },
        }),
      ),
      // Last: after every plugin that sets a request parser, where Yoga's own limit would be.
      useRequestBodyLimit(options.maxRequestBodyBytes ?? MAX_REQUEST_BODY_BYTES),
    ],
  });

  let closing: Promise<void> | null = null;
  /** Open server-sent-event responses (subscriptions over HTTP): they never end by themselves. */
  const streams = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    const requestId = requestIdOf(req);
    res.setHeader('x-request-id', requestId);
    if (closing) {
      res.writeHead(503, { connection: 'close', 'retry-after': '1', 'content-type': 'application/json; charset=utf-8' });
      res.end(JSON.stringify({ error: 'shutting down' }));
      return;
    }
    res.on('finish', () => {
      // Once closing, a keep-alive connection is done after its last response.
      if (closing) setImmediate(() => server.closeIdleConnections());
    });
    if (req.headers.accept?.includes('text/event-stream')) {
      streams.add(res);
      res.on('close', () => streams.delete(res));
    }
    if (req.url === METRICS_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
      metrics.render().then(
        (body) => {
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (e: unknown) => {
          logger.error('metrics: render failed', e);
          res.writeHead(500).end();
        },
      );
      return;
    }
    if (req.url?.startsWith(CHECKPOINT_PATH)) {
      const path = req.url.split('?', 1)[0];
      if (path === CHECKPOINT_PATH || path === CHECKPOINT_KEY_PATH) {
        void runWithRequest(requestId, () => serveCheckpoint(req, res, path === CHECKPOINT_KEY_PATH, { ledger, checkpoints, auth, logger }));
        return;
      }
    }
    if (isExportUrl(req.url)) {
      void runWithRequest(requestId, () => serveExport(req, res, { ledger, ...(index ? { index } : {}), auth, rateLimiter, checkpoints, logger }));
      return;
    }
    void runWithRequest(requestId, () => yoga(req, res));
  });
  server.headersTimeout = 30_000;
  server.requestTimeout = 120_000;
  const ws = attachGraphQLWebSocket({
    server,
    yoga,
    path: GRAPHQL_PATH,
    keepAliveMs: options.wsKeepAliveMs ?? 12_000,
    maxPayloadBytes: options.maxRequestBodyBytes ?? MAX_REQUEST_BODY_BYTES,
    logger,
    ...(auth ? { auth } : {}),
  });

  metrics.attach({
    ...(indexLag ? { indexLag } : {}),
    ...(live ? { openSubscriptions: () => live.stats.subscribers } : {}),
    openWebSockets: () => ws.connections(),
    bodyCache: bodyCacheStatsOf(options.ledger),
  });

  return {
    yoga,
    server,
    metrics,
    ws,
    listen() {
      return new Promise((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        server.once('error', onError);
        server.listen(config.port, config.host, () => {
          server.off('error', onError);
          const { address, port } = server.address() as AddressInfo;
          const host = address.includes(':') ? `[${address}]` : address;
          resolve({ host: address, port, url: `http://${host}:${port}${GRAPHQL_PATH}` });
        });
      });
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        // Upgraded sockets keep server.close() waiting until they are gone: close them alongside.
        const wsClosed = ws.close(Math.min(WS_CLOSE_GRACE_MS, options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS));
        // Event streams would hold close() for the whole grace: cut them now, as the grace would
        // (a cut, not a completion, so clients reconnect and resume with afterTxId).
        for (const res of streams) res.destroy();
        if (!server.listening) return void wsClosed.then(resolve);
        const force = setTimeout(() => server.closeAllConnections(), options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          void wsClosed.then(resolve);
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
