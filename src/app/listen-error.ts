/**
 * The front's `listen` failing is an operator's setting meeting the host (a port taken, a
 * privileged port, an address the host does not have): said in the config's words, with
 * the fix, instead of Node's `listen EADDRINUSE: address already in use`.
 */
export function listenError(error: unknown, host: string, port: number): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const at = `${host}:${port}`;
  const advice =
    code === 'EADDRINUSE'
      ? 'the port is in use (another broker, or another program): stop it, or set server.port (MB_SERVER_PORT) to a free port'
      : code === 'EACCES'
        ? 'this user may not listen there (a port below 1024 needs privileges): set server.port to 1024 or above (8443), or grant the broker CAP_NET_BIND_SERVICE'
        : code === 'EADDRNOTAVAIL'
          ? `server.host ${host} is not an address of this host: set server.host to one of its addresses (0.0.0.0 listens on all)`
          : undefined;
  if (advice === undefined) return error instanceof Error ? error : new Error(String(error));
  return new Error(`cannot listen on ${at}: ${advice}`, { cause: error });
}
