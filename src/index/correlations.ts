/**
 * `correlations`: the most recently active correlations (remediations) first, each with its
 * counts. The index keeps one ordered list of correlations by their newest event (maintained as it
 * follows the ledger); a correlation's details come from its own set, which is small. No I/O of
 * its own: it reads through a SetReader.
 */
import { ValidationError, type FieldViolation } from '../errors.ts';
import { normalizeFilter, type NormalizedFilter } from '../events/filter.ts';
import { decodeCorrelationCursor, encodeCorrelationCursor, PAGE_SIZE, pageOf, type Page } from '../events/paging.ts';
import { OUTCOMES, type Outcome } from '../events/types.ts';
import { tallyFilter } from './counting.ts';
import { retryStale, StaleRead, walk, type RecentCorrelation, type SetReader } from './executor.ts';
import { decodeMember, fieldKey } from './members.ts';
import { windowRange } from './range.ts';

/** `CorrelationFilter` of the API, as a client sends it. */
export interface CorrelationFilterInput {
  since?: string | null;
  until?: string | null;
  eventCategory?: readonly string[] | null;
  outcome?: readonly string[] | null;
  clusterName?: readonly string[] | null;
}

export interface CorrelationQuery {
  filter?: CorrelationFilterInput | null;
  first?: number | null;
  after?: string | null;
}

export interface CorrelationNode {
  correlationId: string;
  firstMs: number;
  lastMs: number;
  eventCount: number;
  outcomes: Record<Outcome, number>;
  /** The newest event (by timestamp, then eventId). */
  lastEventId: string;
}

export type CorrelationPage = Page<{ cursor: string; node: CorrelationNode }>;

interface CorrelationRequest {
  filter: NormalizedFilter;
  size: number;
  after: RecentCorrelation | null;
}

/**
 * Validates a request; every problem at once (BAD_USER_INPUT). The filter is an event filter: a
 * correlation is listed when at least one of its events matches all of it (in the window, with
 * one of the categories, one of the outcomes, in one of the clusters).
 */
export function normalizeCorrelationQuery(q: CorrelationQuery): CorrelationRequest {
  const violations: FieldViolation[] = [];
  let filter: NormalizedFilter = { terms: [], since: null, until: null };
  const f = q.filter ?? {};
  try {
    filter = normalizeFilter({ since: f.since, until: f.until, eventCategory: f.eventCategory, outcome: f.outcome, clusterName: f.clusterName }, 'filter');
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    violations.push(...e.violations);
  }
  const first = q.first;
  if (first != null && (!Number.isInteger(first) || first < 0 || first > PAGE_SIZE.max))
    violations.push({ path: 'first', message: `must be from 0 to ${PAGE_SIZE.max}` });
  let after: RecentCorrelation | null = null;
  if (q.after != null) {
    try {
      const c = decodeCorrelationCursor(q.after, 'after');
      after = { correlationId: c.correlationId, lastMs: c.lastMs };
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      violations.push(...e.violations);
    }
  }
  if (violations.length > 0) throw new ValidationError(violations);
  return { filter, size: first ?? PAGE_SIZE.default, after };
}

/** Candidates read from the list per round while looking for matches. */
const CANDIDATES_PER_ROUND = 64;

/** Whether the correlation has an event matching the filter. */
async function hasMatch(reader: SetReader, id: string, filter: NormalizedFilter): Promise<boolean> {
  const f: NormalizedFilter = { ...filter, terms: [{ field: 'correlationId', values: [id] }, ...filter.terms] };
  return (await walk(reader, f, windowRange(f), false, 1)).length > 0;
}

/** A correlation's node, from its own set. */
async function nodeOf(reader: SetReader, id: string): Promise<CorrelationNode | null> {
  const filter: NormalizedFilter = { terms: [{ field: 'correlationId', values: [id] }], since: null, until: null };
  const t = await tallyFilter(reader, filter, { dims: ['outcome'], histogram: null });
  if (t.firstMatch === null || t.lastMatch === null) return null;
  const keys = OUTCOMES.map((o) => fieldKey('outcome', o));
  const probe = await reader.probe({ range: { min: null, max: null }, keys: [], coded: keys });
  if (probe.gen !== t.gen) throw new StaleRead();
  const outcomes = {} as Record<Outcome, number>;
  let tallied = 0;
  OUTCOMES.forEach((o, i) => {
    const e = probe.coded[i];
    outcomes[o] = e ? t.codes[0]![e.code]! : 0;
    tallied += outcomes[o];
  });
  if (tallied < t.count) {
    // Outcomes past the field's codes (a layout knob only tests shrink): counted by their sets.
    for (const o of OUTCOMES) {
      if (probe.coded[OUTCOMES.indexOf(o)]) continue;
      outcomes[o] = (
        await tallyFilter(reader, { ...filter, terms: [...filter.terms, { field: 'outcome', values: [o] }] }, { dims: [], histogram: null })
      ).count;
    }
  }
  const last = decodeMember(t.lastMatch);
  return { correlationId: id, firstMs: decodeMember(t.firstMatch).ms, lastMs: last.ms, eventCount: t.count, outcomes, lastEventId: last.eventId };
}

/** One page of `correlations`: most recently active first, forward paging only. */
export function correlationPage(reader: SetReader, q: CorrelationQuery): Promise<CorrelationPage> {
  const req = normalizeCorrelationQuery(q);
  const plain = req.filter.terms.length === 0 && req.filter.since === null && req.filter.until === null;
  return retryStale(async () => {
    const found: RecentCorrelation[] = [];
    let from = req.after;
    // One more than the page: it says whether a next page exists.
    while (found.length <= req.size) {
      const batch = await reader.recent(from, plain ? req.size + 1 - found.length : CANDIDATES_PER_ROUND);
      if (batch.length === 0) break;
      // Newest event before `since`: neither this one nor any later one has an event in the window.
      const live = req.filter.since === null ? batch : batch.filter((c) => c.lastMs >= req.filter.since!);
      const ok = plain ? live.map(() => true) : await Promise.all(live.map((c) => hasMatch(reader, c.correlationId, req.filter)));
      live.forEach((c, i) => {
        if (ok[i] && found.length <= req.size) found.push(c);
      });
      if (live.length < batch.length) break;
      from = batch[batch.length - 1]!;
    }
    const more = found.length > req.size;
    const listed = found.slice(0, req.size);
    const nodes = await Promise.all(listed.map((c) => nodeOf(reader, c.correlationId)));
    const edges = listed.flatMap((c, i) => {
      const node = nodes[i];
      // The list and the sets are written by one script: a node without events means a rebuild began.
      if (!node) throw new StaleRead();
      return [{ cursor: encodeCorrelationCursor(c), node }];
    });
    return pageOf(edges, { backward: false, more, behind: req.after !== null });
  });
}
