/**
 * Child process for the embedded ledger crash test: appends forever from several concurrent
 * writers (single events and batches) and prints `<eventId> <correlationId>` for every event
 * whose append was acknowledged. stdout is a pipe, which Node writes synchronously on Linux,
 * so a printed line was acknowledged before any SIGKILL can land.
 */
import { validateEventInput } from '../../src/events/validate.ts';
import { openEmbeddedLedger } from '../../src/ledger/embedded/index.ts';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: embedded-crash-writer <dataDir>');
const ledger = await openEmbeddedLedger({ dataDir });
process.stdout.write('ready\n');

let seq = 0;
const event = (correlationId: string) =>
  validateEventInput({
    eventType: 'crash.test.append',
    eventCategory: 'crash',
    outcome: 'SUCCESS',
    correlationId,
    actorType: 'service',
    actorId: 'writer',
    data: { seq: seq++, pad: 'x'.repeat(seq % 300) },
  });

async function writer(w: number): Promise<never> {
  for (let i = 0; ; i++) {
    const size = w === 0 ? 1 + (i % 40) : 1;
    const batch = Array.from({ length: size }, () => event(`crash-${(w + i) % 5}`));
    const results = await ledger.append(batch);
    process.stdout.write(results.map((r) => `${r.event.record.eventId} ${r.event.record.correlationId}\n`).join(''));
  }
}

await Promise.all([0, 1, 2, 3].map(writer));
