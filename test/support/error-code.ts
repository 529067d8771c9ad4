/** What a call ends with: 'ok', or the `code` of what it threw (an AuditError's), or the error as text. */
export function codeOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}
