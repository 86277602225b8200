/**
 * The least an mTLS JSON endpoint can do in Node: `node:https` with client certificates
 * required, read the body, JSON.parse it, answer 202 with a small JSON body. No framework,
 * no validation, no queue. `npm run bench:floor` loads it exactly as `npm run bench`
 * loads the broker, so the difference between the two is what the broker itself costs.
 *
 * Input: one JSON argument {key, cert, ca}; prints the port on stdout once listening.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';

const { key, cert, ca } = JSON.parse(process.argv[2] ?? '{}') as { key: string; cert: string; ca: string };
const server = createServer(
  { key, cert, ca, requestCert: true, rejectUnauthorized: true, maxVersion: 'TLSv1.3' },
  (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const message = JSON.parse(body) as { sender_number?: string };
      const answer = JSON.stringify({
        message_id: randomUUID(),
        status: 'queued',
        client_id: 'floor',
        queued_at: new Date().toISOString(),
        position: message.sender_number ? 1 : 0,
      });
      res
        .writeHead(202, {
          'content-type': 'application/json; charset=utf-8',
          'content-length': Buffer.byteLength(answer),
        })
        .end(answer);
    });
  },
);
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => process.exit(0));
