/**
 * A single-producer / single-consumer ring of UTF-8 frames in a SharedArrayBuffer: one
 * thread writes, one other thread reads, without postMessage, structured clone or a
 * MessagePort event per hand-off. The reader parks on `Atomics.waitAsync` when the ring is
 * empty, and the writer calls `Atomics.notify` only when the reader says it is parked, so
 * a busy reader costs the writer nothing but a copy.
 *
 *   header (Int32Array)                     data (Uint8Array, `capacity` bytes)
 *   [write, read, readerParked, closed]     ┌len│json…│pad┐┌len│json…┐ … ┌-1 (skip to 0)┐
 *
 * `write` and `read` are byte counters that run freely (wrapping at 2^32, compared by
 * difference), so `write - read` is the bytes in use. A frame is a 4-byte length and its
 * bytes, padded to 4: a frame that does not fit before the end of the buffer leaves a skip
 * marker (-1) and starts again at offset 0. Only the writer moves `write`, only the reader
 * moves `read`; the Atomics stores publish the frame bytes written before them.
 *
 * Only bench/handoff-cost.ts uses it: measured against postMessage, it saved the front
 * CPU for batches of 1–4 requests but nothing at 8–32 (docs/performance-history.md, "Hand-offs
 * between threads"), so the broker's path stays on postMessage.
 */

const WRITE = 0;
const READ = 1;
/** 1 while the reader is parked (or about to park) on `WRITE`. */
const PARKED = 2;
/** 1 once either side closed the ring: no more frames, a parked reader wakes up. */
const CLOSED = 3;
const HEADER_INTS = 4;
const HEADER_BYTES = HEADER_INTS * 4;
const FRAME_HEADER = 4;
const SKIP = -1;

/** What a thread needs to open its end of a ring; a SharedArrayBuffer crosses postMessage as shared memory. */
export interface RingHandle {
  buffer: SharedArrayBuffer;
}

/** Makes a ring of `capacity` data bytes (a power of two, at least 1 KiB). */
export function createRing(capacity: number): RingHandle {
  if (capacity < 1024 || (capacity & (capacity - 1)) !== 0)
    throw new RangeError(`ring capacity must be a power of two >= 1024, not ${capacity}`);
  return { buffer: new SharedArrayBuffer(HEADER_BYTES + capacity) };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

abstract class RingEnd {
  protected readonly header: Int32Array;
  protected readonly data: Uint8Array;
  protected readonly view: DataView;
  protected readonly capacity: number;

  constructor(handle: RingHandle) {
    this.header = new Int32Array(handle.buffer, 0, HEADER_INTS);
    this.data = new Uint8Array(handle.buffer, HEADER_BYTES);
    this.view = new DataView(handle.buffer, HEADER_BYTES);
    this.capacity = this.data.byteLength;
  }

  get closed(): boolean {
    return Atomics.load(this.header, CLOSED) === 1;
  }

  /** Marks the ring dead for both sides and wakes a parked reader (which then sees `closed`). */
  close(): void {
    Atomics.store(this.header, CLOSED, 1);
    Atomics.notify(this.header, WRITE);
  }
}

export class RingWriter extends RingEnd {
  /** Frames whose bytes (with header and padding) take more than this never fit: the caller must send them another way. */
  get maxFrameBytes(): number {
    return this.capacity / 2 - FRAME_HEADER;
  }

  /**
   * Appends `text` as one frame: 'ok', or 'full' when the ring has no room for it now (the
   * reader is behind), or 'too-large' when it could never fit (`maxFrameBytes`); nothing
   * is written unless 'ok'. Throws once the ring is closed.
   */
  write(text: string): 'ok' | 'full' | 'too-large' {
    if (this.closed) throw new Error('ring closed');
    const write = Atomics.load(this.header, WRITE);
    const used = (write - Atomics.load(this.header, READ)) >>> 0;
    const free = this.capacity - used;
    let offset = write & (this.capacity - 1);
    let skip = 0;
    // Encode straight into the free space: a frame that does not fit before the end of the
    // buffer is encoded again at offset 0 (at most once per lap of the ring).
    let written = encodeInto(
      text,
      this.data,
      offset,
      Math.min(this.capacity - offset, free, this.maxFrameBytes + FRAME_HEADER),
    );
    if (written < 0 && free > this.capacity - offset) {
      skip = this.capacity - offset;
      offset = 0;
      written = encodeInto(text, this.data, 0, Math.min(free - skip, this.maxFrameBytes + FRAME_HEADER));
    }
    if (written < 0) return this.fitsEver(text) ? 'full' : 'too-large';
    if (skip > 0) this.view.setInt32(write & (this.capacity - 1), SKIP, true);
    this.view.setInt32(offset, written, true);
    Atomics.store(this.header, WRITE, (write + skip + FRAME_HEADER + pad4(written)) | 0);
    // seq-cst: this load is ordered after the store above, and the reader stores PARKED
    // before it re-reads WRITE, so at least one of the two sees the other.
    if (Atomics.load(this.header, PARKED) === 1) Atomics.notify(this.header, WRITE);
    return 'ok';
  }

  private fitsEver(text: string): boolean {
    return text.length <= this.maxFrameBytes && encoder.encode(text).byteLength <= this.maxFrameBytes;
  }

  /** Bytes in use (frames the reader has not taken yet). */
  get used(): number {
    return (Atomics.load(this.header, WRITE) - Atomics.load(this.header, READ)) >>> 0;
  }
}

/**
 * Encodes `text` as a frame at `at` if the frame fits in `limit` bytes; returns the text's
 * byte length, or -1 when it does not fit. The text is encoded only into free space (the
 * limit), so a failed attempt leaves nothing the reader could see: it never looks past `write`.
 */
function encodeInto(text: string, data: Uint8Array, at: number, limit: number): number {
  const room = (limit - FRAME_HEADER) & ~3;
  // A UTF-16 unit is at least one UTF-8 byte: an over-long string cannot fit.
  if (room <= 0 || text.length > room) return -1;
  const { read, written } = encoder.encodeInto(text, data.subarray(at + FRAME_HEADER, at + FRAME_HEADER + room));
  return read === text.length ? written : -1;
}

function pad4(n: number): number {
  return (n + 3) & ~3;
}

export class RingReader extends RingEnd {
  private parked = false;

  /** Takes every frame in the ring now, oldest first (an empty array when there is none). */
  readAll(): string[] {
    const frames: string[] = [];
    let read = Atomics.load(this.header, READ);
    const write = Atomics.load(this.header, WRITE);
    while (read !== write) {
      const offset = read & (this.capacity - 1);
      const length = this.view.getInt32(offset, true);
      if (length === SKIP) {
        read = (read + this.capacity - offset) | 0;
        continue;
      }
      const start = offset + FRAME_HEADER;
      frames.push(decoder.decode(this.data.subarray(start, start + length)));
      read = (read + FRAME_HEADER + pad4(length)) | 0;
    }
    // Published once: the writer may reuse the space from here on.
    Atomics.store(this.header, READ, read);
    return frames;
  }

  /**
   * Resolves once the ring has a frame or is closed (at once if it already has one).
   * Announces the park first, so the writer knows to notify; a frame written between
   * the announcement and the wait shows up as WRITE ≠ the value we wait on.
   */
  async waitForFrames(): Promise<void> {
    if (this.parked) throw new Error('only one wait at a time');
    this.parked = true;
    try {
      Atomics.store(this.header, PARKED, 1);
      const write = Atomics.load(this.header, WRITE);
      if (write !== Atomics.load(this.header, READ) || this.closed) return;
      const wait = Atomics.waitAsync(this.header, WRITE, write);
      if (wait.async) await wait.value;
    } finally {
      Atomics.store(this.header, PARKED, 0);
      this.parked = false;
    }
  }
}
