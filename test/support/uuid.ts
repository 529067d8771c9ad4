/** Reading UUIDv7s back, for the tests of src/events/uuid.ts. */
import { normalizeUuid } from '../../src/events/uuid.ts';

/** The unix-ms timestamp embedded in a UUIDv7. */
export function uuidv7Timestamp(uuid: string): number {
  const hex = normalizeUuid(uuid).replace(/-/g, '');
  return Number.parseInt(hex.slice(0, 12), 16);
}
