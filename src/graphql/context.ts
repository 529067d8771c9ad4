/**
 * The per-request GraphQL context. Reads of events by id go through `loaders.event` (one
 * `ledger.getMany` per tick of the event loop, cached for the request); verified reads through
 * `loaders.verified`, so one request never proves the same event twice.
 */
import DataLoader from 'dataloader';
import type { CheckpointSigner } from '../checkpoint/checkpoint.ts';
import { AuditError, ErrorCode } from '../errors.ts';
import type { EventIndex } from '../index/port.ts';
import type { AppendResult, Ledger, StoredEvent } from '../ledger/port.ts';
import type { LiveFeed } from '../live/index.ts';
import type { Principal } from '../auth/tokens.ts';

export interface GraphQLContext {
  ledger: Ledger;
  /** The secondary index behind `auditEvents`; absent: that query answers INDEX_UNAVAILABLE. */
  index?: EventIndex;
  /** The live feed behind `auditEventCreated`; absent: subscriptions are refused. */
  live?: LiveFeed;
  /** Signs `ledgerState.checkpoint`. */
  checkpoints: CheckpointSigner;
  requestId: string;
  /**
   * Who is asking. null: no token configured (open server, `authRequired` false) or the request
   * was not authenticated (`authRequired` true: every field with scopes refuses UNAUTHENTICATED).
   */
  principal: Principal | null;
  /** Tokens are configured: fields with scopes need a principal that holds them. */
  authRequired: boolean;
  /** Charges `events` to the principal's write budget; throws RATE_LIMITED (nothing written). */
  takeWrites: (events: number) => Promise<void>;
  /** This operation's cost, measured by the cost limit before execution (limits.ts). */
  queryCost?: number;
  /** Per request; a subscription replaces them for every event it delivers (see createLoaders). */
  loaders: {
    /** eventId (lowercase) → stored event, or null when there is none. */
    event: DataLoader<string, StoredEvent | null>;
    /** eventId (lowercase) → verified read with a fresh proof from the gateway's trusted state. */
    verified: DataLoader<string, AppendResult | null>;
    /** txId → commit time, for events read without it. */
    commitTime: DataLoader<string, string | null>;
  };
}

/** The request's event index; INDEX_UNAVAILABLE when the gateway has none (`need` says what wanted it). */
export function requireIndex(ctx: GraphQLContext, need?: string): EventIndex {
  if (!ctx.index) throw new AuditError(ErrorCode.INDEX_UNAVAILABLE, `No event index is configured on this gateway${need ? `: ${need} needs one` : ''}`);
  return ctx.index;
}

/** immudb answers GetAll for a few hundred keys comfortably; larger requests are split. */
const EVENT_BATCH = 500;

export function createContext({
  ledger,
  index,
  live,
  checkpoints,
  requestId,
  principal = null,
  authRequired = false,
  takeWrites = async () => {},
}: {
  ledger: Ledger;
  index?: EventIndex;
  live?: LiveFeed;
  checkpoints: CheckpointSigner;
  requestId: string;
  principal?: Principal | null;
  authRequired?: boolean;
  takeWrites?: (events: number) => Promise<void>;
}): GraphQLContext {
  return {
    ledger,
    ...(index ? { index } : {}),
    ...(live ? { live } : {}),
    checkpoints,
    requestId,
    principal,
    authRequired,
    takeWrites,
    loaders: createLoaders(ledger),
  };
}

/**
 * Fresh loaders. A request's loaders cache for its lifetime; a subscription lives for hours, so it
 * takes new ones for every event it delivers — nothing cached outlives the event it was read for.
 * Each is made on first use: most deliveries need none of them.
 */
export function createLoaders(ledger: Ledger): GraphQLContext['loaders'] {
  return new Loaders(ledger);
}

/** The loaders of createLoaders, made on first use; a class, so a request creates no closures until it uses one. */
type RequestLoaders = GraphQLContext['loaders'];

class Loaders implements RequestLoaders {
  private eventLoader: GraphQLContext['loaders']['event'] | undefined;
  private commitTimeLoader: GraphQLContext['loaders']['commitTime'] | undefined;
  private verifiedLoader: GraphQLContext['loaders']['verified'] | undefined;

  constructor(private readonly ledger: Ledger) {}

  get event(): GraphQLContext['loaders']['event'] {
    const ledger = this.ledger;
    this.eventLoader ??= new DataLoader((ids) => ledger.getMany(ids), { maxBatchSize: EVENT_BATCH });
    return this.eventLoader;
  }

  get commitTime(): GraphQLContext['loaders']['commitTime'] {
    const ledger = this.ledger;
    this.commitTimeLoader ??= new DataLoader((txIds) => ledger.commitTimes(txIds));
    return this.commitTimeLoader;
  }

  get verified(): GraphQLContext['loaders']['verified'] {
    const ledger = this.ledger;
    // No batch call for verified reads: each is its own proof. A failure fails only its key.
    this.verifiedLoader ??= new DataLoader(
      (ids) => Promise.all(ids.map((id) => ledger.getVerified(id).catch((e: unknown) => (e instanceof Error ? e : new Error(String(e)))))),
      { maxBatchSize: 50 },
    );
    return this.verifiedLoader;
  }
}
