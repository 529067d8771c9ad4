/**
 * `auditEventCreated(filter, afterTxId)`: committed events as the ledger commits them, from this
 * gateway's live feed (src/live/feed.ts). The filter is `auditEvents`' — same normalization, same
 * `matches` — so a subscription delivers exactly what that query would list. With `afterTxId`,
 * every matching event committed after that tx is replayed from the ledger first, then live: no
 * gap, no duplicate. Resume after a disconnect with the `ledger.txId` (and `eventId`, as
 * `afterEventId`) of the last event received.
 */
import { ValidationError } from '../../errors.ts';
import { normalizeFilter } from '../../events/filter.ts';
import { parseTxId, type LiveItem } from '../../live/index.ts';
import { builder } from '../builder.ts';
import { createLoaders } from '../context.ts';
import { AuditEventFilterRef } from '../inputs/AuditEventFilter.ts';
import { AuditEventRef } from '../nodes/AuditEvent.ts';
import { parseEventId } from '../nodes/ids.ts';
import { registerLiveSource } from './shared-execution.ts';

// Shaped like every Pothos root field (createAuditEvents.ts too): declarations, no logic to share.
builder.subscriptionField('auditEventCreated', (t) =>
  t.field({
    authScopes: { scope: 'audit:read' },
    type: AuditEventRef,
    description:
      'Committed events matching the filter (as in `auditEvents`), in commit order: by ledger txId, and within a tx in the order it was written. ' +
      'With `afterTxId`, first every matching event committed after that tx (replayed from the ledger), then live, with no gap and no duplicate; ' +
      'without it, events committed from now on. Resume with the `ledger { txId }` of the last event you received, and its `eventId` as `afterEventId` ' +
      '(a tx can hold many events; a disconnect can fall between them). ' +
      'A subscriber that falls too far behind is ended with SUBSCRIPTION_OVERFLOW, whose `extensions.afterTxId` resumes it.',
    args: {
      filter: t.arg({ type: AuditEventFilterRef, description: 'Only events matching it; none: every event.' }),
      afterTxId: t.arg.string({ description: 'Replay matching events committed after this ledger txId (decimal), then continue live.' }),
      afterEventId: t.arg.id({
        description:
          'With afterTxId: resume inside that tx, after this event (the last one you received) — the rest of the tx is delivered too. ' +
          'A tx can hold many events and a disconnect can fall between them; (txId, eventId) of the last event received resumes exactly.',
      }),
    },
    subscribe: (_root, args, ctx) => {
      const filter = normalizeFilter(args.filter);
      const after = args.afterTxId == null ? null : parseTxId(args.afterTxId, 'afterTxId');
      let afterEventId: string | null = null;
      if (args.afterEventId != null) {
        afterEventId = parseEventId(args.afterEventId, 'afterEventId');
        if (after === null || after === 0n) throw new ValidationError([{ path: 'afterEventId', message: 'needs afterTxId: the ledger txId of that event' }]);
      }
      // A wiring mistake, not the client's: masked as an internal error and logged.
      if (!ctx.live) throw new Error('this gateway was created without a live feed (createApp option `live`)');
      const subscription = ctx.live.subscribe(filter, after, afterEventId);
      // Lets the gateway execute each event once for all equal subscriptions (shared-execution.ts).
      registerLiveSource(ctx, subscription);
      return subscription;
    },
    resolve: (item: LiveItem, _args, ctx) => {
      if (item.kind === 'end') throw item.error;
      // The selection runs once per event with a context of its own (shared-execution.ts), or with
      // the subscription's: fresh loaders each time either way, so nothing read for one event is
      // cached (and kept) for the next.
      ctx.loaders = createLoaders(ctx.ledger);
      return item.event;
    },
  }),
);
