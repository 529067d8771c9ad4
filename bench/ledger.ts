/**
 * Issue 2's benchmark, on immudb 1.11.1 (issue 18), every row naming its server: the gateway's
 * ledger append (group commit, one verified proof per event) — single events at concurrency 1 and
 * 32 beside immudb's own VerifiableSet of one entry with nothing checked (immudb-node's
 * verifiedSet, the raw row of 1.1, cannot check 1.10/1.11 proofs), and batches of 100 at
 * concurrency 1, 4 and 8 beside the floor of a verified batch — the very two calls the gateway
 * makes per batch (ExecAll, VerifiableTxById), encoded beforehand, nothing checked — on the same
 * server and on each floor server (immudb 1.10.0), and beside raw unverified setAll calls of the
 * same 200 entries. Cases of one table take turns slice by slice (harness `measureInSlices`).
 * Batch rows carry this process's CPU per batch (the gateway's, or the bare client's), which
 * immudb shares the cores with.
 */
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord } from '../src/events/canonical.ts';
import { validateEventInput } from '../src/events/validate.ts';
import type { ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { eventWrite } from '../src/ledger/immudb/immudb-ledger.ts';
import { decodeTxMetadata, decodeVerifiableTx } from '../src/ledger/immudb/wire-decode.ts';
import { encodeExecAllRequest, encodeVerifiableTxRequest } from '../src/ledger/immudb/wire-encode.ts';
import { sampleEventInput } from './fixtures.ts';
import { measureInSlices, printTable, type Result, type SliceCase } from './harness.ts';
import { encodeSetRequest, encodeVerifiableSetRequest, gatewayDatabase, openGatewayLedger, serverLabel, type BenchServer, type BenchTarget } from './immudb.ts';

const require = createRequire(import.meta.url);
const ImmudbClient = (require('immudb-node') as typeof import('immudb-node')).default;

const event = (i: number) => validateEventInput(sampleEventInput(i, { correlationId: `rr-bench-${i % 50}` }));

/** Rounds of a table's slices: every case runs this many slices, in turns. */
const ROUNDS = 4;

/** The floor of a verified batch on `server`: ExecAll of 100 events' writes (encoded beforehand) then VerifiableTxById from the last tx proven. */
async function batchFloor(server: BenchServer, name: string, batches: number) {
  const session = await gatewayDatabase(server, name);
  const execAll = (b: number) => encodeExecAllRequest(Array.from({ length: 100 }, (_, j) => eventWrite(event(b * 100 + j).record)));
  const requests = Array.from({ length: batches }, (_, b) => execAll(b));
  let proven = 0;
  let next = 0;
  return {
    session,
    op: async () => {
      const txId = decodeTxMetadata(await session.callBytes('ExecAll', requests[next++]!)).id;
      await session.callBytes('VerifiableTxById', encodeVerifiableTxRequest(txId, proven || txId));
      proven = Math.max(proven, txId);
    },
  };
}

const cpuNamed = (r: Result): Result => ({ ...r, name: `${r.name} [this process: ${(r.cpuMsPerOp ?? 0).toFixed(1)} ms CPU a batch]` });

export async function benchLedger(target: BenchTarget, scale = 1): Promise<Result[]> {
  const { address } = target;
  const [host, port] = address.split(':');
  const server = serverLabel(target);
  const tag = Date.now().toString(36);
  const payloads = Array.from({ length: 4000 }, (_, i) => Buffer.from(encodeRecord(event(i).record)));
  const ledger = await openGatewayLedger(target, `ledgerbench${tag}`);
  const sessions: ImmudbSession[] = [];
  const rows: Result[] = [];
  try {
    // Single events: immudb's VerifiableSet of one entry (the event's payload under its own key),
    // hand-encoded, proven from the last tx it answered, nothing checked — beside the gateway.
    const single = await gatewayDatabase(target, `singlebench${tag}`);
    sessions.push(single);
    let proven = 0; // as a client does: each proof from the last tx it was answered
    for (const c of [1, 32]) {
      const total = (c === 1 ? 300 : 2000) * scale;
      rows.push(
        ...(await measureInSlices(ROUNDS, Math.ceil(total / ROUNDS), [
          {
            name: `immudb VerifiableSet, 1 entry, nothing checked, concurrency ${c}`,
            server,
            concurrency: c,
            op: async (i) => {
              proven = Math.max(proven, await rawVerifiableSet(single, `raw/${c}/${i}`, payloads[i % payloads.length]!, proven));
            },
          },
          { name: `ledger append (1 event), concurrency ${c}`, server, concurrency: c, op: (i) => ledger.append([event(c * 1_000_000 + i)]) },
        ])),
      );
    }

    // Batches of 100: the gateway; the floor of a verified batch on this server and on each floor
    // server; immudb-node's unverified setAll of the same 200 entries (each event's timeline entry
    // and its id entry; the server's ceiling for such batches, no proof at all).
    const raw = await (async () => {
      const rawDb = `rawbench${tag}`;
      sessions.push(await gatewayDatabase(target, rawDb)); // created with the gateway's settings
      return ImmudbClient.getInstance({
        host: host!,
        port: Number(port),
        user: 'immudb',
        password: 'immudb',
        database: rawDb,
        rootPath: join(mkdtempSync(join(tmpdir(), 'immudb-node-')), 'root'),
      });
    })();
    let k = 0;
    const setAll = async () => {
      const kvsList = Array.from({ length: 200 }, (_, j) => {
        const i = k++;
        return j % 2 === 0
          ? { key: `raw/all/${i}`, value: payloads[i % payloads.length]!.toString('utf8') }
          : { key: `raw/id/${i}`, value: `raw/all/${i - 1}` };
      });
      if (!(await raw.setAll({ kvsList }))) throw new Error('setAll failed');
    };
    const perSlice = Math.ceil((100 * scale) / ROUNDS);
    const batches = perSlice * ROUNDS;
    let b = 0;
    for (const c of [1, 4, 8]) {
      const floors = [];
      for (const s of [target, ...target.floors]) {
        const f = await batchFloor(s, `floorbench${c}x${tag}`, batches);
        sessions.push(f.session);
        floors.push({
          name: `floor: ExecAll of 100 events + VerifiableTxById, nothing checked, concurrency ${c}`,
          server: serverLabel(s),
          concurrency: c,
          eventsPerOp: 100,
          op: f.op,
        });
      }
      const cases: SliceCase[] = [
        {
          name: `ledger append (batch of 100), concurrency ${c}`,
          server,
          concurrency: c,
          eventsPerOp: 100,
          op: () => {
            const from = b++ * 100;
            return ledger.append(Array.from({ length: 100 }, (_, j) => event(10_000_000 + from + j)));
          },
        },
        ...floors,
        { name: `immudb-node setAll, 200 entries (100 events' worth, no proof), concurrency ${c}`, server, concurrency: c, eventsPerOp: 100, op: setAll },
      ];
      rows.push(...(await measureInSlices(ROUNDS, perSlice, cases)).map(cpuNamed));
    }
    // not raw.shutdown(): immudb-node's shutdown() calls process.exit(0)
    raw.client.close();
  } finally {
    for (const s of sessions) s.close();
    await ledger.close();
  }
  printTable(`Ledger writes on immudb ${target.version} at ${address} (every event verified; floors nothing checked)`, rows);
  return rows;
}

/** VerifiableSet of one entry proven from `since` (0: from itself); only the tx id is read from the reply, nothing checked. */
async function rawVerifiableSet(session: ImmudbSession, key: string, value: Buffer, since: number): Promise<number> {
  const reply = await session.callBytes('VerifiableSet', encodeVerifiableSetRequest(encodeSetRequest([{ key: Buffer.from(key), value }]), since));
  return decodeVerifiableTx(reply).header.id;
}
