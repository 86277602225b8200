/**
 * A local HTTPS downstream for webhook domains, with its own CA (written to a temp file
 * for the domain's `target.ca_file`). `answer` decides each response from the parsed body
 * and how many times this message id has been posted (this one included).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa } from '../../src/pki/ca.js';
import { issueServerCertificate } from '../../src/pki/issue.js';

export interface DownstreamHit {
  at: number;
  body: { message_id: string; message_body: string; sender_number: string; attempt: number };
  rawBody: string;
  headers: IncomingHttpHeaders;
  /** Path and query it was POSTed to. */
  path: string;
  /** What it was answered. */
  status: number;
}

export interface Downstream {
  url: string;
  caFile: string;
  hits: DownstreamHit[];
  /** The most POSTs it held at once (with `answerAfterMs`, the broker's concurrency as seen downstream). */
  maxInFlight: number;
  close(): Promise<void>;
}

export async function startDownstream(
  answer: (body: DownstreamHit['body'], attempt: number) => number,
  {
    answerAfterMs = 0,
    answerWhen,
  }: {
    /** Answers each POST this long after it arrived (a slow downstream). */
    answerAfterMs?: number;
    /** …and not before the promise this returns (asked when the POST arrives) settles: a test holds answers while it acts. */
    answerWhen?: () => Promise<void>;
  } = {},
): Promise<Downstream> {
  const ca = createCa({ commonName: 'Downstream Test CA', days: 2 });
  const cert = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['localhost', '127.0.0.1'], days: 2 });
  const dir = mkdtempSync(join(tmpdir(), 'mb-downstream-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, ca.certPem);
  const hits: DownstreamHit[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer(
    { key: cert.keyPem, cert: cert.certPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      let raw = '';
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // Out of flight when the answer is written, not at the response's 'close': on a busy box
      // the broker can read the answer and send its next POST before that event runs here,
      // and the count would overshoot the broker's real concurrency.
      let counted = true;
      const landed = () => {
        if (counted) inFlight--;
        counted = false;
      };
      res.on('close', landed);
      req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      req.on('end', () => {
        const body = JSON.parse(raw) as DownstreamHit['body'];
        const hit: DownstreamHit = {
          at: Date.now(),
          body,
          rawBody: raw,
          headers: req.headers,
          path: req.url ?? '',
          status: 0,
        };
        hits.push(hit);
        const attempt = hits.filter((h) => h.body.message_id === body.message_id).length;
        const status = answer(body, attempt);
        hit.status = status;
        const respond = () => {
          landed();
          res
            .writeHead(status, { 'content-type': 'application/json' })
            .end(status < 300 ? '{"ok":true}' : '{"ok":false}');
        };
        const held = answerWhen?.();
        const answerNow = held ? () => void held.then(respond) : respond;
        if (answerAfterMs > 0) setTimeout(answerNow, answerAfterMs);
        else answerNow();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return {
    url: `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/inbound`,
    caFile,
    hits,
    get maxInFlight() {
      return maxInFlight;
    },
    close: async () => {
      await new Promise((resolve) => server.close(resolve));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
