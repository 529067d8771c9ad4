/** Helpers of the index fault and API suites. */
import type { Redis } from 'ioredis';
import type { ApiData, GraphQLErrorJson } from './api-types.ts';
import type { AuditEventRecord } from '../../src/events/types.ts';
import type { EventIndex } from '../../src/index/port.ts';
import { fieldValue } from '../../src/events/filter.ts';
import { CODED_FIELDS, overflowCode, packCodes, type Codes } from '../../src/index/codes.ts';
import { positionOf } from '../../src/events/paging.ts';
import { decodeMember, encodeMember, fieldKey, GLOBAL_KEY, setFieldKeys } from '../../src/index/members.ts';
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
 * Compares a Redis namespace with the ledger's events exactly: every logical set (the global one,
 * one per set-field value, one per sparse or overflowed coded value) holds precisely the expected
 * members with the codes of the index's codebook, the time and value rollups hold exactly the
 * expected counts, no dense value has a set, every chunk is a
 * listpack of at most `chunkSize` members inside its bounds, the codebook counts are right, and
 * the counters say each tx was applied once.
 */
export async function expectRedisEqualsLedger(redis: Redis, namespace: string, records: readonly AuditEventRecord[], chunkSize = 128): Promise<string[]> {
  const problems: string[] = [];
  const cb = await redis.hgetall(`${namespace}cb`);
  const cn = await redis.hgetall(`${namespace}cn`);
  const expected = new Map<string, Set<string>>();
  const counts = new Map<string, number>();
  const rollups = new Map<string, Map<string, number>>();
  const add = (k: string, m: string) => {
    let s = expected.get(k);
    if (!s) {
      s = new Set();
      expected.set(k, s);
    }
    s.add(m);
  };
  for (const r of records) {
    const codes = {} as Codes;
    const coded: string[] = [];
    for (const f of CODED_FIELDS) {
      const v = fieldValue(r, f);
      if (v === undefined) {
        codes[f] = 0;
        continue;
      }
      const key = fieldKey(f, v);
      const code = cb[key] === undefined ? null : Number(cb[key]);
      codes[f] = code === null ? overflowCode(f) : Math.abs(code);
      if (code !== null) counts.set(key, (counts.get(key) ?? 0) + 1);
      if (code === null || code > 0) coded.push(key); // overflowed or sparse: in a set of its own
    }
    const m = encodeMember(positionOf(r), packCodes(codes));
    for (const k of [...setFieldKeys(r), ...coded]) add(k, m);
    const roll = (key: string) => {
      let cells = rollups.get(key);
      if (!cells) {
        cells = new Map();
        rollups.set(key, cells);
      }
      // the cell (eventCategory, resourceType, actorType|outcome code bytes), the total, and a field per code
      const cell = m.slice(22, 25);
      const b = cell.charCodeAt(2);
      for (const f of [cell, '#t', `#ec${cell[0]}`, `#rt${cell[1]}`, `#at${String.fromCharCode(b >> 3)}`, `#oc${String.fromCharCode(b & 7)}`]) {
        cells.set(f, (cells.get(f) ?? 0) + 1);
      }
    };
    // rollups: per UTC minute, hour and day, events by their code bytes
    const ms = positionOf(r).ms;
    for (const [level, width] of [
      ['m', 60_000],
      ['h', 3_600_000],
      ['d', 86_400_000],
    ] as const) {
      // minute buckets expire 36 days after their minute
      if (level === 'm' && (Math.floor(ms / width) + 1) * width + 36 * 86_400_000 <= Date.now()) continue;
      roll(`ru:${level}:${Math.floor(ms / width)}`);
    }
    // value rollups: all time, per eventType and per actorId
    roll(`vr:${fieldKey('eventType', r.eventType)}`);
    roll(`vr:${fieldKey('actorId', r.actor.id)}`);
  }
  for (const [k, n] of counts) if (Number(cn[k]) !== n) problems.push(`cn ${k}: ${cn[k]}, expected ${n}`);
  // The registry of dimension values and the correlations by newest event.
  const DIMENSION_FIELDS = ['outcome', 'eventType', 'eventCategory', 'actorId', 'severity', 'clusterName', 'resourceType'] as const;
  const registry = new Map<string, number>();
  const newest = new Map<string, number>();
  for (const r of records) {
    for (const f of DIMENSION_FIELDS) {
      const v = fieldValue(r, f);
      if (v !== undefined) registry.set(fieldKey(f, v), (registry.get(fieldKey(f, v)) ?? 0) + 1);
    }
    const ms = positionOf(r).ms;
    if ((newest.get(r.correlationId) ?? -1) < ms) newest.set(r.correlationId, ms);
  }
  for (const f of DIMENSION_FIELDS) {
    const fc = fieldKey(f, '').slice(0, 2);
    const got = await redis.hgetall(`${namespace}dv:${fc}`);
    const want = [...registry].filter(([k]) => k.startsWith(`${fc}:`)).map(([k, n]) => [k.slice(3), String(n)]);
    if (JSON.stringify(Object.entries(got).sort()) !== JSON.stringify(want.sort()))
      problems.push(`dv:${fc}: ${JSON.stringify(got)}, expected ${JSON.stringify(Object.fromEntries(want))}`);
  }
  const cr = await redis.zrangeBuffer(`${namespace}cr`, 0, -1, 'WITHSCORES');
  const gotCr = new Map<string, number>();
  for (let i = 0; i + 1 < cr.length; i += 2) gotCr.set(cr[i]!.toString('utf8'), Number(cr[i + 1]!.toString()));
  if (gotCr.size !== newest.size || [...newest].some(([id, ms]) => gotCr.get(id) !== ms))
    problems.push(`cr: ${gotCr.size} correlations differ from the ${newest.size} expected`);
  // Codes handed out per field: one per value in the codebook, numbered 1…n.
  const fcs = CODED_FIELDS.map((f) => fieldKey(f, '').slice(0, 2));
  for (const fc of fcs) {
    const codes = Object.entries(cb)
      .filter(([k]) => k.startsWith(`${fc}:`))
      .map(([, c]) => Math.abs(Number(c)));
    if (Number(cb[`#${fc}`] ?? 0) !== codes.length) problems.push(`cb #${fc}: ${cb[`#${fc}`]}, expected ${codes.length}`);
    if ([...codes].sort((a, b) => a - b).some((c, i) => c !== i + 1)) problems.push(`cb ${fc}: codes ${codes.join(',')} are not 1…${codes.length}`);
  }
  for (const k of Object.keys(cb)) if (!fcs.some((fc) => k === `#${fc}` || k.startsWith(`${fc}:`))) problems.push(`cb ${k}: unexpected field`);
  for (const k of Object.keys(cn)) if (!counts.has(k)) problems.push(`cn ${k}: unexpected`);

  const keys: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scanBuffer(cursor, 'MATCH', `${namespace}*`, 'COUNT', 1000);
    cursor = next.toString();
    keys.push(...batch);
  } while (cursor !== '0');
  const logical = new Set<string>();
  const physical = new Set<string>();
  for (const k of keys) {
    const rel = k.subarray(namespace.length).toString('latin1');
    if (['meta', 'lease', 'cb', 'cn', 'cr'].includes(rel) || rel.startsWith('dv:')) continue;
    if (rel.startsWith('ru:') || rel.startsWith('vr:')) {
      const flat = (await redis.callBuffer('HGETALL', k)) as Buffer[];
      const want = rollups.get(rel) ?? new Map<string, number>();
      const cells: [string, number][] = [];
      for (let i = 0; i + 1 < flat.length; i += 2) cells.push([flat[i]!.toString('latin1'), Number(flat[i + 1]!.toString())]);
      if (cells.length !== want.size || cells.some(([cell, n]) => want.get(cell) !== n)) problems.push(`rollup ${rel} differs`);
      rollups.delete(rel);
      continue;
    }
    physical.add(rel);
    const hash = rel.indexOf('#');
    logical.add(hash < 0 ? rel : rel.slice(0, hash));
  }
  if (rollups.size > 0) problems.push(`${rollups.size} rollups missing, e.g. ${[...rollups.keys()][0]}`);
  for (const k of logical) if (!expected.has(k)) problems.push(`unexpected set ${k}`);
  for (const [k, want] of expected) {
    const S = Buffer.from(namespace + k, 'latin1');
    const dir = Buffer.concat([S, Buffer.from('#')]);
    const starts = (await redis.zrangeBuffer(dir, 0, -1)).map((b) => b.toString('latin1'));
    const chunks = [{ key: S, start: null as string | null }, ...starts.map((start) => ({ key: Buffer.concat([dir, Buffer.from(start, 'latin1')]), start }))];
    const got: string[] = [];
    for (const [i, c] of chunks.entries()) {
      const rel = c.key.subarray(namespace.length).toString('latin1');
      physical.delete(rel);
      const members = (await redis.zrangeBuffer(c.key, 0, -1)).map((b) => b.toString('latin1'));
      const next = chunks[i + 1]?.start ?? null;
      if (members.length === 0 && (c.start !== null || starts.length > 0)) problems.push(`${k}: empty chunk ${i}`);
      if (members.length > chunkSize) problems.push(`${k}: chunk ${i} holds ${members.length} > ${chunkSize}`);
      if (members.length > 0 && (await redis.object('ENCODING', c.key)) !== 'listpack') problems.push(`${k}: chunk ${i} is not a listpack`);
      if (c.start !== null && members[0] !== c.start) problems.push(`${k}: chunk ${i} does not start at its start`);
      if (next !== null && members.some((m) => m >= next)) problems.push(`${k}: chunk ${i} reaches into the next one`);
      got.push(...members);
    }
    physical.delete(dir.subarray(namespace.length).toString('latin1'));
    if (got.length !== want.size || got.some((m) => !want.has(m))) {
      const extra = got.filter((m) => !want.has(m)).map((m) => (m.length === 25 ? decodeMember(m).eventId : `malformed:${m.length}`));
      problems.push(`${k}: ${got.length} members, expected ${want.size}; extra ${extra.slice(0, 3).join(',')}`);
    }
    if (got.some((m, i) => i > 0 && got[i - 1]! >= m)) problems.push(`${k}: chunks out of order`);
  }
  for (const rel of physical) problems.push(`stray key ${JSON.stringify(rel)}`);
  const meta = await redis.hgetall(`${namespace}meta`);
  if (Number(meta.events) !== records.length) problems.push(`meta.events ${meta.events}, expected ${records.length}`);
  if (Number(meta.applied) !== records.length) problems.push(`meta.applied ${meta.applied}, expected ${records.length}`);
  if (!expected.has(GLOBAL_KEY) && records.length) problems.push('no global set');
  return problems;
}

/** A bare GraphQL-over-HTTP call. */
export async function gql<T = ApiData>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
): Promise<{ status: number; body: { data?: T; errors?: GraphQLErrorJson[] } }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
    body: JSON.stringify({ query, ...(variables ? { variables } : {}) }),
  });
  return { status: res.status, body: (await res.json()) as { data?: T; errors?: GraphQLErrorJson[] } };
}
