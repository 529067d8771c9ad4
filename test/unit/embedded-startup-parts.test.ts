/**
 * The pure pieces the embedded ledger's start-up leans on for speed: the allocation-free SHA-256
 * (pinned to node:crypto), the AHTree fed pre-hashed leaves and that SHA-256 (same nodes as the
 * plain tree), typed columns, and the prefix interner.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { Column } from '../../src/ledger/embedded/column.ts';
import { Latin1Interner } from '../../src/ledger/embedded/event-index.ts';
import { createSha256 } from '../../src/ledger/sha256.mjs';
import { AHTree, ahtLeaf } from '../../src/proof/ahtree.ts';

const nodeSha = (b: Uint8Array) => createHash('sha256').update(b).digest();

describe('sha256.mjs', () => {
  const { hashInto } = createSha256();

  it('equals node:crypto for every length 0..300 and at any offsets (padding across block edges)', () => {
    for (let len = 0; len <= 300; len++) {
      const src = randomBytes(len + 7);
      const out = Buffer.alloc(40, 0xee);
      hashInto(src, 3, 3 + len, out, 5);
      expect(out.subarray(5, 37).toString('hex'), `length ${len}`).toBe(nodeSha(src.subarray(3, 3 + len)).toString('hex'));
      expect(out[4]).toBe(0xee); // nothing outside the 32 bytes
      expect(out[37]).toBe(0xee);
    }
  });

  it('equals node:crypto on long inputs and on the FIPS 180-2 vectors', () => {
    const out = Buffer.alloc(32);
    for (const len of [1000, 4096, 65_537, 1_000_003]) {
      const src = randomBytes(len);
      hashInto(src, 0, len, out, 0);
      expect(out.equals(nodeSha(src)), `length ${len}`).toBe(true);
    }
    hashInto(Buffer.from('abc'), 0, 3, out, 0);
    expect(out.toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    hashInto(Buffer.alloc(0), 0, 0, out, 0);
    expect(out.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('hashes in place (output over its own input) and refuses ranges out of bounds', () => {
    const b = randomBytes(72);
    const want = nodeSha(b);
    hashInto(b, 0, 72, b, 0);
    expect(b.subarray(0, 32).equals(want)).toBe(true);
    expect(() => hashInto(b, 0, 73, Buffer.alloc(32), 0)).toThrow(RangeError);
    expect(() => hashInto(b, 5, 4, Buffer.alloc(32), 0)).toThrow(RangeError);
    expect(() => hashInto(b, 0, 8, Buffer.alloc(32), 1)).toThrow(RangeError);
  });
});

describe('AHTree appends with pre-hashed leaves and an injected SHA-256', () => {
  it('builds the same nodes, roots and proofs as the plain tree', () => {
    const { hashInto } = createSha256();
    const plain = new AHTree();
    const fast = new AHTree(hashInto);
    const pairs = Buffer.alloc(64);
    for (let n = 1; n <= 1100; n++) {
      const data = randomBytes(32);
      plain.append(data);
      ahtLeaf(data).copy(pairs, 32);
      expect(fast.appendLeafHash(pairs, 32)).toBe(n);
    }
    expect(fast.nodes().equals(plain.nodes())).toBe(true);
    for (const n of [1, 2, 3, 64, 513, 1024, 1100]) expect(fast.root(n).equals(plain.root(n))).toBe(true);
    expect(fast.inclusionProof(7, 1100).map((b) => b.toString('hex'))).toEqual(plain.inclusionProof(7, 1100).map((b) => b.toString('hex')));
    expect(() => fast.appendLeafHash(pairs, 33)).toThrow(RangeError);
  });
});

describe('Column', () => {
  it('grows, keeps every value, and checks get() bounds', () => {
    const c = new Column(undefined, 2);
    const u = new Column((n) => new Uint32Array(n), 1);
    for (let i = 0; i < 5000; i++) {
      c.push(i * 1e9 + 0.5);
      u.push(i * 3);
    }
    expect(c.length).toBe(5000);
    expect(c.get(4999)).toBe(4999 * 1e9 + 0.5);
    expect(c.data[1234]).toBe(1234 * 1e9 + 0.5);
    expect(u.get(17)).toBe(51);
    expect(u.data).toBeInstanceOf(Uint32Array);
    expect(() => c.get(5000)).toThrow(RangeError);
    expect(() => c.get(-1)).toThrow(RangeError);
    const early = c.data;
    for (let i = 0; i < 20_000; i++) c.push(i);
    expect(early[4999]).toBe(4999 * 1e9 + 0.5); // a reference taken before growth keeps what it had
    expect(Column.of(0, 7).get(1)).toBe(7);
  });
});

describe('Latin1Interner', () => {
  it('returns the latin1 text of the span, the same string object for the same bytes', () => {
    const it8 = new Latin1Interner();
    const buf = Buffer.from('xx\u0000tl/rr-1/yy\u0000tl/rr-1/\u00ff\u00e9', 'latin1');
    const a = it8.intern(buf, 3, 11);
    const b = it8.intern(buf, 14, 22);
    expect(a).toBe('tl/rr-1/');
    expect(b).toBe(a);
    expect(it8.size).toBe(1);
    expect(it8.intern(buf, 22, 24)).toBe('\u00ff\u00e9');
    expect(it8.intern(buf, 3, 3)).toBe('');
  });

  it('never confuses spans: many distinct keys (growth, collisions), same answers as toString', () => {
    const it8 = new Latin1Interner(1000);
    const keys = Array.from({ length: 3000 }, (_, i) => Buffer.from(`tl/${(i * 7919).toString(36)}/`, 'latin1'));
    for (let round = 0; round < 3; round++) {
      for (const k of keys) expect(it8.intern(k, 0, k.length)).toBe(k.toString('latin1'));
    }
    expect(it8.size).toBe(1000); // capped; past that, fresh strings
    const long = Buffer.alloc(300, 0x61);
    expect(it8.intern(long, 0, 300)).toBe('a'.repeat(300));
  });
});
