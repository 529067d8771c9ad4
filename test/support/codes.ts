/** Reading a whole index member's codes back, for the tests (src/ reads one field at a time: memberCode). */
import { CODED_FIELDS, memberCode, type Codes } from '../../src/index/codes.ts';

export function unpackCodes(member: string): Codes {
  return Object.fromEntries(CODED_FIELDS.map((f) => [f, memberCode(member, f)])) as Codes;
}
