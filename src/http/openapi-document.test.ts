/**
 * The committed openapi.json is what SDK generators read: it must be the routes' current
 * spec. That it is also exactly what a started broker serves at /docs/json is checked end to
 * end (test/e2e/client-api.e2e.test.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument, formatOpenApi, OPENAPI_FILE } from './openapi-document.js';

describe('openapi.json', () => {
  it('is up to date with the route schemas (run `npm run openapi` after changing a route)', async () => {
    const current = formatOpenApi(await buildOpenApiDocument());
    const committed = readFileSync(OPENAPI_FILE, 'utf8');
    expect(committed, 'openapi.json is stale: run `npm run openapi` and commit the result').toBe(current);
  });

  it('documents the client API with mutual TLS, the certificate admin API with the portal session, and leaves the rest out', async () => {
    const document = (await buildOpenApiDocument()) as {
      openapi: string;
      paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>;
      components: { securitySchemes: Record<string, { type: string }> };
    };
    expect(document.openapi).toBe('3.1.0');
    expect(document.components.securitySchemes.mutualTLS?.type).toBe('mutualTLS');
    expect(Object.keys(document.paths).sort()).toEqual([
      '/api/v1/admin/certificates',
      '/api/v1/admin/certificates/{serial}/revoke',
      '/api/v1/admin/clients',
      '/api/v1/admin/clients/{name}/disable',
      '/api/v1/admin/clients/{name}/enable',
      '/api/v1/admin/clients/{name}/renew',
      '/api/v1/admin/clients/{name}/revoke',
      '/api/v1/admin/clients/{name}/status-callback',
      '/api/v1/admin/crl',
      '/api/v1/events',
      '/api/v1/health',
      '/api/v1/messages',
      '/api/v1/messages/batch',
      '/api/v1/messages/{message_id}',
      '/healthz',
      '/readyz',
    ]);
    expect(document.paths['/api/v1/messages']!.post!.security).toEqual([{ mutualTLS: [] }]);
    expect(document.paths['/api/v1/events']!.get!.security).toEqual([{ mutualTLS: [] }]);
    expect(Object.keys(document.paths['/api/v1/events']!.get!.responses)).toContain('101');
    expect(document.paths['/api/v1/admin/clients']!.post!.security).toEqual([{ portalSession: [] }]);
    expect(document.paths['/api/v1/admin/clients/{name}/disable']!.post!.security).toEqual([{ portalSession: [] }]);
    expect(document.components.securitySchemes.portalSession?.type).toBe('apiKey');
    expect(Object.keys(document.paths['/api/v1/messages/batch']!.post!.responses)).toEqual(
      expect.arrayContaining(['207', '429', '4XX', '5XX']),
    );
  });

  it('documents each route by the statuses it really answers: 201 for an issued certificate, errors on the admin API, no 429 where no limit counts', async () => {
    const document = (await buildOpenApiDocument()) as {
      paths: Record<string, Record<string, { tags?: string[]; responses: Record<string, unknown> }>>;
    };
    const statuses = (path: string, method: string) => Object.keys(document.paths[path]![method]!.responses).sort();
    expect(statuses('/api/v1/admin/clients', 'post')).toEqual(['201', '4XX', '5XX']);
    expect(statuses('/api/v1/admin/clients/{name}/renew', 'post')).toEqual(['201', '4XX', '5XX']);
    expect(document.paths['/api/v1/admin/clients']!.post!.responses['201']).toMatchObject({
      content: {
        'application/json': { schema: { required: expect.arrayContaining(['key_pem', 'cert_pem', 'serial']) } },
      },
    });
    for (const [path, item] of Object.entries(document.paths))
      for (const [method, operation] of Object.entries(item))
        if (operation.tags?.includes('admin'))
          expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['4XX', '5XX']));
    expect(statuses('/api/v1/events', 'get')).toEqual(['101', '4XX', '5XX']);
    // Every kind of frame the socket sends is named: events, the subscribed frame, the error frame.
    expect(JSON.stringify(document.paths['/api/v1/events']!.get!.responses['101'])).toContain(
      '{\\"type\\":\\"error\\",\\"error_code\\":\\"INVALID_PAYLOAD\\"',
    );
  });

  it('documents the webhook payload (versioned) and both signature headers under webhooks', async () => {
    const document = (await buildOpenApiDocument()) as {
      webhooks: Record<string, { post: { parameters: Array<{ name: string }>; requestBody: unknown } }>;
    };
    const post = document.webhooks.message!.post;
    expect(post.parameters.map((p) => p.name)).toEqual(
      expect.arrayContaining(['webhook-id', 'webhook-timestamp', 'webhook-signature', 'X-MB-Signature']),
    );
    expect(post.requestBody).toMatchObject({
      content: {
        'application/json': {
          schema: { properties: { payload_version: { const: 2 }, client_id: { type: 'string' } } },
        },
      },
    });
  });
});

describe('response headers in openapi.json', () => {
  type Responses = Record<string, { headers?: Record<string, unknown>; content?: unknown }>;
  const responsesOf = async (path: string, method: string) => {
    const document = (await buildOpenApiDocument()) as {
      paths: Record<string, Record<string, { responses: Responses }>>;
    };
    return document.paths[path]?.[method]?.responses ?? {};
  };
  const RATE = ['RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'RateLimit-Policy'];

  it('documents what the client API sets by hand: X-Request-Id, RateLimit-*, Retry-After, Idempotent-Replayed', async () => {
    const submit = await responsesOf('/api/v1/messages', 'post');
    expect(Object.keys(submit['202']?.headers ?? {}).sort()).toEqual(
      ['X-Request-Id', ...RATE, 'Idempotent-Replayed'].sort(),
    );
    expect(Object.keys(submit['429']?.headers ?? {}).sort()).toEqual(['X-Request-Id', ...RATE, 'Retry-After'].sort());
    expect(Object.keys(submit['4XX']?.headers ?? {})).toEqual(['X-Request-Id']);
    // A 503 (Redis away, shutting down) says when to try again.
    expect(Object.keys(submit['5XX']?.headers ?? {}).sort()).toEqual(['Retry-After', 'X-Request-Id']);
    const batch = await responsesOf('/api/v1/messages/batch', 'post');
    expect(Object.keys(batch['207']?.headers ?? {})).toEqual(expect.arrayContaining(['Retry-After', ...RATE]));
    const lookup = await responsesOf('/api/v1/messages/{message_id}', 'get');
    expect(Object.keys(lookup['200']?.headers ?? {}).sort()).toEqual(['X-Request-Id', ...RATE].sort());
    // The headers describe the answer, not its JSON body.
    expect(JSON.stringify(submit['202']?.content)).not.toContain('RateLimit');
  });
});
