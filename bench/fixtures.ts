/**
 * The sample audit event every write benchmark sends: a workflow step of a typical size, one in
 * seven a FAILURE, spread over correlations. One shape, so the figures of the ledger, GraphQL
 * and HTTP benchmarks compare.
 */
import type { AuditEventInput } from '../src/events/types.ts';

export interface SampleOptions {
  /** Defaults to one of 1,000 correlations `rr-bench-<i mod 1000>`. */
  correlationId?: string;
  /** Set for a fixed order (timeline benchmarks); absent means "now", as most clients send. */
  timestamp?: string;
}

export function sampleEventInput(i: number, options: SampleOptions = {}): AuditEventInput {
  return {
    eventType: 'workflow.step.completed',
    eventCategory: 'workflow',
    outcome: i % 7 === 0 ? 'FAILURE' : 'SUCCESS',
    correlationId: options.correlationId ?? `rr-bench-${i % 1000}`,
    actorType: 'service',
    actorId: 'workflow-engine',
    resourceType: 'pod',
    resourceId: `pod-${i}`,
    ...(options.timestamp === undefined ? {} : { timestamp: options.timestamp }),
    data: { step: i, note: 'benchmark payload of a typical size', tags: ['a', 'b', 'c'] },
  };
}

/** The GraphQL benchmarks' write and read: one create with its proof, one timeline page of 50. */
export const CREATE = `mutation ($input: AuditEventInput!) {
  createAuditEvent(input: $input) { created event { eventId ledger { txId } } proof { verified txId json } }
}`;
export const TIMELINE = `query ($c: String!) {
  timeline(correlationId: $c, first: 50) { edges { cursor node { eventId eventType outcome timestamp actor { id } } } pageInfo { hasNextPage endCursor } }
}`;
