// /healthz (the process is alive and its event loop turns) and /readyz (a source is watching the kernel).
import { createServer } from 'node:http';
import type { Server } from 'node:http';

export interface HealthServer {
  setReady(ready: boolean, reason?: string): void;
  close(): Promise<void>;
}

export async function startHealthServer(host: string, port: number): Promise<HealthServer> {
  let ready = false;
  let reason = 'starting';
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      response.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : `not ready: ${reason}\n`);
    } else {
      response.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(new Error(`health endpoint ${host}:${port}: ${error.message}`, { cause: error })));
    server.listen(port, host, resolve);
  });
  return {
    setReady(value: boolean, why = ''): void {
      ready = value;
      reason = why;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
