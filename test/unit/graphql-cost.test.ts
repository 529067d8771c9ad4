/**
 * costOf runs Pothos' complexity rule on the operations alone; graphql-js' validate() walks the
 * whole document to run the same rule. Both must price every document alike.
 */
import { createComplexityRule } from '@pothos/plugin-complexity';
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { costOf, fixedCostOf } from '../../src/graphql/limits.ts';
import { schema } from '../../src/graphql/schema.ts';

function costByValidate(source: string, variableValues: Record<string, unknown>, operationName: string | null): number {
  let cost = 0;
  const rule = createComplexityRule({ context: {}, variableValues, operationName, onResult: (r) => (cost = Math.max(cost, r.complexity)) });
  validate(schema, parse(source), [rule]);
  return cost;
}

const input = { eventType: 'a.b', eventCategory: 'c', outcome: 'SUCCESS', correlationId: 'rr-1', actorType: 'user', actorId: 'u' };

const cases: { name: string; source: string; variables?: Record<string, unknown>; operationName?: string }[] = [
  { name: 'a timeline page', source: '{ timeline(correlationId: "x", first: 20) { edges { cursor node { eventId actor { id } } } } }' },
  {
    name: 'page size from a variable',
    source: 'query($n: Int) { timeline(correlationId: "x", last: $n) { edges { node { verification { verified } } } } }',
    variables: { n: 300 },
  },
  { name: 'default page size', source: '{ auditEvents { edges { node { eventId } } pageInfo { hasNextPage } } }' },
  {
    name: 'fragments and aliases',
    source:
      'fragment E on AuditEvent { eventId verification { verified } } query { a: timeline(correlationId: "x", first: 5) { edges { node { ...E } } } b: auditEvents(first: 7) { edges { node { ... on AuditEvent { ...E } } } } }',
  },
  {
    name: 'a batch write',
    source: 'mutation($i: [AuditEventInput!]!) { createAuditEvents(input: $i) { events { eventId } proofs { json } } }',
    variables: { i: [input, input, input] },
  },
  {
    name: 'the operation picked by name among several',
    source: 'query A { ledgerState { txId } } query B($n: Int) { timeline(correlationId: "x", first: $n) { edges { node { eventId } } } }',
    variables: { n: 40 },
    operationName: 'B',
  },
  {
    name: 'the cheaper operation picked by name',
    source: 'query A { ledgerState { txId } } query B($n: Int) { timeline(correlationId: "x", first: $n) { edges { node { eventId } } } }',
    variables: { n: 40 },
    operationName: 'A',
  },
  {
    name: 'several operations, none named (the dearest)',
    source:
      'query A { timeline(correlationId: "x", first: 30) { edges { node { eventId } } } } query B { ledgerState { txId } } query C { auditEvents(first: 5) { edges { node { eventId } } } }',
  },
  { name: 'an unknown operation name', source: 'query A { ledgerState { txId } }', operationName: 'Z' },
  { name: 'a subscription', source: 'subscription { auditEventCreated { eventId verification { verified } } }' },
  {
    name: 'invalid variables in the operation not picked',
    source:
      'query A($n: Int) { timeline(correlationId: "x", first: $n) { edges { node { eventId } } } } query B { auditEvents(first: 9) { edges { node { eventId } } } }',
    variables: { n: 'many' },
    operationName: 'B',
  },
  {
    name: 'invalid variables, no operation named',
    source:
      'query A($n: Int) { timeline(correlationId: "x", first: $n) { edges { node { eventId } } } } query B { auditEvents(first: 9) { edges { node { eventId } } } }',
    variables: { n: 'many' },
  },
  {
    name: 'one fragment spread from two operations',
    source:
      'fragment E on AuditEvent { eventId verification { verified } } query A { timeline(correlationId: "x", first: 3) { edges { node { ...E } } } } query B { auditEvents(first: 4) { edges { node { ...E } } } }',
    operationName: 'B',
  },
  {
    name: 'one createAuditEvent',
    source: 'mutation($i: AuditEventInput!) { createAuditEvent(input: $i) { created proof { json } } }',
    variables: { i: input },
  },
  { name: 'invalid variables', source: 'query($n: Int) { timeline(correlationId: "x", first: $n) { edges { node { eventId } } } }', variables: { n: 'many' } },
];

describe('costOf', () => {
  it.each(cases)('prices $name as a full validation pass does', ({ source, variables = {}, operationName = null }) => {
    const expected = costByValidate(source, variables, operationName);
    expect(costOf({ schema, document: parse(source), variableValues: variables, operationName })).toBe(expected);
  });

  it('prices only the operation asked for, and the dearest when none is named', () => {
    const source = 'query A { ledgerState { txId } } query B { timeline(correlationId: "x", first: 40) { edges { node { eventId } } } }';
    const cost = (operationName: string | null) => costOf({ schema, document: parse(source), operationName });
    expect(cost('A')).toBeGreaterThan(0);
    expect(cost('B')).toBeGreaterThan(cost('A'));
    expect(cost(null)).toBe(cost('B'));
    expect(cost('Z')).toBe(0);
  });

  it('grows with the page size asked for', () => {
    const page = (n: number) => costOf({ schema, document: parse(`{ timeline(correlationId: "x", first: ${n}) { edges { node { eventId } } } }`) });
    expect(page(10)).toBeGreaterThan(0);
    expect(page(400)).toBeGreaterThan(page(10) * 20);
  });
});

describe('fixedCostOf', () => {
  it.each(cases)('is costOf for $name when that does not depend on the variables', ({ source, variables = {}, operationName = null }) => {
    const document = parse(source);
    const fixed = fixedCostOf({ schema, document, operationName });
    if (fixed !== null) expect(fixed).toBe(costOf({ schema, document, variableValues: variables, operationName }));
    // Once per document: the same answer again.
    expect(fixedCostOf({ schema, document, operationName })).toBe(fixed);
  });

  it('prices one createAuditEvent without its variables; costOf gives 0 for variables that do not coerce', () => {
    const document = parse('mutation($i: AuditEventInput!) { createAuditEvent(input: $i) { created proof { json } } }');
    const fixed = fixedCostOf({ schema, document });
    expect(fixed).toBe(costOf({ schema, document, variableValues: { i: input } }));
    expect(fixed).toBeGreaterThan(0);
    expect(costOf({ schema, document, variableValues: { i: { eventType: 1 } } })).toBe(0);
  });

  it('is null where the cost depends on the variables or the operation is not the only one', () => {
    expect(fixedCostOf({ schema, document: parse('query($n: Int) { timeline(correlationId: "x", first: $n) { edges { cursor } } }') })).toBeNull();
    expect(fixedCostOf({ schema, document: parse('{ timeline(correlationId: "x", first: 5) { edges { cursor } } }') })).toBeNull();
    expect(fixedCostOf({ schema, document: parse('query A { ledgerState { txId } } query B { ledgerState { txHash } }'), operationName: 'A' })).toBeNull();
    expect(fixedCostOf({ schema, document: parse('query A { ledgerState { txId } }'), operationName: 'Z' })).toBeNull();
  });
});
