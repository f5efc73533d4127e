// GET requests to the API server, authenticated as client-node's KubeConfig says (token, client
// certificate, exec plugin, CA), without client-node's generated API classes: those bring every model of
// every API group into memory (about 5 MB of code in the bundle) to read three kinds of object. The
// answer is parsed JSON, handed over as it came; the caller keeps only what it needs.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** A failed request: `code` is the HTTP status (0 when none came), as client-node's errors carry it. */
export class KubeApiError extends Error {
  readonly code: number;
  readonly statusCode: number;
  constructor(message: string, code: number, options?: ErrorOptions) {
    super(message, options);
    this.name = 'KubeApiError';
    this.code = code;
    this.statusCode = code;
  }
}

export type KubeGet = (path: string, query?: Record<string, string | number | undefined>) => Promise<unknown>;

/** Each request gives up after `timeoutMs` (default 30 000, client-node's own). */
export function kubeGet(kubeConfig: KubeConfig, timeoutMs = 30_000): KubeGet {
  return async (path, query = {}) => {
    const server = kubeConfig.getCurrentCluster()?.server;
    if (server === undefined) throw new KubeApiError('Kubernetes: the kubeconfig names no current cluster', 0);
    const url = new URL(server.replace(/\/$/, '') + path);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    const options: RequestOptions = { method: 'GET', headers: { accept: 'application/json' }, timeout: timeoutMs };
    await kubeConfig.applyToHTTPSOptions(options);
    const send = url.protocol === 'http:' ? httpRequest : httpsRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, options, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', (error) => reject(new KubeApiError(`GET ${url.pathname}: ${error.message}`, 0, { cause: error })));
        response.on('end', () => {
          const status = response.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          chunks.length = 0;
          if (status < 200 || status > 299) {
            reject(new KubeApiError(`GET ${url.pathname}: HTTP ${status} ${text.slice(0, 200)}`, status));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch (error) {
            reject(new KubeApiError(`GET ${url.pathname}: the answer is not JSON (${(error as Error).message})`, status, { cause: error }));
          }
        });
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on('error', (error) => reject(new KubeApiError(`GET ${url.pathname}: ${error.message}`, 0, { cause: error })));
      req.end();
    });
  };
}
