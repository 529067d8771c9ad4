/** Gateways with live subscriptions on real services, and graphql-ws clients for them. */
import { createClient, type Client, type FormattedExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';
import type { Ledger } from '../../src/ledger/port.ts';
import { openLive, type LiveFeedOptions, type LiveSetup } from '../../src/live/index.ts';
import { createApp, type App } from '../../src/server/app.ts';
import { createLogger } from '../../src/logger.ts';
import type { GraphQLFormattedError } from 'graphql';
import type { ApiData, AuditEventJson, GraphQLErrorJson } from './api-types.ts';
import { openTestImmudbLedger } from './services.ts';

export interface LiveGateway {
  app: App;
  ledger: Ledger;
  live: LiveSetup;
  url: string;
  wsUrl: string;
  logs: string[];
  gql<T = ApiData>(query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: GraphQLErrorJson[] }>;
  txId(): Promise<string>;
  close(): Promise<void>;
}

export async function startLiveGateway(options: {
  database: string;
  redisUrl: string | null;
  feed?: Omit<LiveFeedOptions, 'logger'>;
  wsKeepAliveMs?: number;
}): Promise<LiveGateway> {
  const ledger = await openTestImmudbLedger({ database: options.database });
  const live = await openLive({ ledger, redisUrl: options.redisUrl, ...(options.feed ? { feed: options.feed } : {}) });
  live.feed.start();
  ledger.onAppended((r) => live.feed.appended(r));
  const logs: string[] = [];
  const app = createApp({
    ledger,
    live: live.feed,
    config: { port: 0, host: '127.0.0.1' },
    logger: createLogger({ level: 'warn', write: (line) => void logs.push(line) }),
    ...(options.wsKeepAliveMs ? { wsKeepAliveMs: options.wsKeepAliveMs } : {}),
  });
  const { url } = await app.listen();
  const gw: LiveGateway = {
    app,
    ledger,
    live,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    logs,
    async gql<T>(query: string, variables?: Record<string, unknown>) {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      return (await res.json()) as { data?: T; errors?: GraphQLErrorJson[] };
    },
    async txId() {
      const r = await gw.gql<{ ledgerState: { txId: string } }>('{ ledgerState { txId } }');
      return r.data!.ledgerState.txId;
    },
    async close() {
      await app.close();
      await live.close();
      await ledger.close();
    },
  };
  return gw;
}

export function wsClient(url: string, extra: Partial<Parameters<typeof createClient>[0]> = {}): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, ...extra });
}

export const SUBSCRIBE = `subscription Live($filter: AuditEventFilter, $after: String) {
  auditEventCreated(filter: $filter, afterTxId: $after) { eventId eventType eventCategory correlationId outcome ledger { txId } }
}`;

export interface Received {
  results: FormattedExecutionResult<ApiData, unknown>[];
  /** When each result arrived (performance.now()). */
  at: number[];
  events(): AuditEventJson[];
  errors(): GraphQLFormattedError[];
  readonly completed: boolean;
  readonly error: unknown;
  waitFor(pred: (events: AuditEventJson[]) => boolean, what: string, timeoutMs?: number): Promise<void>;
  unsubscribe(): void;
}

export function subscribe(client: Client, variables: Record<string, unknown>, query = SUBSCRIBE): Received {
  const results: FormattedExecutionResult<ApiData, unknown>[] = [];
  const at: number[] = [];
  let completed = false;
  let error: unknown = null;
  const unsubscribe = client.subscribe<ApiData>(
    { query, variables },
    {
      next: (r) => {
        results.push(r);
        at.push(performance.now());
      },
      error: (e) => {
        error = e;
        completed = true;
      },
      complete: () => {
        completed = true;
      },
    },
  );
  const events = () => results.flatMap((r) => (r.data?.auditEventCreated ? [r.data.auditEventCreated] : []));
  return {
    results,
    at,
    events,
    errors: () => results.flatMap((r) => r.errors ?? []),
    get completed() {
      return completed;
    },
    get error() {
      return error;
    },
    async waitFor(pred, what, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(events())) {
        if (completed) throw new Error(`subscription ended while waiting for ${what}: ${JSON.stringify(error ?? results.at(-1))}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${events().length} events so far`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    unsubscribe,
  };
}

export const CREATE_MANY = `mutation ($input: [AuditEventInput!]!) { createAuditEvents(input: $input) { events { eventId ledger { txId } } } }`;

let n = 0;
export function input(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  n++;
  return {
    eventType: 'live.event.happened',
    eventCategory: 'live',
    outcome: 'SUCCESS',
    correlationId: 'rr-live',
    actorType: 'service',
    actorId: 'live-test',
    timestamp: new Date(Date.UTC(2025, 6, 1) + n).toISOString(),
    ...overrides,
  };
}

/** Writes a batch through GraphQL; returns the created events (eventId, ledger.txId) in order. */
export async function write(gw: LiveGateway, inputs: Record<string, unknown>[]): Promise<{ eventId: string; ledger: { txId: string } }[]> {
  const r = await gw.gql<{ createAuditEvents: { events: { eventId: string; ledger: { txId: string } }[] } }>(CREATE_MANY, { input: inputs });
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.createAuditEvents.events;
}
