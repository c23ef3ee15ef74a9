/**
 * Binding a server, for every listener the gateway opens (clients, the HTTPS redirect, the admin API): the
 * promise settles on the first of 'listening' and 'error', and the error listener does not outlive the bind.
 */
import type { AddressInfo, Server } from 'node:net';

/** listenOn binds `server` to `host`:`port` and resolves with the address it got (port 0: a free port). */
export function listenOn(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.removeListener('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
