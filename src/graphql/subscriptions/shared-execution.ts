/**
 * Live subscriptions are executed once per event and *distinct subscription*, not once per event
 * and subscriber.
 *
 * What a subscription yields for an event depends on the event and on nothing but:
 * - the operation: its document text, operation name and variables (the filter, the selection);
 * - who asks: the principal (name and scopes) and whether the server requires authentication,
 *   which is all the schema's scope checks look at.
 * Subscribers equal in all of these share one ExecutionResult per event. Each shared execution
 * runs with a context of its own and fresh loaders (nothing read for one event is cached for the
 * next, nor for another principal), and only events the feed handed to several subscriptions as
 * the same object are shared: a replay reads its own copies and executes them alone.
 *
 * A shared result is kept only while it can still be asked for: per (event, key), until every
 * other stream of that key open when it was made has taken it, and never longer than the event
 * itself is held (results hang off the event object weakly, so an event no subscription queue
 * holds any more takes its results with it). So memory follows the queues, which the feed bounds,
 * and a replay's single-use results never push out the live ones.
 *
 * Everything else stays per subscriber: subscribing (parse, validation, the limits, the cost and
 * rate limits, the scope check of `auditEventCreated` itself), the filter, the queue and its
 * overflow (an `end` item is executed with the subscriber's own context), error masking, and the
 * message on its socket.
 *
 * Wiring: the `auditEventCreated` subscribe resolver registers the LiveSubscription it creates
 * against its context (`registerLiveSource`); this envelop plugin runs the normal subscribe (so
 * every error and refusal is exactly what it was) and then, instead of graphql's per-event
 * execution, maps that same source through the shared one.
 */
import { execute, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { StoredEvent } from '../../ledger/port.ts';
import type { LiveItem, LiveSubscription } from '../../live/index.ts';
import { createLoaders, type GraphQLContext } from '../context.ts';

type Result = ExecutionResult | Promise<ExecutionResult>;

const sources = new WeakMap<object, LiveSubscription>();

/** The subscribe resolver's half of the wiring: `source` is what `context`'s subscription reads. */
export function registerLiveSource(context: object, source: LiveSubscription): void {
  sources.set(context, source);
}

const DONE: IteratorResult<never> = { value: undefined, done: true };

const documentIds = new WeakMap<DocumentNode, number>();
let nextDocumentId = 0;

/** Everything a subscription's result depends on besides the event; null: not shareable. */
export function sharingKey(args: ExecutionArgs): string | null {
  const ctx = args.contextValue as Partial<GraphQLContext> | undefined;
  if (!ctx || typeof ctx !== 'object') return null;
  let text: string | undefined = args.document.loc?.source.body;
  if (text === undefined) {
    let id = documentIds.get(args.document);
    if (id === undefined) {
      id = nextDocumentId++;
      documentIds.set(args.document, id);
    }
    text = `#${id}`;
  } else text = `=${text}`;
  try {
    const p = ctx.principal ?? null;
    return JSON.stringify([
      text,
      args.operationName ?? null,
      args.variableValues ?? null,
      ctx.authRequired === true,
      p ? p.name : null,
      p ? [...p.scopes].sort() : null,
    ]);
  } catch {
    return null;
  }
}

/** A shared result and how many more streams of its key may still ask for it. */
interface Kept {
  result: Result;
  left: number;
}

export function useSharedLiveExecution(): Plugin {
  /** event → sharing key → its result, for as long as the event object lives (see the file comment). */
  const results = new WeakMap<StoredEvent, Map<string, Kept>>();
  /** Open streams per sharing key. */
  const streams = new Map<string, number>();

  const shared = (event: StoredEvent, key: string, run: () => Result): Result => {
    let byKey = results.get(event);
    const kept = byKey?.get(key);
    if (kept) {
      if (--kept.left <= 0) {
        byKey!.delete(key);
        if (byKey!.size === 0) results.delete(event);
      }
      return kept.result;
    }
    const result = run();
    // Only streams open now can hold this event (a stream opened later joins the feed after it).
    const others = (streams.get(key) ?? 1) - 1;
    if (others > 0) {
      if (!byKey) {
        byKey = new Map();
        results.set(event, byKey);
      }
      byKey.set(key, { result, left: others });
    }
    return result;
  };
  const opened = (key: string) => void streams.set(key, (streams.get(key) ?? 0) + 1);
  const closed = (key: string) => {
    const n = (streams.get(key) ?? 1) - 1;
    if (n > 0) streams.set(key, n);
    else streams.delete(key);
  };

  return {
    onSubscribe({ subscribeFn, setSubscribeFn }) {
      setSubscribeFn(async (args) => {
        const result = await subscribeFn(args);
        const ctx = args.contextValue as GraphQLContext;
        const source = ctx && typeof ctx === 'object' ? sources.get(ctx) : undefined;
        if (!source) return result;
        sources.delete(ctx);
        if (!isAsyncIterable(result)) {
          await source.return();
          return result;
        }
        const key = sharingKey(args);
        const base = { schema: args.schema, document: args.document, operationName: args.operationName ?? null, variableValues: args.variableValues ?? null };
        const own = (item: LiveItem): Result => execute({ ...base, rootValue: item, contextValue: ctx });
        const map =
          key === null
            ? own
            : (item: LiveItem): Result =>
                item.kind === 'event'
                  ? shared(item.event, key, () => execute({ ...base, rootValue: item, contextValue: { ...ctx, loaders: createLoaders(ctx.ledger) } }))
                  : own(item);
        if (key !== null) opened(key);
        const stream = new LiveResults(source, map, key === null ? null : () => closed(key));
        // graphql's own stream returned the source on abort (server-sent events over HTTP); so does this one.
        const signal = (args as { signal?: AbortSignal }).signal;
        if (signal) {
          if (signal.aborted) await stream.return();
          else signal.addEventListener('abort', () => void stream.return(), { once: true });
        }
        return stream;
      });
    },
  };
}

/** A subscriber's results: its source's items, one at a time, each mapped to its (shared) result. */
class LiveResults implements AsyncIterableIterator<ExecutionResult> {
  constructor(
    private readonly source: LiveSubscription,
    private readonly map: (item: LiveItem) => Result,
    /** Called once when the stream ends, however it ends. */
    private onClose: (() => void) | null,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  // Plain promise chains, not async functions: one event is one microtask hop less per subscriber.
  next(): Promise<IteratorResult<ExecutionResult>> {
    return this.source.next().then((r) => {
      if (r.done) {
        this.close();
        return DONE;
      }
      const result = this.map(r.value);
      return result instanceof Promise ? result.then(asValue) : asValue(result);
    });
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.close();
    await this.source.return();
    return DONE;
  }

  private close(): void {
    const f = this.onClose;
    this.onClose = null;
    f?.();
  }

  async throw(): Promise<IteratorResult<ExecutionResult>> {
    return this.return();
  }
}

const asValue = (value: ExecutionResult): IteratorResult<ExecutionResult> => ({ value, done: false });

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}
