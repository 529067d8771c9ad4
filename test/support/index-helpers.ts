/** Helpers of the index fault and API suites. */
import { Redis } from 'ioredis';
import type { AuditEventRecord } from '../../src/events/types.ts';
import type { EventIndex } from '../../src/index/port.ts';
import { decodeMember, encodeMember, GLOBAL_KEY, positionOf, recordKeys } from '../../src/index/query.ts';
import type { Ledger } from '../../src/ledger/port.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs = 30_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(everyMs);
  }
}

/** Every event in the ledger, read the way the indexer reads it. */
export async function ledgerRecords(ledger: Ledger): Promise<AuditEventRecord[]> {
  const out: AuditEventRecord[] = [];
  let after = '0';
  for (;;) {
    const txs = await ledger.readTransactions(after, 500);
    const last = txs[txs.length - 1];
    if (!last) return out;
    for (const tx of txs) out.push(...tx.events.map((e) => e.record));
    after = last.txId;
  }
}

/** The index is ready and holds everything the ledger has committed. */
export async function waitCaughtUp(index: EventIndex, ledger: Ledger, timeoutMs = 60_000): Promise<void> {
  await waitUntil(
    'the index to catch up with the ledger',
    async () => {
      const [state, head] = await Promise.all([index.state(), ledger.lastTxId()]);
      return state?.status === 'ready' && state.checkpoint === head;
    },
    timeoutMs,
  );
}

/**
 * Compares a Redis namespace with the ledger's events exactly: the global set and every field set
 * hold precisely the expected members, and the counters say each tx was applied once.
 */
export async function expectRedisEqualsLedger(redis: Redis, namespace: string, records: readonly AuditEventRecord[]): Promise<string[]> {
  const problems: string[] = [];
  const expected = new Map<string, Set<string>>();
  for (const r of records) {
    const m = encodeMember(positionOf(r));
    for (const k of recordKeys(r)) {
      let s = expected.get(k);
      if (!s) expected.set(k, (s = new Set()));
      s.add(m);
    }
  }
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${namespace}*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  const setKeys = keys.map((k) => k.slice(namespace.length)).filter((k) => k !== 'meta' && k !== 'lease');
  for (const k of setKeys) if (!expected.has(k)) problems.push(`unexpected key ${k}`);
  for (const [k, want] of expected) {
    const got = (await redis.zrangeBuffer(namespace + k, 0, -1)).map((b) => b.toString('latin1'));
    if (got.length !== want.size || got.some((m) => !want.has(m))) {
      const extra = got.filter((m) => !want.has(m)).map((m) => decodeMember(m).eventId);
      problems.push(`${k}: ${got.length} members, expected ${want.size}; extra ${extra.slice(0, 3).join(',')}`);
    }
  }
  const meta = await redis.hgetall(`${namespace}meta`);
  if (Number(meta.events) !== records.length) problems.push(`meta.events ${meta.events}, expected ${records.length}`);
  if (Number(meta.applied) !== records.length) problems.push(`meta.applied ${meta.applied}, expected ${records.length}`);
  if (!expected.has(GLOBAL_KEY) && records.length) problems.push('no global set');
  return problems;
}

/** A bare GraphQL-over-HTTP call. */
export async function gql<T = any>(url: string, query: string, variables?: Record<string, unknown>): Promise<{ status: number; body: { data?: T; errors?: { message: string; extensions?: Record<string, any> }[] } }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
  });
  return { status: res.status, body: (await res.json()) as any };
}
