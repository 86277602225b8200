/**
 * The admin area, `/portal/admin/*`: reachable by admins and superadmins only. To anyone
 * else it does not exist (404, like any object outside one's scope).
 */
import type { FastifyInstance } from 'fastify';
import { BrokerError } from '../errors.js';
import { AdminContext } from './admin-context.js';
import { registerCertificatesRoutes } from './certificates.routes.js';
import { registerClientsRoutes } from './clients.routes.js';
import { registerOperationsRoutes } from './operations.routes.js';
import type { PortalDeps } from './portal.types.js';
import { isAdmin } from './tenant-scope.js';
import { registerUsersRoutes } from './users.routes.js';

export async function registerAdminRoutes(app: FastifyInstance, options: PortalDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    if (!request.portal || !isAdmin(request.portal.user)) throw new BrokerError('NOT_FOUND', 'There is no such page');
  });
  const admin = new AdminContext(options);
  registerOperationsRoutes(app, admin);
  registerUsersRoutes(app, admin);
  registerClientsRoutes(app, admin);
  registerCertificatesRoutes(app, admin);
}
