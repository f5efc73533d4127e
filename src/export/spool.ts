// A bounded, crash-safe, append-only spool of the kills not yet delivered, so they survive a collector
// outage of many minutes and a restart of the receiver.
//
// One journal (src/journal.ts): {"k": kill} when a kill arrives, {"a": id} when it was delivered, {"d": id}
// when it was dropped (rejected by the backend, or pushed out by the bound).
//
// Durability: every kill line is written before the kill is exported, so it survives the receiver's own
// crash, and flushed to disk right after, off the event loop; only a crash of the node itself within that
// flush can lose a kill, which then had its export under way. Acknowledgements are not flushed (losing one
// only means the kill is sent again after a crash, under the same event id, which a backend de-duplicates).
// The file is rewritten to the pending kills when it has grown and little of it is pending.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../journal.ts';
import type { Logger } from '../log.ts';
import type { EnrichedKill } from './kill-record.ts';

export interface SpoolOptions {
  dir: string;
  /** Kills kept pending at most (default 10 000); past it the oldest are dropped and counted. */
  maxPending?: number;
  /** Rewrite the file once it exceeds this many bytes (default 8 MiB). */
  compactBytes?: number;
  logger: Logger;
  onDropped?(count: number): void;
}

const FILE = 'spool.jsonl';

type Entry = { k: EnrichedKill } | { a: string } | { d: string };

export class Spool {
  readonly #pending = new Map<string, EnrichedKill>();
  readonly #options: SpoolOptions;
  readonly #journal: Journal<Entry>;

  constructor(options: SpoolOptions) {
    this.#options = options;
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    const path = join(options.dir, FILE);
    this.#load(path);
    this.#journal = new Journal<Entry>({
      path,
      replacer,
      onFlushError: (error) => options.logger.warn('spool: could not flush to disk; kills are written but a node crash could lose them', { error }),
    });
    if (this.#journal.bytes > 0) this.#rewrite();
  }

  /** Kills a previous process spooled and never saw delivered, oldest first. */
  pending(): EnrichedKill[] {
    return [...this.#pending.values()];
  }

  get size(): number {
    return this.#pending.size;
  }

  add(kill: EnrichedKill): void {
    const id = kill.kill.eventId;
    if (this.#pending.has(id)) return;
    this.#pending.set(id, kill);
    this.#journal.append({ k: kill }, { flush: true });
    const max = this.#options.maxPending ?? 10_000;
    if (this.#pending.size > max) {
      const oldest = this.#pending.keys().next().value as string;
      this.drop([oldest]);
      this.#options.logger.warn('spool full: dropped the oldest undelivered OOM kill', { eventId: oldest, maxPending: max });
      this.#options.onDropped?.(1);
    }
  }

  ack(ids: readonly string[]): void {
    this.#settle(ids, 'a');
  }

  drop(ids: readonly string[]): void {
    this.#settle(ids, 'd');
  }

  /** Flushes what is written and closes the file. */
  close(): void {
    this.#journal.close();
  }

  #settle(ids: readonly string[], kind: 'a' | 'd'): void {
    for (const id of ids) {
      if (!this.#pending.delete(id)) continue;
      this.#journal.append(kind === 'a' ? { a: id } : { d: id });
    }
    if (this.#journal.bytes >= (this.#options.compactBytes ?? 8 * 1024 * 1024)) this.#rewrite();
  }

  #load(path: string): void {
    const { entries, torn } = Journal.read<Entry>(path, reviver);
    for (const entry of entries) {
      if ('k' in entry) this.#pending.set(entry.k.kill.eventId, entry.k);
      else if ('a' in entry) this.#pending.delete(entry.a);
      else if ('d' in entry) this.#pending.delete(entry.d);
    }
    if (torn > 0) this.#options.logger.warn('spool: skipped unreadable lines (a write torn by a crash)', { lines: torn });
    if (this.#pending.size > 0) this.#options.logger.info('spool: kills from before the restart will be sent again', { pending: this.#pending.size });
  }

  #rewrite(): void {
    this.#journal.rewrite([...this.#pending.values()].map((kill) => ({ k: kill })));
  }
}

/** bigint is not JSON: {"$n": "123"}. */
function replacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? { $n: value.toString() } : value;
}
function reviver(_key: string, value: unknown): unknown {
  if (typeof value === 'object' && value !== null && '$n' in value && Object.keys(value).length === 1) return BigInt((value as { $n: string }).$n);
  return value;
}
