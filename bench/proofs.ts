/**
 * Issue 21's benchmark, on immudb 1.11.1: `verifyAuditEvent` over HTTP without and with
 * `trustedTxId` (1, 1,000 and 100,000 txs from the event's tx, BENCH_PROOF_DISTANCES), the anchor
 * before the event's tx (a client's old saved state, a recent event) and after it (an old event, a
 * recent saved state; also with an anchor the gateway has not seen before, every request), and
 * `consistencyProof` over the same distances: p50/p99 and the bytes of the proof document, each
 * beside the raw immudb VerifiableTxById that produces its proof (hand-encoded, nothing checked;
 * the consistency proof's and the anchor check's without the tx's entries). One request at a time,
 * the cases taking turns slice by slice; the HTTP client runs in this process.
 *
 * The database is filled first with one event per tx (raw ExecAll of the gateway's writes, 32 at a
 * time, as the gateway writes them), then a gateway ledger opens on it, trusting its newest state.
 */
import { validateEventInput } from '../src/events/validate.ts';
import { eventWrite } from '../src/ledger/immudb/immudb-ledger.ts';
import { decodeTxMetadata } from '../src/ledger/immudb/wire-decode.ts';
import { encodeExecAllRequest, encodeVerifiableTxHeaderRequest, encodeVerifiableTxRequest } from '../src/ledger/immudb/wire-encode.ts';
import { createLogger } from '../src/logger.ts';
import { createApp } from '../src/server/app.ts';
import { sampleEventInput } from './fixtures.ts';
import { measureInSlices, printMarkdownTable, type Result, type SliceCase } from './harness.ts';
import { gatewayDatabase, openGatewayLedger, serverLabel, type BenchTarget } from './immudb.ts';

const VERIFY = 'query ($id: ID!, $t: String) { verifyAuditEvent(eventId: $id, trustedTxId: $t) { proof { json } } }';
const CONSISTENCY = 'query ($from: String!, $to: String) { consistencyProof(fromTxId: $from, toTxId: $to) { json } }';
const ROUNDS = 4;

const distances = (process.env.BENCH_PROOF_DISTANCES ?? '1,1000,100000')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isSafeInteger(n) && n > 0);

interface Case extends SliceCase {
  /** Bytes of what one op answers: the proof document (gateway rows) or immudb's reply (raw rows). */
  bytes: number;
  /** The row whose p99 this one is compared with. */
  versus?: string;
}

export async function benchProofs(target: BenchTarget, scale = 1): Promise<Result[]> {
  const server = serverLabel(target);
  const database = `proofbench${Date.now().toString(36)}`;
  const perRound = Math.max(10, Math.ceil((100 * scale) / ROUNDS));
  const ops = perRound * ROUNDS;
  const far = Math.max(...distances);
  // Old event at tx ~10; its anchors up to `far` + `ops` after it (one new anchor an op); the newest txs beyond.
  const txs = 10 + far + ops + 20;

  const session = await gatewayDatabase(target, database);
  const t0 = performance.now();
  /** The event of each tx written, by txId (the concurrent writes land in any order). */
  const byTx = new Map<number, string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < txs) {
        const i = next++;
        const record = validateEventInput(sampleEventInput(i, { correlationId: `rr-proof-${i % 100}` })).record;
        byTx.set(decodeTxMetadata(await session.callBytes('ExecAll', encodeExecAllRequest([eventWrite(record)]))).id, record.eventId);
      }
    }),
  );
  process.stderr.write(`proofs: ${txs} txs of one event written in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  const eventAt = (tx: number): string => {
    const id = byTx.get(tx);
    if (id === undefined) throw new Error(`no event of ours in tx ${tx}`);
    return id;
  };

  const ledger = await openGatewayLedger(target, database);
  const app = createApp({ ledger, config: { port: 0, host: '127.0.0.1' }, logger: createLogger({ level: 'error' }) });
  const { url } = await app.listen();
  try {
    const newest = Number((await ledger.trustedState()).txId);
    const oldTx = Math.min(...[...byTx.keys()].filter((tx) => tx >= 10));
    const newTx = newest - 5;

    const gql = async (query: string, variables: Record<string, unknown>): Promise<string> => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query, variables }) });
      const text = await res.text();
      if (text.includes('"errors"')) throw new Error(text.slice(0, 300));
      return text;
    };
    const verify = (tx: number, anchor?: number) => gql(VERIFY, { id: eventAt(tx), ...(anchor === undefined ? {} : { t: String(anchor) }) });
    const consistency = (from: number, to: number) => gql(CONSISTENCY, { from: String(from), to: String(to) });
    const proofBytes = (text: string) => {
      const data = (JSON.parse(text) as { data: { verifyAuditEvent?: { proof: { json: unknown } }; consistencyProof?: { json: string } } }).data;
      return data.verifyAuditEvent ? JSON.stringify(data.verifyAuditEvent.proof.json).length : data.consistencyProof!.json.length;
    };
    const raw = (request: Buffer) => session.callBytes('VerifiableTxById', request);

    const cases: Case[] = [];
    const gateway = async (name: string, op: (i: number) => Promise<string>, versus?: string) => {
      const bytes = proofBytes(await op(0)); // also warms the anchor's check, as a second request would find it
      cases.push({ name, server, concurrency: 1, op, bytes, ...(versus ? { versus } : {}) });
    };
    const rawCase = async (name: string, request: (i: number) => Buffer) => {
      const bytes = (await raw(request(0))).length;
      cases.push({ name, server, concurrency: 1, op: (i) => raw(request(i)), bytes });
    };

    const recent = `verifyAuditEvent, recent event (tx ${newTx}), no trustedTxId (from the trusted state tx ${newest})`;
    const old = `verifyAuditEvent, old event (tx ${oldTx}), no trustedTxId (from the trusted state tx ${newest})`;
    await gateway(recent, () => verify(newTx));
    await rawCase(`raw VerifiableTxById(${newTx}, since ${newest})`, () => encodeVerifiableTxRequest(newTx, newest));
    await gateway(old, () => verify(oldTx));
    await rawCase(`raw VerifiableTxById(${oldTx}, since ${newest})`, () => encodeVerifiableTxRequest(oldTx, newest));
    for (const d of distances) {
      if (newTx - d >= 1) {
        await gateway(`verifyAuditEvent, recent event, trustedTxId ${d} before it`, () => verify(newTx, newTx - d), recent);
        await rawCase(`raw VerifiableTxById(${newTx}, since ${newTx - d})`, () => encodeVerifiableTxRequest(newTx, newTx - d));
      }
      await gateway(`verifyAuditEvent, old event, trustedTxId ${d} after it`, () => verify(oldTx, oldTx + d), old);
      await rawCase(`raw VerifiableTxById(${oldTx}, since ${oldTx + d})`, () => encodeVerifiableTxRequest(oldTx, oldTx + d));
      // A new anchor every request: its check against the trusted state runs beside the proof.
      await gateway(`verifyAuditEvent, old event, trustedTxId ${d}+i after it (never seen before)`, (i) => verify(oldTx, oldTx + d + 1 + i), old);
      await rawCase(`raw VerifiableTxById(${oldTx + d}, since ${newest}), header only (the anchor's check)`, () =>
        encodeVerifiableTxHeaderRequest(oldTx + d, newest),
      );
    }
    for (const d of distances) {
      if (newest - d < 1) continue;
      await gateway(`consistencyProof(${newest - d}, ${newest}): ${d} txs`, () => consistency(newest - d, newest));
      await rawCase(`raw VerifiableTxById(${newest}, since ${newest - d}), header only`, () => encodeVerifiableTxHeaderRequest(newest, newest - d));
    }

    const results = await measureInSlices(ROUNDS, perRound, cases);
    const byName = new Map(results.map((r) => [r.name, r]));
    printMarkdownTable(
      `Proofs from a chosen state and consistency proofs (issue 21): ${ops} requests a case, one at a time, ${txs} txs`,
      ['case', 'server', 'failed', 'p50 ms', 'p99 ms', 'p99 / unanchored', 'bytes'],
      cases.map((c, j) => {
        const r = results[j]!;
        const base = c.versus ? byName.get(c.versus) : undefined;
        return [
          c.name,
          r.server ?? '-',
          String(r.errors),
          r.p50.toFixed(2),
          r.p99.toFixed(2),
          base ? `${(r.p99 / base.p99).toFixed(2)}×` : '',
          String(c.bytes),
        ];
      }),
    );
    return results;
  } finally {
    await app.close();
    await ledger.close();
    session.close();
  }
}
