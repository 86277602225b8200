/** A local HTTPS webhook downstream whose behaviour a test scripts, recording every hit. */
import { createServer, type Server } from 'node:https';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createCa } from '../../src/pki/ca.js';
import { issueServerCertificate } from '../../src/pki/issue.js';

export interface Hit {
  at: number;
  body: { message_id: string; message_body: string; attempt: number; [key: string]: unknown };
  headers: IncomingMessage['headers'];
}

export type Behaviour = (hit: Hit, res: ServerResponse) => void;

export class TestDownstream {
  readonly hits: Hit[] = [];
  behaviour: Behaviour = (_hit, res) => res.writeHead(200).end();
  url = '';
  readonly caFile: string;
  private readonly server: Server;
  private readonly dir = mkdtempSync(join(tmpdir(), 'mb-downstream-'));

  constructor() {
    const ca = createCa({ commonName: 'Downstream Test CA', days: 2 });
    const cert = issueServerCertificate(ca, { commonName: 'localhost', hostnames: ['127.0.0.1'], days: 2 });
    this.caFile = join(this.dir, 'ca.pem');
    writeFileSync(this.caFile, ca.certPem);
    this.server = createServer({ key: cert.keyPem, cert: cert.certPem }, (req, res) => {
      let raw = '';
      req.on('data', (chunk: Buffer) => (raw += chunk.toString()));
      req.on('end', () => {
        const hit: Hit = { at: Date.now(), body: JSON.parse(raw) as Hit['body'], headers: req.headers };
        this.hits.push(hit);
        this.behaviour(hit, res);
      });
    });
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const address = this.server.address();
    this.url = `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/inbound`;
    return this;
  }

  hitsFor(messageId: string): Hit[] {
    return this.hits.filter((h) => h.body.message_id === messageId);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
