/**
 * The gateway's trusted ledger state, persisted in DATA_DIR. It only ever moves forward, and only
 * to states reached through a verified proof; a restart resumes from the last verified state, so
 * a server that rewrote history after we saw it fails verification instead of being believed.
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { verificationFailed } from '../errors.ts';
import type { LedgerState } from '../proof/types.ts';

const FORMAT = 'auditgraph.trusted-state.v1';
const HASH = /^[0-9a-f]{64}$/;
const TX_ID = /^[1-9][0-9]{0,19}$/;

export class TrustedStateStore {
  private state: LedgerState | null;
  /** The txId on disk (0: none). An advance resolves only once this has reached its txId. */
  private persisted: bigint;
  /** The tail of the write chain; settles, never rejects, so one failed write does not fail all later ones. */
  private writing: Promise<void> = Promise.resolve();
  /** A write queued behind `writing` and not started yet: it will write the newest state. */
  private queued: Promise<void> | null = null;
  /** The write running now and the txId it writes. */
  private inFlight: { txId: bigint; done: Promise<void> } | null = null;

  private constructor(
    readonly file: string,
    private readonly ledger: string,
    private readonly database: string,
    initial: LedgerState | null,
  ) {
    this.state = initial;
    this.persisted = initial ? BigInt(initial.txId) : 0n;
  }

  /** Opens `<dir>/trusted-state/<ledger>-<database>.json`; a corrupt file is VERIFICATION_FAILED, never ignored. */
  static async open(dir: string, ledger: string, database: string): Promise<TrustedStateStore> {
    const folder = join(dir, 'trusted-state');
    await mkdir(folder, { recursive: true });
    const file = join(folder, `${ledger}-${encodeURIComponent(database)}.json`);
    let text: string | null = null;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    return new TrustedStateStore(file, ledger, database, text === null ? null : parse(text, file, ledger, database));
  }

  current(): LedgerState | null {
    return this.state;
  }

  /**
   * Moves to `next` when it is newer, and resolves once a state at least that new is on disk. Call
   * only with a state a verified proof led to.
   */
  async advance(next: LedgerState): Promise<void> {
    const txId = BigInt(next.txId);
    if (!this.state || txId > BigInt(this.state.txId)) this.state = { txId: next.txId, txHash: next.txHash };
    if (txId <= this.persisted) return;
    if (this.inFlight && this.inFlight.txId >= txId) return this.inFlight.done;
    // Writes are chained so the file never goes backwards. A queued write takes the newest state
    // when it starts, so every advance made before then rides on that one write (and its fsync):
    // under concurrent commits one write serves many acknowledgements instead of one each.
    if (!this.queued) {
      const write = this.writing.then(() => {
        this.queued = null;
        return this.persist();
      });
      this.queued = write;
      this.writing = write.catch(() => undefined);
    }
    return this.queued;
  }

  private async persist(): Promise<void> {
    const state = this.state;
    if (!state || BigInt(state.txId) <= this.persisted) return;
    const txId = BigInt(state.txId);
    const done = this.write(state).then(() => {
      if (txId > this.persisted) this.persisted = txId;
    });
    this.inFlight = { txId, done };
    try {
      await done;
    } finally {
      if (this.inFlight?.done === done) this.inFlight = null;
    }
  }

  private async write(state: LedgerState): Promise<void> {
    const body = `${JSON.stringify({ format: FORMAT, ledger: this.ledger, database: this.database, ...state })}\n`;
    const tmp = `${this.file}.tmp`;
    const fh = await open(tmp, 'w');
    try {
      await fh.writeFile(body);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}

function parse(text: string, file: string, ledger: string, database: string): LedgerState {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(text);
  } catch {
    throw verificationFailed(`trusted state file ${file} is corrupt (not JSON)`);
  }
  const ok =
    doc &&
    doc.format === FORMAT &&
    doc.ledger === ledger &&
    doc.database === database &&
    typeof doc.txId === 'string' &&
    TX_ID.test(doc.txId) &&
    typeof doc.txHash === 'string' &&
    HASH.test(doc.txHash);
  if (!ok) throw verificationFailed(`trusted state file ${file} is corrupt or belongs to another ledger`);
  return { txId: doc.txId as string, txHash: doc.txHash as string };
}
