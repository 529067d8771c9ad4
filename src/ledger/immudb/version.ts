/**
 * Which immudb servers the gateway talks to. Its wire format (tx header versions 0 and 1, KV
 * metadata, CreateDatabaseV2) and its proofs are immudb 1.10/1.11's, so it refuses any other
 * server at connect time rather than misreading one later. Pure: no I/O.
 */

/** The supported range: `min` ≤ version < `below`. */
export const SUPPORTED_IMMUDB_VERSIONS = { min: '1.10.0', below: '1.12.0', text: '1.10.x and 1.11.x' } as const;

export interface ImmudbVersion {
  major: number;
  minor: number;
  patch: number;
}

// immudb's Health reports `<version>-<commit>` ("1.11.1-a1b2c3d", or "1.11.1-" for a build without
// a commit), so a suffix is not read as a semver pre-release: it is ignored, and only the release
// triple is compared. An optional leading "v" as in git tags.
const VERSION = /^v?(\d{1,9})\.(\d{1,9})\.(\d{1,9})(?:[-+][0-9A-Za-z.+-]*)?$/i;

/** The release triple of a version string, or null when it is not one ("", "dev", "1.10"). */
export function parseImmudbVersion(text: string): ImmudbVersion | null {
  const m = VERSION.exec(text.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : null;
}

const compare = (a: ImmudbVersion, b: ImmudbVersion) => a.major - b.major || a.minor - b.minor || a.patch - b.patch;
const MIN = parseImmudbVersion(SUPPORTED_IMMUDB_VERSIONS.min)!;
const BELOW = parseImmudbVersion(SUPPORTED_IMMUDB_VERSIONS.below)!;

export const isSupportedImmudbVersion = (v: ImmudbVersion) => compare(v, MIN) >= 0 && compare(v, BELOW) < 0;

export const formatImmudbVersion = (v: ImmudbVersion) => `${v.major}.${v.minor}.${v.patch}`;

const RANGE = `auditgraph supports immudb ${SUPPORTED_IMMUDB_VERSIONS.text} (>= ${SUPPORTED_IMMUDB_VERSIONS.min} and < ${SUPPORTED_IMMUDB_VERSIONS.below})`;

/**
 * Why a server reporting `reported` is refused, or null when it is supported. `server` names it
 * ("immudb at 127.0.0.1:3322"). The reported text comes from the network: it is quoted and cut short.
 */
export function unsupportedImmudbVersion(reported: string, server: string): string | null {
  const v = parseImmudbVersion(reported);
  if (v && isSupportedImmudbVersion(v)) return null;
  if (v) return `${server} is version ${formatImmudbVersion(v)}; ${RANGE}`;
  const shown = JSON.stringify(reported.length > 64 ? `${reported.slice(0, 64)}…` : reported);
  return `${server} reports version ${shown}, which is not a version number; ${RANGE}`;
}
