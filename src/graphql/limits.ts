/**
 * Abuse limits, all enforced before any resolver runs:
 *
 * | limit      | value  | how                                                                   |
 * |------------|--------|-----------------------------------------------------------------------|
 * | tokens     | 2,000  | graphql-armor while parsing (send large inputs as variables)           |
 * | depth      | 10     | graphql-armor at validation; inline fragments count as a level        |
 * | aliases    | 15     | graphql-armor at validation                                           |
 * | directives | 20     | graphql-armor at validation                                           |
 * | cost       | 50,000 | Pothos complexity, measured with the request's variables before execution |
 * | mutation fields | 1 | one mutation field per operation, so a failing request writes nothing |
 * | nesting    | 64     | brackets (`{ [ (`) open at once, counted with graphql-js' lexer before parsing |
 *
 * Nesting: graphql-js' parser is recursive, and a list literal costs one token per level
 * (`[[[[…`), so ~2,000 levels overflow the stack inside the token limit (a RangeError, answered as
 * an internal error). Legitimate documents stay far below 64: selections are at most 10 deep and a
 * `data` literal at most 32.
 *
 * Cost: every field costs 1; a connection multiplies its selection by the page size it asks for
 * (`first`/`last`, default 50, counted as at most 500 because more is refused anyway) and costs 10
 * itself; `createAuditEvents` multiplies by the number of inputs; `verification` (a ledger round
 * trip and a proof) costs 250. So a full 500-event timeline page (~15,000) passes, while verifying
 * every event of it (~140,000) or aliasing big pages is refused.
 * Over a limit → `extensions.code: QUERY_LIMIT_EXCEEDED`, `extensions.limit`: which one.
 */
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { createComplexityRule } from '@pothos/plugin-complexity';
import {
  GraphQLError,
  getNamedType,
  isInterfaceType,
  isObjectType,
  Kind,
  Lexer,
  Source,
  TokenKind,
  TypeInfo,
  ValidationContext,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { PAGE_SIZE } from '../events/paging.ts';
import { GraphQLCode, limitError, type LimitName } from './errors.ts';

export const QUERY_LIMITS = {
  maxTokens: 2_000,
  maxDepth: 10,
  maxAliases: 15,
  maxDirectives: 20,
  maxCost: 50_000,
  maxNesting: 64,
} as const;

export const COST = {
  field: 1,
  connection: 10,
  mutation: 10,
  verification: 250,
  /** An exact count or stats answer from the index: it may read many index entries. */
  count: 100,
} as const;

/** The page size a connection's cost is multiplied by. */
export function costPageSize(args: { first?: number | null; last?: number | null }): number {
  const n = args.first ?? args.last ?? PAGE_SIZE.default;
  return Math.min(Math.max(n, 0), PAGE_SIZE.max);
}

const reject =
  (limit: LimitName, max: number) =>
  (ctx: ValidationContext | null, err: GraphQLError): void => {
    const error = limitError(limit, err.message.replace(/^Syntax Error: /, ''), max);
    // Parse-time (tokens) has no validation context: abort the parse with our coded error.
    if (ctx) ctx.reportError(error);
    else throw error;
  };

const armorOptions = (limit: LimitName, n: number) => ({ n, exposeLimits: true, propagateOnRejection: false, onReject: [reject(limit, n)] });

/** Counts the root fields of a mutation (through fragments), ignoring `__typename`. */
function rootFieldCount(ctx: ValidationContext, set: SelectionSetNode, seen = new Set<string>()): number {
  let n = 0;
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) n += sel.name.value === '__typename' ? 0 : 1;
    else if (sel.kind === Kind.INLINE_FRAGMENT) n += rootFieldCount(ctx, sel.selectionSet, seen);
    else if (!seen.has(sel.name.value)) {
      seen.add(sel.name.value);
      const fragment = ctx.getFragment(sel.name.value);
      if (fragment) n += rootFieldCount(ctx, fragment.selectionSet, seen);
    }
  }
  return n;
}

/** A mutation runs its fields one after another: one failing after another succeeded would have written. */
export const SingleMutationFieldRule: ValidationRule = (ctx) => ({
  OperationDefinition(node) {
    if (node.operation !== 'mutation') return;
    if (rootFieldCount(ctx, node.selectionSet) > 1) {
      ctx.reportError(
        new GraphQLError('A mutation operation may select only one mutation field; send one request per mutation.', {
          nodes: node,
          extensions: { code: GraphQLCode.GRAPHQL_VALIDATION_FAILED },
        }),
      );
    }
  },
});

type OperationVisitor = { enter?: (node: OperationDefinitionNode) => void; leave?: (node: OperationDefinitionNode) => void };

/**
 * The operation's cost with the request's own variables: Pothos' complexity rule, run on the
 * document's operations only. The rule does its work when an operation is entered and left, so
 * `validate(schema, document, [rule])` would give the same result after walking every node with a
 * TypeInfo: a visible share of a createAuditEvent's CPU, for nothing (bench/results/graphql-20261203T1748.md). Variable errors the rule may
 * report are left to execution, which answers them with BAD_USER_INPUT (the document has already
 * passed full validation).
 */
export function costOf(args: {
  schema: GraphQLSchema;
  document: DocumentNode;
  contextValue?: unknown;
  variableValues?: unknown;
  operationName?: string | null;
}): number {
  let cost = 0;
  const rule = createComplexityRule({
    context: (args.contextValue ?? {}) as object,
    variableValues: (args.variableValues ?? {}) as Record<string, unknown>,
    operationName: args.operationName ?? null,
    onResult: (result) => {
      cost = Math.max(cost, result.complexity);
    },
  });
  const context = new ValidationContext(args.schema, args.document, new TypeInfo(args.schema), () => undefined);
  const visitor = rule(context) as { OperationDefinition?: OperationVisitor | ((node: OperationDefinitionNode) => void) };
  const op = visitor.OperationDefinition;
  const { enter, leave } = typeof op === 'function' ? { enter: op, leave: undefined } : (op ?? {});
  for (const def of args.document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    enter?.(def);
    leave?.(def);
  }
  return cost;
}

/** The rate limit (src/server/rate-limit.ts) charges what was measured here, not a second estimate. */
function recordCost(contextValue: unknown, cost: number): void {
  if (contextValue && typeof contextValue === 'object') (contextValue as { queryCost?: number }).queryCost = cost;
}

/** As recordCost, measured only when read (by the rate limit, when there is one), then kept. */
function recordCostWhenRead(contextValue: unknown, measure: () => number): void {
  if (!contextValue || typeof contextValue !== 'object') return;
  Object.defineProperty(contextValue, 'queryCost', {
    configurable: true,
    enumerable: true,
    get() {
      const cost = measure();
      Object.defineProperty(contextValue, 'queryCost', { value: cost, writable: true, configurable: true, enumerable: true });
      return cost;
    },
  });
}

/**
 * Whether `set` selects a field whose complexity is a function (of its arguments, and so maybe of
 * variables: connections, createAuditEvents). null: something the walk does not know; ask costOf.
 */
function selectsComplexityFunction(
  schema: GraphQLSchema,
  set: SelectionSetNode,
  type: GraphQLNamedType,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  seen: Set<string>,
): boolean | null {
  for (const sel of set.selections) {
    if (sel.kind === Kind.FIELD) {
      const field = isObjectType(type) || isInterfaceType(type) ? type.getFields()[sel.name.value] : undefined;
      if (!field) {
        if (sel.name.value.startsWith('__')) continue;
        return null;
      }
      if (typeof field.extensions?.complexity === 'function') return true;
      if (sel.selectionSet) {
        const inner = selectsComplexityFunction(schema, sel.selectionSet, getNamedType(field.type), fragments, seen);
        if (inner !== false) return inner;
      }
      continue;
    }
    let fragment: { typeCondition?: { name: { value: string } } | undefined; selectionSet: SelectionSetNode } | undefined;
    if (sel.kind === Kind.INLINE_FRAGMENT) fragment = sel;
    else {
      if (seen.has(sel.name.value)) return null;
      seen.add(sel.name.value);
      fragment = fragments.get(sel.name.value);
      if (!fragment) return null;
    }
    const on = fragment.typeCondition ? schema.getType(fragment.typeCondition.name.value) : type;
    if (!on) return null;
    const inner = selectsComplexityFunction(schema, fragment.selectionSet, on, fragments, seen);
    if (inner !== false) return inner;
  }
  return false;
}

/** Per schema and document (Yoga's parser cache hands out the same document for the same text): the fixed cost by operation name. */
const fixedCosts = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, Map<string | null, number | null>>>();

/**
 * The cost of an operation that does not depend on the request's variables (no selected field
 * prices its arguments), as costOf measures it for variables that coerce; null when it may depend
 * on them, or for documents of several operations. Measured once per document and operation name.
 */
export function fixedCostOf(args: { schema: GraphQLSchema; document: DocumentNode; operationName?: string | null }): number | null {
  const { schema, document } = args;
  const operationName = args.operationName ?? null;
  let bySchema = fixedCosts.get(schema);
  if (!bySchema) {
    bySchema = new WeakMap();
    fixedCosts.set(schema, bySchema);
  }
  let byName = bySchema.get(document);
  if (!byName) {
    byName = new Map();
    bySchema.set(document, byName);
  }
  let cost = byName.get(operationName);
  if (cost !== undefined) return cost;
  cost = null;
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = operations.length === 1 ? operations[0]! : undefined;
  const root = op && schema.getRootType(op.operation);
  if (op && root && (operationName === null || op.name?.value === operationName)) {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
    if (selectsComplexityFunction(schema, op.selectionSet, root, fragments, new Set()) === false) {
      // No variables to coerce: the same walk costOf makes, for any variables that coerce.
      const withoutVariables = { ...document, definitions: document.definitions.map((d) => (d === op ? { ...op, variableDefinitions: [] } : d)) };
      cost = costOf({ schema, document: withoutVariables, operationName });
    }
  }
  byName.set(operationName, cost);
  return cost;
}

/**
 * Cost with the request's own variables, before execution (so not part of the validation cache).
 * A subscription is priced once, for one event's selection.
 *
 * An operation whose cost does not depend on its variables is priced once per document
 * (fixedCostOf): costOf would give that cost for variables that coerce and 0 for variables that do
 * not (execution then refuses them), both within the limit when the fixed cost is. What the rate
 * limit charges is still costOf's exact figure, measured only if it asks (most of costOf's time is
 * coercing the variables, which execution does again).
 */
function useCostLimit(maxCost: number): Plugin {
  const overLimit = (cost: number) => ({ errors: [limitError('cost', `Query cost limit of ${maxCost} exceeded, found ${cost}.`, maxCost, cost)] });
  const check = (args: Parameters<typeof costOf>[0], stop: (result: ReturnType<typeof overLimit>) => void) => {
    const fixed = fixedCostOf(args);
    if (fixed !== null && fixed <= maxCost) return recordCostWhenRead(args.contextValue, () => costOf(args));
    const cost = costOf(args);
    recordCost(args.contextValue, cost);
    if (cost > maxCost) stop(overLimit(cost));
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      check(args, setResultAndStopExecution);
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      check(args, setResultAndStopExecution);
    },
  };
}

/**
 * How deeply brackets nest in `source`, read token by token (iteratively) with graphql-js' lexer.
 * Stops as soon as it exceeds `max`, or after `maxTokens` tokens (the token limit refuses those).
 * A lexer error ends the count: the parser reports it.
 */
export function bracketNesting(source: string, max: number, maxTokens: number): number {
  const lexer = new Lexer(new Source(source));
  let depth = 0;
  let deepest = 0;
  try {
    for (let n = 0; n <= maxTokens; n++) {
      const kind = lexer.advance().kind;
      if (kind === TokenKind.EOF) break;
      if (kind === TokenKind.BRACE_L || kind === TokenKind.BRACKET_L || kind === TokenKind.PAREN_L) {
        deepest = Math.max(deepest, ++depth);
        if (deepest > max) break;
      } else if (kind === TokenKind.BRACE_R || kind === TokenKind.BRACKET_R || kind === TokenKind.PAREN_R) depth--;
    }
  } catch {
    // not GraphQL: left to the parser's syntax error
  }
  return deepest;
}

/** Refuses documents nested deeper than `max` before the (recursive) parser sees them. */
function useNestingLimit(max: number, maxTokens: number): Plugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === 'string' ? params.source : params.source.body;
      const nesting = bracketNesting(source, max, maxTokens);
      if (nesting > max) throw limitError('nesting', `Nesting limit of ${max} exceeded.`, max);
    },
  };
}

export function useQueryLimits(limits: typeof QUERY_LIMITS = QUERY_LIMITS): Plugin[] {
  return [
    useNestingLimit(limits.maxNesting, limits.maxTokens),
    EnvelopArmorPlugin({
      maxTokens: armorOptions('tokens', limits.maxTokens),
      maxDepth: { ...armorOptions('depth', limits.maxDepth), ignoreIntrospection: true, flattenFragments: false },
      maxAliases: armorOptions('aliases', limits.maxAliases),
      maxDirectives: armorOptions('directives', limits.maxDirectives),
      // Cost is ours (below): armor's estimate does not know that `first: 500` means 500 nodes.
      costLimit: { enabled: false },
      blockFieldSuggestion: { enabled: true },
    }),
    { onValidate: ({ addValidationRule }) => addValidationRule(SingleMutationFieldRule) },
    useCostLimit(limits.maxCost),
  ];
}
