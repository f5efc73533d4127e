// GET requests and watches to the API server, authenticated as client-node's KubeConfig says (token,
// client certificate, exec plugin, CA), on node:http(s):
// - not client-node's generated API classes: they bring every model of every API group into memory
//   (about 5 MB of code in the bundle) to read three kinds of object;
// - not client-node's Watch: it runs on undici, whose HTTP parser is WebAssembly, which V8's lite mode
//   (the image's flag, see the Dockerfile) does not have. This watch keeps Watch's contract, so
//   client-node's ListWatch drives it unchanged.
// Answers are parsed JSON, handed over as they came (or through `transform`); callers keep what they need.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import { createInterface } from 'node:readline';
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

type Query = Record<string, string | number | boolean | undefined>;
export type KubeGet = (path: string, query?: Query) => Promise<unknown>;

async function prepare(kubeConfig: KubeConfig, path: string, query: Query, timeoutMs: number): Promise<{ url: URL; options: RequestOptions; send: typeof httpsRequest }> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new KubeApiError('Kubernetes: the kubeconfig names no current cluster', 0);
  const url = new URL(server.replace(/\/$/, '') + path);
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
  const options: RequestOptions = { method: 'GET', headers: { accept: 'application/json' }, timeout: timeoutMs };
  await kubeConfig.applyToHTTPSOptions(options);
  return { url, options, send: url.protocol === 'http:' ? httpRequest : httpsRequest };
}

/** Each request gives up after `timeoutMs` (default 30 000, client-node's own). */
export function kubeGet(kubeConfig: KubeConfig, timeoutMs = 30_000): KubeGet {
  return async (path, query = {}) => {
    const { url, options, send } = await prepare(kubeConfig, path, query, timeoutMs);
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

type WatchCallback = (phase: string, object: any, watchObject?: any) => void;

/**
 * A watch with client-node Watch's contract (ListWatch calls it): each event line becomes
 * callback(type, object, event); done(error) once, when the stream ends (null), fails, or stays silent for
 * `inactivityMs` (a TimeoutError, after which ListWatch reconnects from the last resourceVersion); a
 * status other than 200 is an error carrying statusCode. ADDED, MODIFIED and DELETED objects go through
 * `transform` before anything keeps them.
 */
export class KubeWatch {
  readonly #kubeConfig: KubeConfig;
  readonly #transform: (object: unknown) => unknown;
  readonly #inactivityMs: number;

  constructor(kubeConfig: KubeConfig, options: { transform?: (object: unknown) => unknown; inactivityMs?: number } = {}) {
    this.#kubeConfig = kubeConfig;
    this.#transform = options.transform ?? ((object) => object);
    this.#inactivityMs = options.inactivityMs ?? 30_000;
  }

  async watch(path: string, query: Query, callback: WatchCallback, done: (error: any) => void): Promise<{ abort(): void }> {
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let req: ReturnType<typeof httpsRequest> | undefined;
    const finish = (error: unknown): void => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      req?.destroy();
      done(error ?? null);
    };
    const silence = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        const error = new Error(`the watch was silent for ${this.#inactivityMs} ms`);
        error.name = 'TimeoutError';
        finish(error);
      }, this.#inactivityMs);
      timer.unref();
    };
    const controller = { abort: () => finish(null) };
    try {
      const { url, options, send } = await prepare(this.#kubeConfig, path, { ...query, watch: 'true' }, this.#inactivityMs);
      silence();
      req = send(url, options, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          finish(new KubeApiError(`watch ${url.pathname}: HTTP ${response.statusCode}`, response.statusCode ?? 0));
          return;
        }
        response.on('data', silence);
        response.on('error', finish);
        response.on('end', () => finish(null));
        const lines = createInterface({ input: response, crlfDelay: Infinity });
        // readline passes the response's errors on (a watch aborted on silence, a reset connection): they
        // end the watch through response's own 'error' above, and must not be thrown as unhandled here.
        lines.on('error', () => {});
        lines.on('line', (line) => {
          let event: { type?: string; object?: unknown };
          try {
            event = JSON.parse(line) as typeof event;
          } catch {
            return; // as client-node's Watch: a line that is not JSON is skipped
          }
          const cut = event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED';
          callback(event.type ?? '', cut ? this.#transform(event.object) : event.object, cut ? undefined : event);
        });
      });
      req.on('timeout', () => req?.destroy(new Error(`no answer within ${this.#inactivityMs} ms`)));
      req.on('error', (error) => finish(new KubeApiError(`watch ${url.pathname}: ${error.message}`, 0, { cause: error })));
      req.end();
    } catch (error) {
      finish(error);
    }
    return controller;
  }
}
