/** A real server (createApp on port 0) over a real ledger, and a GraphQL-over-HTTP client for it. */
import { expect } from 'vitest';
import type { Ledger } from '../../src/ledger/port.ts';
import { createApp, type App, type AppOptions } from '../../src/server/app.ts';
import { createLogger, type Logger } from '../../src/logger.ts';
import type { ApiData, GraphQLErrorJson } from './api-types.ts';
import { openTestImmudbLedger } from './services.ts';

export interface GraphQLResponse<T = ApiData> {
  status: number;
  headers: Headers;
  body: { data?: T | null; errors?: GraphQLErrorJson[] };
  text: string;
}

export interface TestServer {
  app: App;
  ledger: Ledger;
  url: string;
  base: string;
  logs: string[];
  gql<T = ApiData>(query: string, variables?: Record<string, unknown>, init?: { headers?: Record<string, string> }): Promise<GraphQLResponse<T>>;
  /** The gateway's trusted ledger txId, read through the API. */
  txId(): Promise<string>;
  close(): Promise<void>;
}

/** Fails the test if an error response carries anything that looks like a stack trace. */
export function expectNoStackTrace(text: string): void {
  expect(text).not.toMatch(/\n\s+at |\\n\s+at |"stack"|"stacktrace"|"exception"|"originalError"/i);
}

export async function startTestServer(
  options: { ledger?: Ledger; logger?: Logger; config?: Omit<AppOptions['config'], 'port' | 'host'> } = {},
): Promise<TestServer> {
  const ledger = options.ledger ?? (await openTestImmudbLedger());
  const logs: string[] = [];
  const logger = options.logger ?? createLogger({ level: 'debug', write: (line) => void logs.push(line) });
  const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1', ...options.config }, logger });
  const { url } = await app.listen();
  const server: TestServer = {
    app,
    ledger,
    url,
    base: url.replace(/\/graphql$/, ''),
    logs,
    async gql(query, variables, init) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...init?.headers },
        body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
      });
      const text = await res.text();
      const body = JSON.parse(text);
      if (body.errors) expectNoStackTrace(text);
      return { status: res.status, headers: res.headers, body, text };
    },
    async txId() {
      const r = await server.gql<{ ledgerState: { txId: string } }>('{ ledgerState { txId } }');
      expect(r.body.errors).toBeUndefined();
      return r.body.data!.ledgerState.txId;
    },
    async close() {
      await app.close();
      if (!options.ledger) await ledger.close();
    },
  };
  return server;
}

/** A valid AuditEventInput (as GraphQL variables), with overrides. */
let seq = 0;
export function eventInput(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return {
    eventType: 'gateway.signal.received',
    eventCategory: 'gateway',
    outcome: 'SUCCESS',
    correlationId: 'rr-2025-001',
    actorType: 'service',
    actorId: 'gateway',
    timestamp: new Date(Date.UTC(2025, 0, 1, 0, 0, 0) + seq).toISOString(),
    ...overrides,
  };
}

export const EVENT_FIELDS = `
  id eventId eventType eventCategory eventAction outcome timestamp recordedAt correlationId parentEventId
  actor { type id } resource { type id namespace } clusterName severity durationMs error { code message } data
  ledger { txId key }`;

export const CREATE = `mutation Create($input: AuditEventInput!) {
  createAuditEvent(input: $input) { created event { ${EVENT_FIELDS} } proof { verified txId json } }
}`;

export const CREATE_MANY = `mutation CreateMany($input: [AuditEventInput!]!) {
  createAuditEvents(input: $input) { events { eventId timestamp ledger { txId } } proofs { verified txId json } }
}`;

/** The codes of a response's errors. */
export const codes = (r: GraphQLResponse) => (r.body.errors ?? []).map((e) => e.extensions?.code);
