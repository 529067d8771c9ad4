/**
 * Applies the per-principal rate limits (src/auth/rate-limit.ts) to GraphQL: query cost is charged
 * before execution (HTTP and WebSocket; a subscription once, when it starts), events written in the
 * mutations (ctx.takeWrites, after validation and before the ledger). A refusal is RATE_LIMITED
 * with `extensions.retryAfterMs`, and over HTTP a `Retry-After` header (whole seconds, rounded up).
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { rateLimited, type RateLimiter } from '../auth/rate-limit.ts';
import type { Principal } from '../auth/tokens.ts';
import { ErrorCode } from '../errors.ts';
import type { GraphQLContext } from '../graphql/context.ts';
import { auditExtensions } from '../graphql/errors.ts';

/**
 * The budget a request draws on: its principal's; on an open server one shared `anonymous` one.
 * null: a request that will be refused UNAUTHENTICATED anyway is not charged.
 */
export function budgetKey(principal: Principal | null, authRequired: boolean): string | null {
  if (principal) return `p:${principal.name}`;
  return authRequired ? null : 'anonymous';
}

export function writeTaker(limiter: RateLimiter | undefined, key: string | null): (events: number) => Promise<void> {
  if (!limiter || key === null) return async () => {};
  return async (events) => {
    const r = await limiter.take(key, 'writes', events);
    if (!r.ok) throw rateLimited('writes', r.retryAfterMs);
  };
}

export function useRateLimit(limiter: RateLimiter): Plugin {
  const retryAfter = new WeakMap<Request, number>();
  const charge = async (contextValue: unknown): Promise<GraphQLError | null> => {
    const ctx = contextValue as GraphQLContext;
    const key = budgetKey(ctx.principal, ctx.authRequired);
    if (key === null) return null;
    const r = await limiter.take(key, 'cost', ctx.queryCost ?? 0);
    if (r.ok) return null;
    // Already in its client-visible form: a result set before execution may skip error masking.
    const e = rateLimited('cost', r.retryAfterMs);
    return new GraphQLError(e.message, { extensions: auditExtensions(e) });
  };
  return {
    async onExecute({ args, setResultAndStopExecution }) {
      const refused = await charge(args.contextValue);
      if (refused) setResultAndStopExecution({ errors: [refused] });
    },
    async onSubscribe({ args, setResultAndStopExecution }) {
      const refused = await charge(args.contextValue);
      if (refused) setResultAndStopExecution({ errors: [refused] });
    },
    onResultProcess({ request, result }) {
      const results = Array.isArray(result) ? result : [result];
      for (const r of results) {
        for (const e of (r as { errors?: readonly GraphQLError[] }).errors ?? []) {
          const ext = e.extensions as { code?: unknown; retryAfterMs?: unknown } | undefined;
          if (ext?.code === ErrorCode.RATE_LIMITED && typeof ext.retryAfterMs === 'number') {
            retryAfter.set(request, Math.max(retryAfter.get(request) ?? 0, ext.retryAfterMs));
          }
        }
      }
    },
    onResponse({ request, response }) {
      const ms = retryAfter.get(request);
      if (ms !== undefined) response.headers.set('retry-after', String(Math.max(1, Math.ceil(ms / 1000))));
    },
  };
}
