/**
 * How failures reach clients. Every error in a response carries `extensions.code`:
 *
 * - AuditError (src/errors.ts) → its code and message; BAD_USER_INPUT adds `violations`
 *   (`[{ path, message }]`, one per offending field, e.g. `input.3.actorId`), EVENT_ID_CONFLICT
 *   adds `eventId`, VERIFICATION_FAILED adds `check`, SUBSCRIPTION_OVERFLOW adds `afterTxId`,
 *   RATE_LIMITED adds `retryAfterMs`.
 * - The request itself is not valid GraphQL for this schema:
 *     GRAPHQL_PARSE_FAILED      not parseable GraphQL;
 *     GRAPHQL_VALIDATION_FAILED the document fails validation — unknown field, wrong literal type,
 *                               missing required argument or input field;
 *     BAD_USER_INPUT            variable values that do not fit their declared types (GraphQL's
 *                               own coercion, e.g. a wrong enum value or a missing required field
 *                               inside `$input`), and an unknown enum value written in an argument
 *                               (`violations` names the argument's path, `groupBy.0`).
 * - QUERY_LIMIT_EXCEEDED: an abuse limit (depth, aliases, tokens, directives, cost; see limits.ts),
 *   with `extensions.limit` naming it. Checked before any resolver runs.
 * - Anything else is a bug or an outage we did not classify: masked as INTERNAL_SERVER_ERROR
 *   "Unexpected error." with `extensions.requestId`; the real error is logged with that id.
 *
 * Responses never contain stack traces: extensions are built here from known-safe fields only.
 */
import { PothosValidationError } from '@pothos/core';
import { type DocumentNode, GraphQLError, Kind, visit, type ValueNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { type AuditError, ErrorCode, isAuditError, type FieldViolation } from '../errors.ts';
import { currentRequestId } from '../logger.ts';

export const GraphQLCode = {
  GRAPHQL_PARSE_FAILED: 'GRAPHQL_PARSE_FAILED',
  GRAPHQL_VALIDATION_FAILED: 'GRAPHQL_VALIDATION_FAILED',
  QUERY_LIMIT_EXCEEDED: 'QUERY_LIMIT_EXCEEDED',
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;

export const UNEXPECTED_MESSAGE = 'Unexpected error.';

export type LimitName = 'depth' | 'aliases' | 'tokens' | 'directives' | 'cost' | 'nesting';

export function limitError(limit: LimitName, message: string, max: number, actual?: number): GraphQLError {
  return new GraphQLError(message, {
    extensions: { code: GraphQLCode.QUERY_LIMIT_EXCEEDED, limit, max, ...(actual === undefined ? {} : { actual }) },
  });
}

function chain(error: unknown): unknown[] {
  const out: unknown[] = [];
  for (let cur: unknown = error; cur != null && out.length < 8; ) {
    out.push(cur);
    const next: unknown = cur instanceof GraphQLError ? cur.originalError : undefined;
    if (next === undefined || next === cur) break;
    cur = next;
  }
  return out;
}

const isViolation = (v: unknown): v is FieldViolation =>
  typeof v === 'object' && v !== null && typeof (v as FieldViolation).path === 'string' && typeof (v as FieldViolation).message === 'string';

/** The client-visible extensions of an AuditError: its code plus the details clients need. */
export function auditExtensions(e: AuditError): Record<string, unknown> {
  const ext: Record<string, unknown> = { code: e.code };
  const d = e.details;
  if (e.code === ErrorCode.BAD_USER_INPUT) {
    const violations = Array.isArray(d.violations) ? d.violations.filter(isViolation).map(({ path, message }) => ({ path, message })) : [];
    ext.violations = violations;
  }
  if (e.code === ErrorCode.EVENT_ID_CONFLICT && typeof d.eventId === 'string') ext.eventId = d.eventId;
  if (e.code === ErrorCode.VERIFICATION_FAILED && typeof d.check === 'string') ext.check = d.check;
  if (e.code === ErrorCode.RATE_LIMITED && typeof d.retryAfter === 'number') ext.retryAfter = d.retryAfter;
  if (e.code === ErrorCode.RATE_LIMITED && typeof d.retryAfterMs === 'number') ext.retryAfterMs = d.retryAfterMs;
  if (e.code === ErrorCode.SUBSCRIPTION_OVERFLOW && typeof d.afterTxId === 'string') ext.afterTxId = d.afterTxId;
  return ext;
}

/**
 * Yoga's `maskedErrors.maskError`. Returns the error clients see; Yoga logs the original whenever
 * the result is a different object (our logger demotes client mistakes to debug).
 */
export function maskError(error: unknown): Error {
  const links = chain(error);
  const located = error instanceof GraphQLError ? error : undefined;
  const where = { nodes: located?.nodes, path: located?.path };

  const audit = links.find(isAuditError);
  if (audit) return new GraphQLError(audit.message, { ...where, extensions: auditExtensions(audit) });

  const pothos = links.find((l): l is PothosValidationError => l instanceof PothosValidationError);
  if (pothos) {
    return new GraphQLError(pothos.message, {
      ...where,
      extensions: { code: ErrorCode.BAD_USER_INPUT, violations: [] },
    });
  }

  const last = links[links.length - 1];
  // A GraphQLError all the way down and not raised while resolving a field: a problem of the
  // request (body, parse, validation, variable coercion, limits). Keep it; make sure it has a code.
  if (located && last instanceof GraphQLError && located.path === undefined) return asRequestError(located);

  const requestId = currentRequestId();
  return new GraphQLError(UNEXPECTED_MESSAGE, {
    ...where,
    extensions: { code: GraphQLCode.INTERNAL_SERVER_ERROR, unexpected: true, ...(requestId ? { requestId } : {}) },
  });
}

const VARIABLE_AT = /^Variable "\$([^"]+)" got invalid value .*? at "([^"]+)"; ([\s\S]*)$/;
const VARIABLE_VALUE = /^Variable "\$([^"]+)" got invalid value [\s\S]*?; ([\s\S]*)$/;
const VARIABLE_OTHER = /^Variable "\$([^"]+)" ([\s\S]*)$/;

/** graphql-js prints list indexes as `input[3].outcome`; our paths are dotted (`input.3.outcome`), like the domain's. */
const dotted = (path: string) => path.replace(/\[(\d+)\]/g, '.$1');

/** graphql-js' variable coercion messages, as violations with variable-relative paths (`input.3.outcome`). */
function variableViolation(message: string): FieldViolation | null {
  let m = VARIABLE_AT.exec(message);
  if (m) return { path: dotted(m[2]!), message: m[3]! };
  m = VARIABLE_VALUE.exec(message);
  if (m) return { path: m[1]!, message: m[2]! };
  m = VARIABLE_OTHER.exec(message);
  return m ? { path: m[1]!, message: m[2]! } : null;
}

const UNKNOWN_ENUM_VALUE = /^Value "[^"]*" does not exist in "[^"]+" enum\./;

/**
 * An unknown enum value written in the document (`groupBy: [COLOUR]`), as a violation at the path
 * of the argument it was given in (`groupBy.0`), as for one sent in variables; null for any other
 * validation error, or when the value is not inside a field's argument.
 */
function literalEnumViolation(error: GraphQLError, document: DocumentNode): FieldViolation | null {
  const at = error.nodes?.[0]?.loc?.start;
  if (!UNKNOWN_ENUM_VALUE.test(error.message) || at === undefined) return null;
  const inValue = (v: ValueNode, path: string): string | null => {
    if (v.kind === Kind.ENUM) return v.loc?.start === at ? path : null;
    if (v.kind === Kind.LIST) {
      for (const [i, x] of v.values.entries()) {
        const p = inValue(x, `${path}.${i}`);
        if (p) return p;
      }
    }
    if (v.kind === Kind.OBJECT) {
      for (const f of v.fields) {
        const p = inValue(f.value, `${path}.${f.name.value}`);
        if (p) return p;
      }
    }
    return null;
  };
  let path: string | null = null;
  visit(document, {
    Argument(node) {
      path ??= inValue(node.value, node.name.value);
    },
  });
  return path === null ? null : { path, message: error.message };
}

/**
 * Validation errors for unknown enum values written in the document become BAD_USER_INPUT naming
 * the argument (Yoga returns validation errors unmasked, so maskError never sees them).
 */
export function useEnumValueErrors(): Plugin {
  return {
    onValidate({ params }) {
      return ({ result, setResult }) => {
        if (result.length === 0) return;
        let changed = false;
        const errors = result.map((e) => {
          const violation = literalEnumViolation(e, params.documentAST);
          if (!violation) return e;
          changed = true;
          return new GraphQLError(e.message, { nodes: e.nodes, extensions: { code: ErrorCode.BAD_USER_INPUT, violations: [violation] } });
        });
        if (changed) setResult(errors);
      };
    },
  };
}

/**
 * Codes a request error in place (returning the same object keeps Yoga from logging a client's
 * mistake as a server error) and drops `extensions.originalError`, which Yoga fills with parser
 * details that echo the request body.
 */
function asRequestError(error: GraphQLError): GraphQLError {
  if (!Object.isExtensible(error.extensions)) {
    return asRequestError(new GraphQLError(error.message, { nodes: error.nodes, extensions: { ...error.extensions } }));
  }
  const ext = error.extensions as Record<string, unknown>;
  delete ext.originalError;
  delete ext.stack;
  delete ext.exception;
  if (typeof ext.code !== 'string') {
    const variable = variableViolation(error.message);
    if (variable) {
      ext.code = ErrorCode.BAD_USER_INPUT;
      ext.violations = [variable];
    } else {
      ext.code = error.message.startsWith('Syntax Error') ? GraphQLCode.GRAPHQL_PARSE_FAILED : GraphQLCode.GRAPHQL_VALIDATION_FAILED;
    }
  }
  return error;
}
