/**
 * The error codes of the API contract. Every failure that reaches a client carries one of
 * these as `extensions.code`; anything else is an internal error and gets masked.
 */
export const ErrorCode = {
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  EVENT_ID_CONFLICT: 'EVENT_ID_CONFLICT',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  RATE_LIMITED: 'RATE_LIMITED',
  LEDGER_UNAVAILABLE: 'LEDGER_UNAVAILABLE',
  INDEX_UNAVAILABLE: 'INDEX_UNAVAILABLE',
  VERIFICATION_FAILED: 'VERIFICATION_FAILED',
  /** A live subscription fell too far behind and was ended; `afterTxId` resumes it without a gap. */
  SUBSCRIPTION_OVERFLOW: 'SUBSCRIPTION_OVERFLOW',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One offending input field: `path` is dotted from the input root, e.g. `input.3.actorId`. */
export interface FieldViolation {
  path: string;
  message: string;
}

/** An error whose message is safe to show a client. */
export class AuditError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AuditError';
    this.code = code;
    this.details = details;
  }
}

export class ValidationError extends AuditError {
  readonly violations: FieldViolation[];
  constructor(violations: FieldViolation[]) {
    const summary = violations.map((v) => `${v.path}: ${v.message}`).join('; ');
    super(ErrorCode.BAD_USER_INPUT, `Invalid input: ${summary}`, { violations });
    this.violations = violations;
  }
}

export const ledgerUnavailable = (message: string, cause?: unknown) => new AuditError(ErrorCode.LEDGER_UNAVAILABLE, message, {}, { cause });

export const verificationFailed = (check: string, cause?: unknown) =>
  new AuditError(ErrorCode.VERIFICATION_FAILED, `Ledger verification failed: ${check}`, { check }, { cause });

export const isAuditError = (e: unknown): e is AuditError => e instanceof AuditError;

/**
 * Wrong start-up configuration (environment, token file, immudb refusing the login): not an
 * AuditError, since it never reaches a client. main.ts prints every problem at once and exits 2.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}
