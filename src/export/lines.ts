/**
 * Lines of a byte stream, as the export verifier reads a file: exact bytes (no decoding, no `\r`
 * stripped: the closing digest covers the bytes as written), `terminated` false for a last line
 * the stream ended inside. A line longer than `maxBytes` is cut to its first maxBytes + 1 bytes
 * (the rest is skipped up to its newline), so memory stays bounded and the reader sees it is too
 * long. Pure: any async iterable of chunks.
 */

export interface Line {
  bytes: Buffer;
  terminated: boolean;
}

export async function* splitLines(
  chunks: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  maxBytes: number,
): AsyncGenerator<Line, void, undefined> {
  let parts: Buffer[] = [];
  let size = 0;
  let skipping = false;
  const take = (b: Buffer) => {
    if (skipping) return;
    const room = maxBytes + 1 - size;
    if (b.length >= room) {
      parts.push(b.subarray(0, room));
      size += room;
      skipping = true;
    } else {
      parts.push(b);
      size += b.length;
    }
  };
  const flush = (terminated: boolean): Line => {
    const bytes = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    parts = [];
    size = 0;
    skipping = false;
    return { bytes, terminated };
  };
  for await (const chunk of chunks) {
    const b = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let from = 0;
    for (let nl = b.indexOf(10, from); nl >= 0; nl = b.indexOf(10, from)) {
      take(b.subarray(from, nl));
      yield flush(true);
      from = nl + 1;
    }
    // The tail waits for the next chunk: a copy, so the stream may reuse its buffer.
    if (from < b.length) take(Buffer.from(b.subarray(from)));
  }
  if (size > 0 || parts.length > 0) yield flush(false);
}
