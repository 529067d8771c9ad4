// A timeline page's Scan reply (51 entries of ~650-byte values) decoded by google-protobuf (immudb-node's stubs)
// and by wire-decode.ts's decodeEntries, in turns. Run alone: `npx tsx bench/scan-decode.ts`.
import { pb } from '../src/ledger/immudb/grpc.ts';
import { decodeEntries } from '../src/ledger/immudb/wire-decode.ts';
const entries = new pb.Entries();
entries.setEntriesList(
  Array.from({ length: 51 }, (_, i) => {
    const e = new pb.Entry();
    e.setTx(1000 + i);
    e.setKey(Buffer.from(`tl/rr-target/000001735689600000/0190a5d2-4444-7000-8000-0000000000${String(i).padStart(2, '0')}`));
    e.setValue(Buffer.alloc(650, 97));
    return e;
  }),
);
const buf = Buffer.from(entries.serializeBinary());
const viaPb = () => {
  let n = 0;
  for (const e of pb.Entries.deserializeBinary(buf).getEntriesList()) {
    n += Buffer.from(e.getKey_asU8()).length + Buffer.from(e.getValue_asU8()).length + e.getTx();
  }
  return n;
};
const viaWire = () => {
  let n = 0;
  for (const e of decodeEntries(buf)) n += Buffer.from(e.key).length + e.value.length + e.tx;
  return n;
};
for (const [, f] of [
  ['google-protobuf', viaPb],
  ['wire-decode.ts', viaWire],
] as const)
  for (let i = 0; i < 2000; i++) f();
for (let round = 0; round < 3; round++)
  for (const [name, f] of [
    ['google-protobuf', viaPb],
    ['wire-decode.ts', viaWire],
  ] as const) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 5000; i++) f();
    const us = Number(process.hrtime.bigint() - t0) / 1000 / 5000;
    console.log(`${name}: ${us.toFixed(1)} µs a 51-entry reply (${buf.length} bytes)`);
  }
