import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { createRing, RingReader, RingWriter } from './shared-ring.js';

const workers: Worker[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.terminate();
});

/** A second thread running shared-ring.echo.fixture.ts: it answers every frame it reads with `echo:<frame>`. */
async function echoThread(requests = createRing(1024), replies = createRing(1024)) {
  const worker = new Worker(fileURLToPath(new URL('./shared-ring.echo.fixture.ts', import.meta.url)), {
    workerData: { requests, replies },
    execArgv: ['--import', 'tsx'],
  });
  workers.push(worker);
  await new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve());
    worker.once('error', reject);
  });
  return { worker, writer: new RingWriter(requests), reader: new RingReader(replies) };
}

describe('shared ring', () => {
  it('hands frames over in order, across many laps of the buffer', () => {
    const ring = createRing(1024);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    const seen: string[] = [];
    // Lengths that do not divide the capacity: frames land on every offset, skip markers included.
    for (let i = 0; i < 2000; i++) {
      const text = `${i}:${'x'.repeat(i % 97)}é`;
      expect(writer.write(text)).toBe('ok');
      if (i % 3 === 2) seen.push(...reader.readAll());
    }
    seen.push(...reader.readAll());
    expect(seen).toHaveLength(2000);
    seen.forEach((text, i) => {
      expect(text).toBe(`${i}:${'x'.repeat(i % 97)}é`);
    });
    expect(writer.used).toBe(0);
  });

  it('starts a frame that does not fit before the end of the buffer again at offset 0', () => {
    const ring = createRing(1024);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    expect(writer.write('a'.repeat(396))).toBe('ok'); // 400 bytes
    expect(writer.write('b'.repeat(396))).toBe('ok'); // 800
    expect(reader.readAll()).toHaveLength(2);
    // 224 bytes remain before the end: this frame (404) wraps, and the 224 are skipped.
    expect(writer.write('c'.repeat(400))).toBe('ok');
    expect(writer.used).toBe(224 + 404);
    expect(reader.readAll()).toEqual(['c'.repeat(400)]);
  });

  it('says full when the reader is behind, and takes the frame once it caught up; says too-large for a frame that never fits', () => {
    const ring = createRing(1024);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    let written = 0;
    while (writer.write(`frame ${written} ${'y'.repeat(60)}`) === 'ok') written++;
    expect(writer.write('z')).toBe('full');
    expect(writer.used).toBeLessThanOrEqual(1024);
    expect(reader.readAll()).toHaveLength(written);
    expect(writer.write('z')).toBe('ok');
    expect(reader.readAll()).toEqual(['z']);
    expect(writer.write('w'.repeat(writer.maxFrameBytes + 1))).toBe('too-large');
    // Multi-byte characters count as their UTF-8 bytes.
    expect(writer.write('€'.repeat(200))).toBe('too-large');
    expect(writer.write('w'.repeat(writer.maxFrameBytes))).toBe('ok');
    expect(reader.readAll()[0]).toHaveLength(writer.maxFrameBytes);
  });

  it('wakes a parked reader when a frame arrives, and when the ring is closed', async () => {
    const ring = createRing(1024);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    const woken = reader.waitForFrames();
    writer.write('hello');
    await woken;
    expect(reader.readAll()).toEqual(['hello']);
    const parked = reader.waitForFrames();
    writer.close();
    await parked;
    expect(reader.closed).toBe(true);
    expect(() => writer.write('late')).toThrow(/closed/);
  });

  it('carries traffic both ways between two threads at once', async () => {
    const { writer, reader } = await echoThread(createRing(4096), createRing(4096));
    const total = 5_000;
    const answers: string[] = [];
    const collect = (async () => {
      while (answers.length < total) {
        await reader.waitForFrames();
        answers.push(...reader.readAll());
      }
    })();
    // More than the ring holds at once: the writer meets 'full' and waits for the echo thread.
    for (let i = 0; i < total; i++) {
      const text = `m${i}:${'p'.repeat(i % 50)}`;
      while (writer.write(text) === 'full') await new Promise((r) => setImmediate(r));
    }
    await collect;
    expect(answers).toHaveLength(total);
    answers.forEach((a, i) => {
      expect(a).toBe(`echo:m${i}:${'p'.repeat(i % 50)}`);
    });
  });

  it('leaves the writer with a full ring, never a lost frame, when the reading thread dies; closing ends it', async () => {
    const { worker, writer, reader } = await echoThread();
    writer.write('before');
    await reader.waitForFrames();
    expect(reader.readAll()).toEqual(['echo:before']);
    worker.postMessage('stop-reading');
    await new Promise((r) => worker.once('message', r));
    await worker.terminate();
    // Nobody reads any more: the writer fills the ring and is told so, frame by frame.
    let accepted = 0;
    while (writer.write(`after ${accepted}`) === 'ok') accepted++;
    expect(accepted).toBeGreaterThan(0);
    expect(writer.write('one more')).toBe('full');
    // What the host does when the thread exits: close the ring; the writer refuses from then on.
    writer.close();
    expect(() => writer.write('late')).toThrow(/closed/);
  });
});
