import { ValidationError } from '../../errors.ts';
import { isUuid, normalizeUuid } from '../../events/uuid.ts';

/** An eventId argument: a UUID, normalized to lowercase; anything else is BAD_USER_INPUT at `path`. */
export function parseEventId(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length > 64 || !isUuid(value)) throw new ValidationError([{ path, message: 'must be a UUID' }]);
  return normalizeUuid(value);
}

/** A ledger key as printable ASCII: bytes 0x21–0x7E as they are (except `\`), others `\xHH`. */
export function printableKey(key: Uint8Array): string {
  let out = '';
  for (const b of key) {
    if (b === 0x5c) out += '\\\\';
    else if (b >= 0x21 && b <= 0x7e) out += String.fromCharCode(b);
    else out += `\\x${b.toString(16).padStart(2, '0')}`;
  }
  return out;
}
