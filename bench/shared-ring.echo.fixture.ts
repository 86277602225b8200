/** Test thread for shared-ring.test.ts: answers every frame with `echo:<frame>` until told to stop. */
import { parentPort, workerData } from 'node:worker_threads';
import { RingReader, RingWriter, type RingHandle } from './shared-ring.js';

const { requests, replies } = workerData as { requests: RingHandle; replies: RingHandle };
const reader = new RingReader(requests);
const writer = new RingWriter(replies);
let reading = true;

parentPort!.on('message', (message) => {
  if (message !== 'stop-reading') return;
  reading = false;
  parentPort!.postMessage('stopped');
});

void (async () => {
  while (reading && !reader.closed) {
    await reader.waitForFrames();
    if (!reading) break;
    for (const frame of reader.readAll()) {
      while (writer.write(`echo:${frame}`) === 'full') await new Promise((r) => setImmediate(r));
    }
  }
})();
parentPort!.postMessage('ready');
