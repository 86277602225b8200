/**
 * Liveness, readiness and component health. Open without credentials, but then they answer
 * statuses only (issue #17): the details name every tenant's expiring certificates (CN,
 * serial), a downstream's internal address (a breaker's last error), host and pid. The
 * details — `/readyz` reasons, `/api/v1/health` in full — need an operator: loopback, a
 * metrics identity (`operator-access.ts`) or a superadmin's portal session (server.ts).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { summarizeHealth, type HealthService } from '../health/health.service.js';

/** May this request see health details? Never throws: without them it gets statuses. */
export type HealthDetailAccess = (request: FastifyRequest) => Promise<boolean>;

// Loose on purpose: components come and go with subsystems, and a response schema drops
// whatever it does not name.
const readiness = {
  type: 'object',
  properties: { ready: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } } },
} as const;
const report = {
  type: 'object',
  additionalProperties: true,
  description:
    "The installation's status (up, degraded, down: the worst of the shared components — redis, mysql, each actor, CRL, server certificate, instances), one entry per component, and per configured domain its own status with reasons (client certificates expiring within 7 days, paused or inactive, breaker open, plain-http target), which does not count toward the installation's status; without operator credentials (loopback, metrics identity, superadmin session) statuses only and no domains",
  properties: {
    status: { type: 'string', enum: ['up', 'degraded', 'down'] },
    instance_id: { type: 'string' },
    version: { type: 'string' },
    uptime_s: { type: 'integer' },
    components: { type: 'object', additionalProperties: true },
    domains: {
      type: 'object',
      additionalProperties: {
        type: 'object',
        properties: {
          status: { type: 'string', enum: ['up', 'degraded'] },
          reasons: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
} as const;

export function registerHealthRoutes(
  app: FastifyInstance,
  health: HealthService,
  mayReadDetails: HealthDetailAccess,
): void {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness: the process answers',
        tags: ['health'],
        response: { 200: { type: 'object', properties: { status: { type: 'string' } } } },
      },
    },
    async () => ({ status: 'alive' }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: 503 while Redis or MySQL is unreachable or an actor is down (reasons for operators only)',
        tags: ['health'],
        response: { 200: readiness, 503: readiness },
      },
    },
    async (request, reply) => {
      const { ready, reasons } = await health.readiness();
      const body = (await mayReadDetails(request)) ? { ready, reasons } : { ready };
      return reply.code(ready ? 200 : 503).send(body);
    },
  );

  app.get(
    '/api/v1/health',
    {
      schema: {
        summary: 'Installation and per-domain health (503 when a shared component is down)',
        tags: ['health'],
        response: { 200: report, 503: report },
      },
    },
    async (request, reply) => {
      const result = await health.report();
      const body = (await mayReadDetails(request)) ? result : summarizeHealth(result);
      return reply.code(result.status === 'down' ? 503 : 200).send(body);
    },
  );
}
