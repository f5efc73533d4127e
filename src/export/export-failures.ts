// Says so when an OTLP export keeps failing: a collector that is down, a TLS handshake that fails, an
// endpoint that speaks another protocol. Without this the exporters retry in silence and the only sign is
// what never arrives. One warn line when a run of failures starts, then at most one per interval while it
// lasts (the count in between), and one info line when exports work again.
import type { Logger } from '../log.ts';

export interface ExportFailuresOptions {
  /** logs, metrics or traces. */
  signal: string;
  /** Where the exports go, as the configuration resolved it. */
  endpoint: string;
  logger: Logger;
  /** At most one warn line per this many ms while failures go on (default 60 000). */
  intervalMs?: number;
  /** What waits while exports fail, for the warn line: e.g. 'the kills wait in the spool and are retried'. */
  consequence: string;
  now?: () => number;
}

export class ExportFailures {
  readonly #options: ExportFailuresOptions;
  #failures = 0;
  #since = 0;
  #lastWarned = 0;
  #unreported = 0;

  constructor(options: ExportFailuresOptions) {
    this.#options = options;
  }

  /** Consecutive failed exports so far. */
  get failures(): number {
    return this.#failures;
  }

  failed(error: unknown): void {
    const now = (this.#options.now ?? Date.now)();
    if (this.#failures === 0) this.#since = now;
    this.#failures++;
    this.#unreported++;
    const interval = this.#options.intervalMs ?? 60_000;
    if (this.#failures > 1 && now - this.#lastWarned < interval) return;
    this.#lastWarned = now;
    const { signal, endpoint, consequence } = this.#options;
    this.#options.logger.warn(`OTLP ${signal} export to ${endpoint} failed: ${consequence}; check that the endpoint is up and speaks the configured protocol`, {
      signal,
      endpoint,
      error: describe(error),
      failures: this.#unreported,
      failingForMs: now - this.#since,
    });
    this.#unreported = 0;
  }

  succeeded(): void {
    if (this.#failures === 0) return;
    const now = (this.#options.now ?? Date.now)();
    const { signal, endpoint } = this.#options;
    this.#options.logger.info(`OTLP ${signal} export to ${endpoint} works again`, { signal, endpoint, failures: this.#failures, failedForMs: now - this.#since });
    this.#failures = 0;
    this.#unreported = 0;
    this.#lastWarned = 0;
  }
}

/** The error as a person reads it: gRPC status errors and HTTP errors carry their code beside the message. */
function describe(error: unknown): string {
  if (error === undefined) return 'unknown error';
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const data = (error as { data?: unknown }).data;
  let text = error.message !== '' ? error.message : error.name;
  if (code !== undefined && !text.includes(String(code))) text = `${text} (code ${String(code)})`;
  if (typeof data === 'string' && data !== '') text = `${text}: ${data.slice(0, 200)}`;
  return text;
}
