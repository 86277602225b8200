/** Liveness, readiness and component health. Open without a client certificate: they hold no data. */
import type { FastifyInstance } from 'fastify';
import type { HealthService } from '../health/health.service.js';

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
    'Overall status (up, degraded, down) and one entry per component: redis, mysql, each actor, certificates, instances…',
  properties: {
    status: { type: 'string', enum: ['up', 'degraded', 'down'] },
    instance_id: { type: 'string' },
    version: { type: 'string' },
    uptime_s: { type: 'integer' },
    components: { type: 'object', additionalProperties: true },
  },
} as const;

export function registerHealthRoutes(app: FastifyInstance, health: HealthService): void {
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
        summary: 'Readiness: 503 while Redis or MySQL is unreachable or an actor is down',
        tags: ['health'],
        response: { 200: readiness, 503: readiness },
      },
    },
    async (_request, reply) => {
      const { ready, reasons } = await health.readiness();
      return reply.code(ready ? 200 : 503).send({ ready, reasons });
    },
  );

  app.get(
    '/api/v1/health',
    {
      schema: {
        summary: 'Component health (503 when a component is down)',
        tags: ['health'],
        response: { 200: report, 503: report },
      },
    },
    async (_request, reply) => {
      const result = await health.report();
      return reply.code(result.status === 'down' ? 503 : 200).send(result);
    },
  );
}
