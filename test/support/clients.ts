/** Registers a client certificate in a test workspace the way the CA does (CA key from the workspace), with the CA's default lifetime. */
import type { ClientBundle, Workspace } from './broker-harness.js';
import { issueRegisteredClient } from './client-certificates.js';

export function registerClient(workspace: Workspace, name: string, domain: string): Promise<ClientBundle> {
  return issueRegisteredClient(workspace, name, domain, {});
}
