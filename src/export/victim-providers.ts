// The SDK fixes a Resource per provider (LoggerProvider, TracerProvider), and a kill's Resource is its
// victim's: one provider per distinct victim Resource, kept in a bounded least-recently-used cache. An
// evicted provider is simply dropped (shutting it down would shut the processor every provider shares).
import type { Attributes } from '../event.ts';

/** One key per attribute set, whatever the order its keys were added in. */
export const attributesKey = (attributes: Attributes): string => JSON.stringify(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1)));

export class VictimProviders<T> {
  readonly #made = new Map<string, T>();
  readonly #max: number;
  readonly #make: (victim: Attributes) => T;

  /** `make` builds what serves one victim Resource; at most `max` are kept (default 256). */
  constructor(make: (victim: Attributes) => T, max = 256) {
    this.#make = make;
    this.#max = max;
  }

  get(victim: Attributes): T {
    const key = attributesKey(victim);
    let found = this.#made.get(key);
    if (found !== undefined) {
      this.#made.delete(key); // re-inserted below: the least recently used goes first
    } else {
      found = this.#make(victim);
      if (this.#made.size >= this.#max) this.#made.delete(this.#made.keys().next().value as string);
    }
    this.#made.set(key, found);
    return found;
  }
}
