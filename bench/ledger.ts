/**
 * Issue 2's benchmark: on one immudb, raw immudb-node verifiedSet against the gateway's ledger
 * append (group commit, one verified proof per event) — single events at concurrency 1 and 32,
 * and batches of 100, beside raw unverified setAll calls of the same 200 entries (the server's
 * own ceiling for such batches on this machine) and the floor of a verified batch: the very two
 * calls the gateway makes per batch, encoded beforehand, with nothing checked. Batch rows carry
 * this process's CPU per batch (the gateway's, or the bare client's), which immudb shares the
 * cores with.
 */
import { createRequire } from 'node:module';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord } from '../src/events/canonical.ts';
import { validateEventInput } from '../src/events/validate.ts';
import { GATEWAY_DB_MAX_TX_ENTRIES, openImmudbLedger } from '../src/ledger/immudb/index.ts';
import { ImmudbSession } from '../src/ledger/immudb/grpc.ts';
import { eventWrite } from '../src/ledger/immudb/immudb-ledger.ts';
import { decodeTxMetadata, encodeExecAllRequest, encodeVerifiableTxRequest } from '../src/ledger/immudb/wire.ts';
import { sampleEventInput } from './fixtures.ts';
import { measure, printTable, type Result } from './harness.ts';

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const ImmudbClient: any = require('immudb-node').default;

const event = (i: number) => validateEventInput(sampleEventInput(i, { correlationId: `rr-bench-${i % 50}` }));

/** The row, named with this process's CPU per batch while it ran. */
async function withCpu(batches: number, run: () => Promise<Result>): Promise<Result> {
  const before = process.cpuUsage();
  const row = await run();
  const used = process.cpuUsage(before);
  return { ...row, name: `${row.name} [this process: ${((used.user + used.system) / 1000 / batches).toFixed(1)} ms CPU a batch]` };
}

export async function benchLedger(address: string, scale = 1): Promise<Result[]> {
  const [host, port] = address.split(':');
  const rows: Result[] = [];
  const tag = Date.now().toString(36);

  // Raw immudb-node: its own database, created by our session (immudb-node's client cannot pass settings).
  const rawDb = `rawbench${tag}`;
  // Created with the gateway's setting, so both sides write to databases alike.
  const creator = new ImmudbSession({ address, user: 'immudb', password: 'immudb', database: rawDb, createDatabaseMaxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES });
  await creator.connect();
  creator.close();
  const raw = await ImmudbClient.getInstance({ host, port: Number(port), user: 'immudb', password: 'immudb', database: rawDb, rootPath: join(mkdtempSync(join(tmpdir(), 'immudb-node-')), 'root') });
  const payloads = Array.from({ length: 4000 * scale }, (_, i) => encodeRecord(event(i).record).toString('utf8'));
  for (const c of [1, 32]) {
    const total = (c === 1 ? 300 : 2000) * scale;
    rows.push(
      await measure(`immudb-node verifiedSet, concurrency ${c}`, { total, concurrency: c }, async (i) => {
        const r = await raw.verifiedSet({ key: `raw/${c}/${i}`, value: payloads[i % payloads.length] });
        if (!r) throw new Error('verifiedSet failed'); // immudb-node resolves undefined on errors
      }),
    );
  }
  // The server's own ceiling for batches, with no proof at all: one unverified setAll of the 200
  // entries that 100 events take (timeline entry + id reference each), the same value sizes.
  let k = 0;
  for (const c of [1, 4]) {
    rows.push(
      await withCpu(100 * scale, () => measure(`immudb-node setAll, 200 entries (100 events' worth, no proof), concurrency ${c}`, { total: 100 * scale, concurrency: c, eventsPerOp: 100 }, async () => {
        const kvsList = Array.from({ length: 200 }, (_, j) => {
          const i = k++;
          return j % 2 === 0 ? { key: `raw/all/${i}`, value: payloads[i % payloads.length]! } : { key: `raw/id/${i}`, value: `raw/all/${i - 1}` };
        });
        if (!(await raw.setAll({ kvsList }))) throw new Error('setAll failed');
      })),
    );
  }
  // not raw.shutdown(): immudb-node's shutdown() calls process.exit(0)
  raw.client.close();

  // The floor of a verified batch: what the gateway sends per batch of 100 (ExecAll of each
  // event's timeline entry and id reference, then VerifiableTxById from the last tx proven),
  // encoded before the clock starts; no validation, no proof built or checked. A verified gateway
  // does all of this plus its own work on the same cores, so it stays below these rows.
  const floor = new ImmudbSession({ address, user: 'immudb', password: 'immudb', database: `floorbench${tag}`, createDatabaseMaxTxEntries: GATEWAY_DB_MAX_TX_ENTRIES });
  await floor.connect();
  const floorBatches = 100 * scale;
  const execAll = (b: number) => encodeExecAllRequest(Array.from({ length: 100 }, (_, j) => eventWrite(event(b * 100 + j).record)));
  let proven = 0;
  for (const c of [4, 8]) {
    const requests = Array.from({ length: floorBatches }, (_, b) => execAll(b));
    rows.push(
      await withCpu(floorBatches, () =>
        measure(`floor: ExecAll of 100 events + VerifiableTxById, nothing checked, concurrency ${c}`, { total: floorBatches, concurrency: c, eventsPerOp: 100 }, async (i) => {
          const txId = decodeTxMetadata(await floor.callBytes('ExecAll', requests[i]!)).id;
          await floor.callBytes('VerifiableTxById', encodeVerifiableTxRequest(txId, proven || txId));
          proven = Math.max(proven, txId);
        }),
      ),
    );
  }
  floor.close();

  const ledger = await openImmudbLedger({ address, user: 'immudb', password: 'immudb', database: `ledgerbench${tag}`, dataDir: mkdtempSync(join(tmpdir(), 'ag-bench-')) });
  for (const c of [1, 32]) {
    const total = (c === 1 ? 300 : 2000) * scale;
    rows.push(await measure(`ledger append (1 event), concurrency ${c}`, { total, concurrency: c }, (i) => ledger.append([event(i)])));
  }
  for (const c of [1, 4, 8]) {
    const batches = 100 * scale;
    rows.push(
      await withCpu(batches, () =>
        measure(`ledger append (batch of 100), concurrency ${c}`, { total: batches, concurrency: c, eventsPerOp: 100 }, (i) =>
          ledger.append(Array.from({ length: 100 }, (_, j) => event(i * 100 + j))),
        ),
      ),
    );
  }
  await ledger.close();
  printTable(`Ledger writes on immudb 1.1.0 at ${address} (every event verified)`, rows);
  return rows;
}
