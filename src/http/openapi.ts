/**
 * The OpenAPI document is generated from the route schemas (@fastify/swagger), so it can
 * not drift from what the routes validate. It covers the client API (`/api/...`) and the
 * probes; the portal and /metrics are not part of the integrators' contract and stay out.
 *
 * `/docs` serves Swagger UI from @fastify/swagger-ui's own files (no CDN: the broker often
 * runs where the internet is not reachable, and a CDN would see who reads the docs);
 * `/docs/json` the document. `npm run openapi` writes it to openapi.json for SDK
 * generators, and a test fails when the committed copy is stale.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { VERSION } from '../version.js';

const DOCUMENTED = /^\/(api\/|healthz$|readyz$)/;

export function registerOpenApi(app: FastifyInstance, serveUi: boolean): void {
  void app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Message broker API',
        version: VERSION,
        description:
          'Submit short messages over mutual TLS and follow them. Every error has the body `{error_code, message, details?, tracking_id, timestamp}`; ' +
          'the tracking id is also the `X-Request-Id` response header (a sane `X-Request-Id` sent by the client is kept). ' +
          'Counted requests carry `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy`; refusals (429) carry `Retry-After`.',
      },
      tags: [
        { name: 'messages', description: 'Submit messages and follow them (client certificate required)' },
        { name: 'health', description: 'Liveness, readiness and component health (no certificate needed)' },
      ],
      components: {
        securitySchemes: {
          // openapi-types does not know OpenAPI 3.1's mutualTLS scheme yet.
          mutualTLS: {
            type: 'mutualTLS',
            description: "A client certificate issued by the broker's CA, CN `name.domain`",
          } as unknown as { type: 'http'; scheme: string },
        },
      },
    },
    transform: ({ schema, url }) => ({ schema: DOCUMENTED.test(url) ? schema : { ...schema, hide: true }, url }),
  });
  if (serveUi) {
    void app.register(swaggerUi, {
      routePrefix: '/docs',
      // Swagger UI's own CSP: scripts and styles from this origin only.
      staticCSP: true,
      uiConfig: { docExpansion: 'list', deepLinking: true },
    });
  }
}
