/**
 * `GET /export` (api-contract.md, "Export"; the format: docs/export-format.md): an evidence export
 * streamed as NDJSON with proofs, or as CSV. The checks /graphql applies, before anything is read:
 * same origin only (as WebSockets: a page elsewhere cannot make a browser on an open server start
 * an export), bearer token with scope audit:read, the parameters (BAD_USER_INPUT at each one), and
 * the reader's query-cost budget. A refusal is JSON shaped like a GraphQL error, with the same
 * `extensions` as /graphql gives, and nothing is streamed.
 *
 * Rate limit: each page of events (up to 500) costs what a GraphQL page of one field a node does,
 * 10 + 1 an event, from the `cost` budget. The first page is charged before the response starts
 * (RATE_LIMITED, 429 with Retry-After); later pages wait for the budget to come back, so a long
 * export is slowed to the budget rather than cut.
 *
 * The body is written with back-pressure (stream.pipeline): a reader that stops reading stops the
 * export. A failure mid-way ends the response without the closing line, so the file is known to be
 * cut short, and is logged.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { rateLimited, type RateLimiter } from '../auth/rate-limit.ts';
import { hasScope, type Principal, type TokenStore } from '../auth/tokens.ts';
import type { CheckpointSigner } from '../checkpoint/checkpoint.ts';
import { AuditError, ErrorCode, isAuditError } from '../errors.ts';
import { prepareExport, type ExportTuning } from '../export/producer.ts';
import { parseExportQuery } from '../export/request.ts';
import { auditExtensions, GraphQLCode, UNEXPECTED_MESSAGE } from '../graphql/errors.ts';
import { COST } from '../graphql/limits.ts';
import type { EventIndex } from '../index/port.ts';
import type { Ledger } from '../ledger/port.ts';
import { currentRequestId, type Logger } from '../logger.ts';
import { budgetKey } from './rate-limit.ts';
import { sameOrigin } from './ws.ts';

export const EXPORT_PATH = '/export';

export interface ExportRouteDeps {
  ledger: Ledger;
  index?: EventIndex;
  auth?: TokenStore;
  rateLimiter?: RateLimiter;
  checkpoints?: CheckpointSigner;
  logger: Logger;
  tuning?: ExportTuning;
}

/** Whether a request URL is /export (with or without a query). */
export function isExportUrl(url: string | undefined): boolean {
  if (!url?.startsWith(EXPORT_PATH)) return false;
  const rest = url.slice(EXPORT_PATH.length);
  return rest === '' || rest.startsWith('?');
}

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.LEDGER_UNAVAILABLE]: 503,
  [ErrorCode.INDEX_UNAVAILABLE]: 503,
};

export async function serveExport(req: IncomingMessage, res: ServerResponse, deps: ExportRouteDeps): Promise<void> {
  const refuse = (status: number, error: AuditError, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
    res.end(JSON.stringify({ errors: [{ message: error.message, extensions: auditExtensions(error) }] }));
  };
  if (req.method !== 'GET') return refuse(405, new AuditError(ErrorCode.BAD_USER_INPUT, `${req.method} is not allowed here: use GET`), { allow: 'GET' });
  if (!sameOrigin(req)) {
    deps.logger.warn(`export: refused a request from origin ${JSON.stringify(req.headers.origin)} (host ${JSON.stringify(req.headers.host)})`);
    return refuse(403, new AuditError(ErrorCode.FORBIDDEN, 'Cross-origin requests are not allowed.'));
  }
  let principal: Principal | null = null;
  const authRequired = deps.auth?.enabled ?? false;
  if (authRequired) {
    const result = deps.auth!.authenticate(req.headers.authorization);
    if (!result.ok || !result.principal) {
      return refuse(401, new AuditError(ErrorCode.UNAUTHENTICATED, 'Authentication required: send Authorization: Bearer <token>.'), {
        'www-authenticate': 'Bearer',
      });
    }
    principal = result.principal;
    if (!hasScope(principal, 'audit:read'))
      return refuse(403, new AuditError(ErrorCode.FORBIDDEN, `${principal.name} lacks the scope this needs (audit:read).`));
  }

  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const started = performance.now();
  try {
    const request = parseExportQuery(new URL(req.url ?? '/', 'http://localhost').searchParams);
    const prepared = await prepareExport(
      {
        ledger: deps.ledger,
        ...(deps.index ? { index: deps.index } : {}),
        ...(deps.checkpoints ? { signer: deps.checkpoints } : {}),
        charge: charger(deps.rateLimiter, budgetKey(principal, authRequired), () => closed),
      },
      request,
      deps.tuning,
    );
    res.writeHead(200, {
      'content-type': prepared.contentType,
      'content-disposition': `attachment; filename="${prepared.fileName}"`,
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-auditgraph-anchor': `${prepared.anchor.txId}:${prepared.anchor.txHash}`,
    });
    try {
      await pipeline(Readable.from(prepared.chunks()), res);
      const { events, txs } = prepared.progress;
      deps.logger.info(
        `export: ${request.format} of ${events} events (${txs} tx lines) anchored at tx ${prepared.anchor.txId} in ${Math.round(performance.now() - started)} ms`,
      );
    } catch (e) {
      const { events } = prepared.progress;
      if (closed && !isAuditError(e)) deps.logger.info(`export: the reader went away after ${events} events`);
      else deps.logger.error(`export: failed after ${events} events; the response ends without its closing line`, e);
    }
  } catch (e) {
    if (isAuditError(e)) {
      const headers: Record<string, string> = {};
      const retryAfterMs = e.details.retryAfterMs;
      if (e.code === ErrorCode.RATE_LIMITED && typeof retryAfterMs === 'number') headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
      if (!isClientError(e)) deps.logger.warn(`export: refused (${e.code}): ${e.message}`);
      return refuse(STATUS[e.code] ?? 500, e, headers);
    }
    deps.logger.error('export: failed before the first byte', e);
    if (res.headersSent) return void res.destroy();
    // As /graphql masks what is not ours to show: the message and code of an unexpected error.
    const requestId = currentRequestId();
    res.writeHead(500, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(
      JSON.stringify({
        errors: [
          { message: UNEXPECTED_MESSAGE, extensions: { code: GraphQLCode.INTERNAL_SERVER_ERROR, unexpected: true, ...(requestId ? { requestId } : {}) } },
        ],
      }),
    );
  }
}

const isClientError = (e: AuditError) => e.code === ErrorCode.BAD_USER_INPUT || e.code === ErrorCode.RATE_LIMITED;

/**
 * Charges a page of `events` to the reader's cost budget: the first charge refuses (RATE_LIMITED),
 * later ones wait until the budget allows, or until the reader is gone.
 */
function charger(limiter: RateLimiter | undefined, key: string | null, gone: () => boolean): ((events: number) => Promise<void>) | undefined {
  if (!limiter || key === null) return undefined;
  let first = true;
  return async (events) => {
    const cost = COST.connection + events * COST.field;
    for (;;) {
      const r = await limiter.take(key, 'cost', cost);
      if (r.ok) {
        first = false;
        return;
      }
      if (first) throw rateLimited('cost', r.retryAfterMs);
      if (gone()) throw new AuditError(ErrorCode.RATE_LIMITED, 'the reader went away while the export waited for its budget');
      await new Promise((resolve) => setTimeout(resolve, Math.min(Math.max(r.retryAfterMs, 10), 5_000)));
    }
  };
}
