/**
 * A small mTLS client for the broker's API, for `mb send` and `mb selftest`: one undici
 * pool with the client certificate (or none, to check that the broker refuses that), JSON
 * in and out, and the time each request took.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { BrokerConfig } from '../config/config.js';

export interface ClientFiles {
  url: string;
  ca: string;
  cert?: string;
  key?: string;
}

export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
  ms: number;
}

/**
 * Fills what the operator did not name from the config: the broker's own port on
 * localhost, its CA, and the demo client's certificate that the first start created.
 */
export function defaultClientFiles(given: Partial<ClientFiles>, config: Readonly<BrokerConfig>): ClientFiles {
  const demo = join(config.pki.dir, 'clients', `demo.${config.bootstrap.demo_domain}`);
  return {
    url: (given.url ?? `https://localhost:${config.server.port}`).replace(/\/+$/, ''),
    ca: given.ca ?? join(config.pki.dir, 'ca.crt'),
    cert: given.cert ?? join(demo, 'client.crt'),
    key: given.key ?? join(demo, 'client.key'),
  };
}

export class ApiClient {
  private readonly agent: Agent;

  constructor(
    readonly files: ClientFiles,
    options: { connections?: number; withCertificate?: boolean; timeoutMs?: number } = {},
  ) {
    const withCert = options.withCertificate ?? true;
    const timeout = options.timeoutMs ?? 10_000;
    this.agent = new Agent({
      connections: options.connections ?? 10,
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connect: {
        ca: readFileSync(files.ca, 'utf8'),
        ...(withCert && files.cert && files.key
          ? { cert: readFileSync(files.cert, 'utf8'), key: readFileSync(files.key, 'utf8') }
          : {}),
        timeout,
      },
    });
  }

  /** Another client for the same broker without a client certificate. */
  withoutCertificate(): ApiClient {
    return new ApiClient(this.files, { connections: 1, withCertificate: false });
  }

  post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer> {
    return this.send('POST', path, { 'content-type': 'application/json', ...headers }, JSON.stringify(body));
  }

  get(path: string): Promise<ApiAnswer> {
    return this.send('GET', path, {});
  }

  close(): Promise<void> {
    return this.agent.close();
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<ApiAnswer> {
    const started = performance.now();
    const response = await request(`${this.files.url}${path}`, {
      method,
      dispatcher: this.agent,
      headers,
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.body.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      parsed = { raw: text.slice(0, 200) };
    }
    return { status: response.statusCode, body: parsed, ms: performance.now() - started };
  }
}

/** What went wrong with a request, as one short word: the API's error_code, else the transport's code. */
export function failureCode(outcome: ApiAnswer | unknown): string {
  if (outcome && typeof outcome === 'object' && 'status' in outcome && 'body' in outcome) {
    const answer = outcome as ApiAnswer;
    return typeof answer.body.error_code === 'string' ? answer.body.error_code : `HTTP_${answer.status}`;
  }
  const error = outcome as { code?: unknown; name?: unknown; cause?: { code?: unknown } };
  const code = error?.code ?? error?.cause?.code ?? error?.name;
  return typeof code === 'string' ? code : 'ERROR';
}
