/**
 * Child process for the embedded ledger's durability test: appends `count` single-event
 * transactions one after another and prints `ack <txId>` once each append resolved. stdout is a
 * pipe, which Node writes synchronously on Linux, so the line's write(2) marks the acknowledgement.
 */
import { validateEventInput } from '../../src/events/validate.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';

const [dataDir, count] = [process.argv[2], Number(process.argv[3] ?? 20)];
if (!dataDir) throw new Error('usage: embedded-ack-writer <dataDir> [count]');
const ledger = await openEmbeddedLedger({ dataDir });
for (let i = 0; i < count; i++) {
  const [r] = await ledger.append([
    validateEventInput({
      eventType: 'durability.test.append',
      eventCategory: 'durability',
      outcome: 'SUCCESS',
      correlationId: 'rr-ack',
      actorType: 'service',
      actorId: 'writer',
      data: { i },
    }),
  ]);
  process.stdout.write(`ack ${r!.event.txId}\n`);
}
await ledger.close();
