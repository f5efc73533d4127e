// The retry discipline every signal shares: after a failed export, wait (250 ms doubling to 2 s by
// default), then retry on a fresh exporter, so a fresh connection. grpc-js would otherwise keep a failed
// channel in its own reconnect backoff (18 s and more after a 30 s outage) long after the collector is back.

export class FreshExporter<E extends { shutdown(): Promise<void> }> {
  readonly #create: () => E;
  readonly #minMs: number;
  readonly #maxMs: number;
  #backoffMs: number;
  #current: E;

  constructor(create: () => E, backoff: { minMs?: number; maxMs?: number } = {}) {
    this.#create = create;
    this.#minMs = backoff.minMs ?? 250;
    this.#maxMs = backoff.maxMs ?? 2000;
    this.#backoffMs = this.#minMs;
    this.#current = create();
  }

  get current(): E {
    return this.#current;
  }

  succeeded(): void {
    this.#backoffMs = this.#minMs;
  }

  /** Waits out the backoff, then replaces the exporter with a fresh one. */
  async failed(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, this.#backoffMs));
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxMs);
    const stale = this.#current;
    this.#current = this.#create();
    void stale.shutdown().catch(() => {});
  }

  async shutdown(): Promise<void> {
    await this.#current.shutdown().catch(() => {});
  }
}
