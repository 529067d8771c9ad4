import { describe, expect, it } from 'vitest';
import { isSupportedImmudbVersion, parseImmudbVersion, SUPPORTED_IMMUDB_VERSIONS, unsupportedImmudbVersion } from '../../src/ledger/immudb/version.ts';

const RANGE = 'auditgraph supports immudb 1.10.x and 1.11.x (>= 1.10.0 and < 1.12.0)';

describe('immudb version range', () => {
  it('is one constant: 1.10.0 up to, not including, 1.12.0', () => {
    expect(SUPPORTED_IMMUDB_VERSIONS).toEqual({ min: '1.10.0', below: '1.12.0', text: '1.10.x and 1.11.x' });
  });

  it.each([
    // What immudb's Health reports: "<version>-<commit>", with an empty commit for a plain build.
    ['1.11.1-', { major: 1, minor: 11, patch: 1 }],
    ['1.10.0-a1b2c3d', { major: 1, minor: 10, patch: 0 }],
    ['1.11.1', { major: 1, minor: 11, patch: 1 }],
    ['v1.10.0', { major: 1, minor: 10, patch: 0 }],
    ['V1.10.0', { major: 1, minor: 10, patch: 0 }],
    ['1.11.1-rc1', { major: 1, minor: 11, patch: 1 }],
    ['1.11.1-rc.1+build.5', { major: 1, minor: 11, patch: 1 }],
    ['1.11.1+build', { major: 1, minor: 11, patch: 1 }],
    [' 1.10.3 \n', { major: 1, minor: 10, patch: 3 }],
    ['1.1.0-', { major: 1, minor: 1, patch: 0 }],
  ])('parses %j', (text, version) => {
    expect(parseImmudbVersion(text)).toEqual(version);
  });

  it.each([
    '',
    ' ',
    '-',
    'dev',
    'latest',
    '1.10',
    '1',
    '1.10.0.1',
    '1.x.0',
    'v',
    '1.10.0 (commit)',
    '1.10.0_rc1',
    '01.1O.0',
    '1.10.0-rc 1',
    'x1.10.0',
    '1.10.0\n1.1.0',
    '1234567890.0.0',
  ])('refuses %j as no version', (text) => {
    expect(parseImmudbVersion(text)).toBeNull();
  });

  it.each([
    ['1.10.0', true],
    ['1.10.0-rc1', true], // the suffix is immudb's commit: only the release triple is compared
    ['v1.10.7', true],
    ['1.11.1-', true],
    ['1.11.99', true],
    ['1.9.5', false],
    ['1.9.99-a1b2c3d', false],
    ['1.1.0', false],
    ['1.12.0', false],
    ['1.12.0-rc1', false],
    ['2.0.0', false],
    ['0.10.0', false],
  ])('%s supported: %s', (text, supported) => {
    expect(isSupportedImmudbVersion(parseImmudbVersion(text)!)).toBe(supported);
  });

  it('explains a refusal with the version and the range, and accepts the supported ones', () => {
    const server = 'immudb at 127.0.0.1:3322';
    expect(unsupportedImmudbVersion('1.11.1-', server)).toBeNull();
    expect(unsupportedImmudbVersion('1.10.0-a1b2c3d', server)).toBeNull();
    expect(unsupportedImmudbVersion('1.1.0-', server)).toBe(`immudb at 127.0.0.1:3322 is version 1.1.0; ${RANGE}`);
    expect(unsupportedImmudbVersion('1.12.0', server)).toBe(`immudb at 127.0.0.1:3322 is version 1.12.0; ${RANGE}`);
    expect(unsupportedImmudbVersion('', server)).toBe(`immudb at 127.0.0.1:3322 reports version "", which is not a version number; ${RANGE}`);
    expect(unsupportedImmudbVersion('dev', server)).toBe(`immudb at 127.0.0.1:3322 reports version "dev", which is not a version number; ${RANGE}`);
  });

  it('quotes and cuts what the server reports: no control characters or pages of text in a message', () => {
    const message = unsupportedImmudbVersion(`evil\n\u001b[2J${'x'.repeat(500)}`, 'immudb at h:1')!;
    expect(message).not.toContain('\n');
    expect(message).not.toContain('\u001b');
    expect(message.length).toBeLessThan(250);
    expect(message).toContain('"evil\\n\\u001b[2J');
  });
});
