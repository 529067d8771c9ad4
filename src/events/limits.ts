/** Input limits of `AuditEventInput` (see validate.ts); exported so docs and tests quote one source. */
export const LIMITS = {
  /** Identifiers and names, in Unicode code points. */
  identifierMaxChars: 128,
  /**
   * correlationId is a component of every timeline key: percent-encoding triples its UTF-8
   * bytes, and immudb caps keys at 1024 bytes, so its UTF-8 length is capped too.
   */
  correlationIdMaxBytes: 256,
  /** errorMessage, in code points. */
  freeTextMaxChars: 1024,
  /** UTF-8 bytes of `data`'s canonical JSON. */
  dataMaxBytes: 64 * 1024,
  /** Container nesting of `data` (`[]` is 1). */
  dataMaxDepth: 32,
  durationMsMax: 2 ** 31 - 1,
  /** How far `timestamp` may be ahead of the server clock (client clock skew). */
  maxFutureSkewMs: 5 * 60 * 1000,
  maxBatch: 1000,
  /** How many problems inside one `data` value are reported before giving up. */
  dataMaxIssues: 10,
} as const;

/**
 * Upper bound of an encoded record (canonical JSON): 64 KiB of data plus every other field at
 * its limit with worst-case escaping, rounded up. The ledger's max value length must be ≥ this.
 */
export const MAX_RECORD_BYTES = 96 * 1024;
