/**
 * Issue 18's write-shape probe (`BENCH_ONLY=shape npm run bench`): what a batch of 100 events
 * costs on immudb 1.11 in each way of writing it, at each syncFrequency of the database, taking
 * turns slice by slice (harness `measureInSlices`) in one run. Databases are created with
 * CreateDatabaseV2 (maxTxEntries as the gateway's, syncFrequency as the case says, or left to
 * immudb's default, 20 ms). Shapes, per event a timeline entry (key as keys.ts, value a canonical
 * record) and an id key `ev/<eventId>`:
 *
 * - `ExecAll ref`: the gateway's of issue 2 — ExecAll of the KeyValue and an unbound reference
 *   id → timeline key;
 * - `ExecAll ref+NX`: the same with a KeyMustNotExist precondition on every id key;
 * - `SetAll NX`: one SetRequest of the timeline entry and a plain id entry whose value is the
 *   timeline key, KeyMustNotExist on every id key;
 * - `SetAll NX noWait`: the same with noWait (the write does not wait for its own indexing; reads
 *   then ask sinceTx);
 * - `SetAll (no NX)`: the SetRequest without preconditions (idempotency left to the gateway), to
 *   show what the preconditions cost.
 *
 * Each "verified" (then VerifiableTxById from the last tx proven, nothing checked: the floor of a
 * verified batch in that shape) and "raw" (the write alone). Requests are encoded before the
 * clock starts. Rows carry this process's CPU and immudb's (/proc) per batch. Before the runs, each shape is checked
 * once for what it keeps: one tx per batch, a second write of an id refused, nothing of a refused
 * batch written, and how many calls a read by id takes.
 *
 * BENCH_SHAPE_SYNC (default `default,10,5,2,0`: ms, `default` = not set), BENCH_SHAPE_CONCURRENCY
 * (default `1,4,8`), BENCH_SHAPE_SHAPES (default all: execall,execall-nx,setall-plain,setall,setall-nowait);
 * BENCH_SCALE multiplies the batches (6 slices of max(12, 3 × concurrency) a case at 1).
 */
import { encodeRecord } from '../src/events/canonical.ts';
import { validateEventInput } from '../src/events/validate.ts';
import { GATEWAY_DB_MAX_TX_ENTRIES } from '../src/ledger/immudb/index.ts';
import { ImmudbError, type ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { eventIdKey, timelineKey } from '../src/ledger/keys.ts';
import { decodeEntries, decodeTxMetadata } from '../src/ledger/immudb/wire-decode.ts';
import { encodeKeyListRequest, encodeVerifiableTxRequest, type WireEventWrite } from '../src/ledger/immudb/wire-encode.ts';
import { sampleEventInput } from './fixtures.ts';
import { measureInSlices, printMarkdownTable, type Result, type SliceCase } from './harness.ts';
import { createDatabase, encodeSetRequest, serverLabel, type BenchTarget } from './immudb.ts';
import { pidListening, processCpuMs } from './live.ts';

type Shape = 'execall' | 'execall-nx' | 'setall-plain' | 'setall' | 'setall-nowait';
const SHAPE_NAMES: Record<Shape, string> = {
  execall: 'ExecAll ref',
  'execall-nx': 'ExecAll ref+NX',
  'setall-plain': 'SetAll (no NX)',
  setall: 'SetAll NX',
  'setall-nowait': 'SetAll NX noWait',
};
const EVENTS = 100;

const field = (tag: number, body: Buffer) => Buffer.concat([Buffer.from([tag]), varint(body.length), body]);
function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n > 0x7f; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return Buffer.from(out);
}
/**
 * ExecAllRequest { repeated Op Operations = 1; repeated Precondition preconditions = 3 }: per event
 * Op { KeyValue kv = 1 { key = 1; value = 2 } } and Op { ReferenceRequest ref = 3 { key = 1 (the
 * id key); referencedKey = 2 } } (unbound); with `nx`, Precondition { keyMustNotExist = 2 { key =
 * 1 } } on every id key. Encoded here, not with wire-encode.ts, so that the shapes stay fixed whatever
 * the gateway sends.
 */
function encodeExecAll(w: readonly WireEventWrite[], nx: boolean): Buffer {
  const parts: Buffer[] = [];
  for (const e of w) {
    parts.push(field(0x0a, field(0x0a, Buffer.concat([field(0x0a, e.key), field(0x12, e.value)]))));
    parts.push(field(0x0a, field(0x1a, Buffer.concat([field(0x0a, e.idKey), field(0x12, e.key)]))));
  }
  if (nx) for (const e of w) parts.push(field(0x1a, field(0x12, field(0x0a, e.idKey))));
  return Buffer.concat(parts);
}

/** 1,000 canonical records of the sample event: the values written (immudb does not read them). */
const POOL = Array.from({ length: 1000 }, (_, i) => encodeRecord(validateEventInput(sampleEventInput(i)).record));
const T0 = Date.UTC(2025, 0, 1);

/** Events `from`…`from+count-1` of database `db`: unique ids and timeline keys, values from the pool. */
function writes(db: number, from: number, count = EVENTS): WireEventWrite[] {
  return Array.from({ length: count }, (_, j) => {
    const n = from + j;
    const eventId = `${db.toString(16).padStart(8, '0')}-0000-7000-8000-${n.toString(16).padStart(12, '0')}`;
    const key = timelineKey(`rr-shape-${n % 50}`, new Date(T0 + n).toISOString(), eventId);
    return { key, value: POOL[n % POOL.length]!, idKey: eventIdKey(eventId) };
  });
}

function encodeWrite(shape: Shape, w: WireEventWrite[]): { method: 'ExecAll' | 'Set'; body: Buffer } {
  switch (shape) {
    case 'execall':
      return { method: 'ExecAll', body: encodeExecAll(w, false) };
    case 'execall-nx':
      return { method: 'ExecAll', body: encodeExecAll(w, true) };
    case 'setall-plain':
    case 'setall':
    case 'setall-nowait': {
      const kvs = w.flatMap((e) => [
        { key: e.key, value: e.value },
        { key: e.idKey, value: e.key },
      ]);
      const body = encodeSetRequest(kvs, shape === 'setall-plain' ? [] : w.map((e) => e.idKey));
      return { method: 'Set', body: shape === 'setall-nowait' ? Buffer.concat([body, Buffer.from([0x10, 0x01])]) : body };
    }
  }
}

interface Db {
  shape: Shape;
  sync: number | undefined;
  index: number;
  session: ImmudbSession;
  proven: number;
  next: number;
}

const syncLabel = (sync: number | undefined) => (sync === undefined ? 'default (20 ms)' : `${sync} ms`);

/** The next batch of `db`'s shape, encoded now (before the clock starts). */
function nextRequest(db: Db): { method: 'ExecAll' | 'Set'; body: Buffer } {
  const from = db.next;
  db.next += EVENTS;
  return encodeWrite(db.shape, writes(db.index, from));
}

/** One batch: the write, then (verified) VerifiableTxById from the last tx proven. Returns the tx id. */
async function batch(db: Db, verified: boolean, { method, body }: { method: 'ExecAll' | 'Set'; body: Buffer }): Promise<number> {
  const header = decodeTxMetadata(await db.session.callBytes(method, body));
  if (verified) {
    await db.session.callBytes('VerifiableTxById', encodeVerifiableTxRequest(header.id, db.proven || header.id));
    db.proven = Math.max(db.proven, header.id);
  }
  return header.id;
}

/** What each shape keeps, checked on a database of its own at immudb's default syncFrequency. */
async function checks(target: BenchTarget, shapes: Shape[], tag: string): Promise<string[][]> {
  const out: string[][] = [];
  for (const [i, shape] of shapes.entries()) {
    const session = await createDatabase(target.address, `shapecheck${i}${tag}`, { maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES });
    try {
      const first = writes(900 + i, 0);
      const w = encodeWrite(shape, first);
      const header = decodeTxMetadata(await session.callBytes(w.method, w.body));
      // A batch of 99 new events and one already written.
      const again = [...writes(900 + i, 1000, 99), first[7]!];
      const r = encodeWrite(shape, again);
      let second: string;
      try {
        await session.callBytes(r.method, r.body);
        second = 'accepted (the id is written again)';
      } catch (e) {
        second = `refused: ${e instanceof ImmudbError ? e.message : String(e)}`;
      }
      // Was anything of the second batch written? Ask for its first new id key.
      const probe = encodeKeyListRequest([again[0]!.idKey], 0);
      let partial: string;
      try {
        partial = decodeEntries(await session.callBytes('GetAll', probe)).length > 0 ? 'yes: written' : 'no';
      } catch (e) {
        partial = e instanceof ImmudbError && /key not found/i.test(e.message) ? 'no' : `? ${String(e)}`;
      }
      // A read by id: Get(ev/<id>), then (a plain id entry) Get of the timeline key it holds.
      const get = async (key: Buffer) => {
        const body = Buffer.concat([field(0x0a, key), Buffer.from([0x18]), varint(header.id)]); // KeyRequest { key = 1; sinceTx = 3 }
        return decodeEntries(field(0x0a, await session.callBytes('Get', body)))[0]!;
      };
      let calls = 1;
      let entry = await get(first[3]!.idKey);
      if (!entry.key.equals(first[3]!.key)) {
        calls++;
        entry = await get(Buffer.from(entry.value));
      }
      const found = entry.key.equals(first[3]!.key) && entry.value.equals(first[3]!.value);
      out.push([
        SHAPE_NAMES[shape],
        `tx ${header.id}: ${header.nEntries} entries`,
        second,
        partial,
        `${calls} Get${calls > 1 ? 's' : ''}${found ? '' : ' (WRONG ENTRY)'}`,
      ]);
    } finally {
      session.close();
    }
  }
  return out;
}

export async function benchWriteShape(target: BenchTarget, scale = 1): Promise<Result[]> {
  const server = serverLabel(target);
  const syncs = (process.env.BENCH_SHAPE_SYNC ?? 'default,10,5,2,0').split(',').map((s) => (s.trim() === 'default' ? undefined : Number(s)));
  const concurrencies = (process.env.BENCH_SHAPE_CONCURRENCY ?? '1,4,8').split(',').map(Number);
  const shapes = (process.env.BENCH_SHAPE_SHAPES ?? 'execall,execall-nx,setall-plain,setall,setall-nowait').split(',').map((s) => s.trim()) as Shape[];
  for (const s of shapes) if (!(s in SHAPE_NAMES)) throw new Error(`BENCH_SHAPE_SHAPES: unknown ${s}`);
  const tag = Date.now().toString(36);

  printMarkdownTable(
    `Write shapes on ${server}: what each keeps (one database each, syncFrequency default)`,
    ['shape', 'one tx per batch of 100', 'the batch again with 1 id already written', 'any of its 99 new events written?', 'read by id'],
    await checks(target, shapes, tag),
  );

  const dbs: Db[] = [];
  try {
    for (const sync of syncs) {
      for (const shape of shapes) {
        const index = dbs.length;
        const session = await createDatabase(target.address, `shape${index}${tag}`, {
          maxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES,
          ...(sync === undefined ? {} : { syncFrequencyMs: sync }),
        });
        dbs.push({ shape, sync, index, session, proven: 0, next: 0 });
      }
    }
    const pid = pidListening(Number(target.address.split(':').at(-1)));
    const rows: { db: Db; verified: boolean; concurrency: number; r: Result }[] = [];
    const rounds = 6;
    for (const concurrency of concurrencies) {
      const perSlice = Math.max(3 * concurrency, Math.round(12 * scale));
      const cases: (SliceCase & { db: Db; verified: boolean })[] = dbs.flatMap((db) =>
        [true, false].map((verified) => {
          const requests = Array.from({ length: rounds * perSlice }, () => nextRequest(db));
          return {
            db,
            verified,
            name: `${SHAPE_NAMES[db.shape]}${verified ? ' + VerifiableTxById' : ', raw'}, sync ${syncLabel(db.sync)}, concurrency ${concurrency}`,
            server,
            concurrency,
            eventsPerOp: EVENTS,
            op: (i: number) => batch(db, verified, requests[i]!),
          };
        }),
      );
      const t0 = performance.now();
      const results = await measureInSlices(rounds, perSlice, cases, pid === null ? {} : { serverCpuMs: () => processCpuMs(pid) });
      process.stderr.write(
        `write shapes, concurrency ${concurrency}: ${cases.length} cases × ${rounds * perSlice} batches in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`,
      );
      results.forEach((r, i) => {
        rows.push({ db: cases[i]!.db, verified: cases[i]!.verified, concurrency, r });
      });
    }
    const fixed = (n: number | undefined, d: number) => (n === undefined || !Number.isFinite(n) ? '-' : n.toFixed(d));
    for (const verified of [true, false]) {
      printMarkdownTable(
        `Batches of 100 events on ${server}, ${verified ? 'write + VerifiableTxById (nothing checked)' : 'write alone (raw)'}; in turns with every other case of its concurrency`,
        [
          'shape',
          'server',
          'syncFrequency',
          'concurrency',
          'events ok',
          'failed ops',
          'events/s',
          'p50 ms',
          'p99 ms',
          'client CPU ms/batch',
          'immudb CPU ms/batch',
        ],
        rows
          .filter((x) => x.verified === verified)
          .sort(
            (a, b) =>
              a.concurrency - b.concurrency || shapes.indexOf(a.db.shape) - shapes.indexOf(b.db.shape) || syncs.indexOf(a.db.sync) - syncs.indexOf(b.db.sync),
          )
          .map(({ db, concurrency, r }) => [
            SHAPE_NAMES[db.shape],
            server,
            syncLabel(db.sync),
            String(concurrency),
            String(r.events),
            String(r.errors),
            fixed(r.eventsPerSec, 0),
            fixed(r.p50, 2),
            fixed(r.p99, 2),
            fixed(r.cpuMsPerOp, 1),
            fixed(r.serverCpuMsPerOp, 1),
          ]),
      );
    }
    return rows.map((x) => x.r);
  } finally {
    for (const db of dbs) db.session.close();
  }
}
