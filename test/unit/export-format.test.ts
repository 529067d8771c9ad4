import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { encodeRecord } from '../../src/events/canonical.ts';
import { validateEventInput } from '../../src/events/validate.ts';
import { CSV_COLUMNS, csvCell, csvHeader, csvRow } from '../../src/export/csv.ts';
import { exportFileName, exportWindow, storedTexts, TxWindow } from '../../src/export/format.ts';
import { splitLines } from '../../src/export/lines.ts';
import { parseExportQuery } from '../../src/export/request.ts';

const q = (params: Record<string, string> | [string, string][]) => parseExportQuery(new URLSearchParams(params));
const violations = (params: Record<string, string> | [string, string][]) => {
  try {
    q(params);
  } catch (e) {
    if (e instanceof ValidationError) return e.violations;
    throw e;
  }
  throw new Error('accepted');
};

describe('export request', () => {
  it('takes a correlation or a filter, the window from the parameters or the filter, ndjson by default', () => {
    expect(q({ correlationId: 'rr-1' })).toMatchObject({ format: 'ndjson', selection: { correlationId: 'rr-1' }, indexFilter: null, since: null, until: null });
    const f = q({
      format: 'csv',
      filter: JSON.stringify({ outcome: ['FAILURE', 'SUCCESS', 'FAILURE'], actorId: ['b', 'a'] }),
      since: '2025-01-01T00:00:00+02:00',
    });
    expect(f.format).toBe('csv');
    // Normalized: sorted, distinct values; the window in ms, as the header states it.
    expect(f.selection).toEqual({ filter: { actorId: ['a', 'b'], outcome: ['FAILURE', 'SUCCESS'] } });
    expect(f.since).toBe(Date.parse('2024-12-31T22:00:00.000Z'));
    expect(f.indexFilter).toMatchObject({ outcome: ['FAILURE', 'SUCCESS', 'FAILURE'], since: '2025-01-01T00:00:00+02:00' });
    expect(q({ filter: JSON.stringify({ until: '2025-01-01T00:00:00Z' }) }).until).toBe(Date.parse('2025-01-01T00:00:00Z'));
    // Neither: every event, through the index.
    expect(q({})).toMatchObject({ selection: { filter: {} }, indexFilter: {} });
  });

  it('reports every bad parameter at once, at its path, as GraphQL reports the same input', () => {
    expect(violations({ filter: '{"outcome": [' })).toEqual([{ path: 'filter', message: expect.stringMatching(/^is not JSON/) }]);
    expect(violations({ filter: '[1]' })).toEqual([{ path: 'filter', message: 'must be a JSON object (an AuditEventFilter)' }]);
    expect(violations({ filter: JSON.stringify({ colour: ['red'], outcome: ['MAYBE'] }) }).map((v) => v.path)).toEqual(['filter.colour', 'filter.outcome.0']);
    expect(violations({ correlationId: 'a', since: '2025-02-01T00:00:00Z', until: '2025-01-01T00:00:00Z' })).toEqual([
      { path: 'since', message: 'must not be after until' },
    ]);
    expect(violations({ filter: '{}', since: '2025-02-01T00:00:00Z', until: '2025-01-01T00:00:00Z' })).toEqual([
      { path: 'since', message: 'must not be after until' },
    ]);
    expect(violations({ correlationId: '', format: 'xml', since: 'yesterday' }).map((v) => v.path)).toEqual(['format', 'correlationId', 'since']);
    expect(violations({ correlationId: 'a', filter: '{}' }).map((v) => v.path)).toEqual(['filter']);
    expect(violations({ filter: JSON.stringify({ since: '2025-01-01T00:00:00Z' }), since: '2025-01-01T00:00:00Z' }).map((v) => v.path)).toEqual([
      'filter.since',
    ]);
    expect(
      violations([
        ['correlationId', 'a'],
        ['correlationId', 'b'],
        ['first', '5'],
      ]).map((v) => v.path),
    ).toEqual(['correlationId', 'first']);
  });

  it('states the window with bounds no stored event lies beyond dropped, and an empty one kept empty', () => {
    expect(exportWindow(-5, 253402300800000)).toEqual({ since: null, until: null });
    expect(exportWindow(253402300800000, null)).toEqual({ since: 253402300799999, until: 253402300799999 });
    expect(exportWindow(null, -1)).toEqual({ since: null, until: 0 });
    expect(exportWindow(10, 20)).toEqual({ since: 10, until: 20 });
  });

  it('names files in plain characters', () => {
    expect(exportFileName('default db', { correlationId: 'rr/1 ✓' }, '42', 'ndjson')).toBe('auditgraph-default_db-rr_1__-tx42.ndjson');
    expect(exportFileName('d', { filter: {} }, '1', 'csv')).toBe('auditgraph-d-all-tx1.csv');
    expect(exportFileName('d', { filter: { outcome: ['FAILURE'] } }, '1', 'csv')).toMatch(/^auditgraph-d-filter-[0-9a-f]{12}-tx1\.csv$/);
  });
});

describe('export format', () => {
  it('keeps a window of the K most recently used txs', () => {
    const w = new TxWindow<number>(2);
    w.add('1', 1);
    w.add('2', 2);
    expect(w.use('1')).toBe(1); // 1 is now the most recent
    w.add('3', 3); // 2 goes
    expect([w.has('1'), w.has('2'), w.has('3')]).toEqual([true, false, true]);
    expect(w.use('2')).toBeUndefined();
    expect(() => new TxWindow(0)).toThrow(RangeError);
  });

  it('knows the texts a record may be stored as, the canonical one among the first two', () => {
    const r = validateEventInput({ eventType: 'a.b', eventCategory: 'c', outcome: 'SUCCESS', correlationId: 'x', actorType: 't', actorId: 'i' }).record;
    const texts = [...storedTexts(r)];
    expect(texts.slice(0, 2)).toContain(encodeRecord(r).toString());
    // Written before recordedBy existed: the canonical text without it.
    expect(JSON.parse(texts.at(-1)!)).not.toHaveProperty('recordedBy');
    expect([...storedTexts({ ...r, recordedBy: 'svc' })].some((t) => t.includes('recordedBy'))).toBe(true);
    // A record read back from the ledger has its keys in order: the first guess is the stored text.
    const decoded = JSON.parse(encodeRecord(r).toString());
    expect([...storedTexts(decoded)][0]).toBe(encodeRecord(r).toString());
  });

  it('splits a byte stream into exact lines, marking a cut last line and cutting overlong ones', async () => {
    const lines = async (chunks: string[], max = 100) => {
      const out: [string, boolean][] = [];
      for await (const l of splitLines(chunks, max)) out.push([l.bytes.toString('latin1'), l.terminated]);
      return out;
    };
    expect(await lines(['a\r\nb', 'c\n', '\n', 'd'])).toEqual([
      ['a\r', true],
      ['bc', true],
      ['', true],
      ['d', false],
    ]);
    expect(await lines(['x\n'])).toEqual([['x', true]]);
    expect(await lines(['abcdefgh', 'ij\nk\n'], 4)).toEqual([
      ['abcde', true],
      ['k', true],
    ]);
  });
});

describe('export CSV', () => {
  it('quotes per RFC 4180 and defuses spreadsheet formulas', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\r\nlines')).toBe('"two\r\nlines"');
    for (const f of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx']) expect(csvCell(f).replace(/^"|"$/g, '')).toBe(`'${f}`);
    expect(csvCell(null)).toBe('');
    expect(csvCell(12)).toBe('12');
  });

  it('round-trips awkward values through a real CSV parser', () => {
    const awkward = ['quotes "x" and ""', 'a, b, c', 'line one\nline two\r\nthree', '=HYPERLINK("http://x")', 'ünïcødé ✓ 🚀 𝔘', '-5', '@me'];
    const records = awkward.map(
      (s, i) =>
        validateEventInput({
          eventType: 'a.b',
          eventCategory: 'c',
          outcome: 'FAILURE',
          correlationId: `rr-${i}`,
          actorType: 'user',
          actorId: s,
          errorMessage: s,
          data: { s, n: [1, -2.5] },
        }).record,
    );
    const text = csvHeader() + records.map((r, i) => csvRow(r, { txId: String(i + 1), key: Buffer.from(`tl/rr-${i}/x`), recordedAt: null })).join('');
    const rows = parse(text, { bom: true, columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([...CSV_COLUMNS]);
    const undefuse = (s: string) => (/^'[=+\-@\t\r]/.test(s) ? s.slice(1) : s);
    rows.forEach((row, i) => {
      const r = records[i]!;
      expect(undefuse(row.actorId!)).toBe(awkward[i]);
      expect(undefuse(row.errorMessage!)).toBe(awkward[i]);
      expect(JSON.parse(row.data!)).toEqual(r.data);
      expect(row).toMatchObject({ eventId: r.eventId, outcome: 'FAILURE', correlationId: `rr-${i}`, severity: '', txId: String(i + 1), key: `tl/rr-${i}/x` });
    });
    // Defused: no cell reaches a spreadsheet starting with a formula character.
    for (const row of rows) for (const v of Object.values(row)) expect(v).not.toMatch(/^[=+\-@\t\r]/);
  });
});
