// A bounded, crash-safe, append-only spool of the kills not yet delivered, so they survive a collector
// outage of many minutes and a restart of the receiver.
//
// One file of JSON lines: {"k": kill} when a kill arrives, {"a": id} when it was delivered, {"d": id}
// when it was dropped (rejected by the backend, or pushed out by the bound).
//
// Durability: every kill line is written (write(2), so it is in the page cache and survives the receiver's
// own crash, OOM kill or SIGKILL) before the kill is exported, and flushed to the disk (fdatasync) right
// after, off the event loop: one flush covers every line written while the previous one ran. A synchronous
// fdatasync per kill held each kill back by the disk's flush time, milliseconds on a network disk and worse
// in a burst; only a crash of the node itself within that flush can now lose a kill, which then had its
// export under way. Acknowledgements are not flushed (losing one only means the kill is sent again after a
// crash, under the same event id, which a backend de-duplicates). A torn last line after a crash is
// skipped. The file is rewritten (temporary file, fsync, rename) when it has grown and little of it is
// pending.
import { close, closeSync, existsSync, fdatasync, fdatasyncSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
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

export class Spool {
  readonly #pending = new Map<string, EnrichedKill>();
  readonly #options: SpoolOptions;
  readonly #path: string;
  #fd: number;
  /** A flush runs on the thread pool; another is wanted for lines written since it began. */
  #flushing = false;
  #flushWanted = false;
  /** File descriptors replaced by a rewrite while a flush ran on them: closed when it ends. */
  #retired: number[] = [];
  #closed = false;

  constructor(options: SpoolOptions) {
    this.#options = options;
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    this.#path = join(options.dir, FILE);
    if (existsSync(this.#path)) this.#load();
    this.#fd = openSync(this.#path, 'a', 0o600);
    this.#compactIfLarge(true);
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
    this.#write({ k: kill }, true);
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

  /** Flushes what is written and closes the file; a flush under way closes its descriptor when done. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flushWanted) fdatasyncSync(this.#fd);
    this.#flushWanted = false;
    if (this.#flushing) this.#retired.push(this.#fd);
    else closeSync(this.#fd);
  }

  #settle(ids: readonly string[], kind: 'a' | 'd'): void {
    for (const id of ids) {
      if (!this.#pending.delete(id)) continue;
      this.#write({ [kind]: id }, false);
    }
    this.#compactIfLarge(false);
  }

  #write(entry: object, flush: boolean): void {
    writeSync(this.#fd, `${JSON.stringify(entry, replacer)}\n`);
    if (flush) {
      this.#flushWanted = true;
      this.#flush();
    }
  }

  /** fdatasync on the thread pool, one at a time, each covering every line written before it began. */
  #flush(): void {
    if (this.#flushing || !this.#flushWanted || this.#closed) return;
    this.#flushing = true;
    this.#flushWanted = false;
    fdatasync(this.#fd, (error) => {
      this.#flushing = false;
      for (const fd of this.#retired.splice(0)) close(fd, () => {});
      if (error) this.#options.logger.warn('spool: could not flush to disk; kills are written but a node crash could lose them', { error });
      this.#flush();
    });
  }

  #load(): void {
    const lines = readFileSync(this.#path, 'utf8').split('\n');
    let torn = 0;
    for (const line of lines) {
      if (line === '') continue;
      let entry: { k?: EnrichedKill; a?: string; d?: string };
      try {
        entry = JSON.parse(line, reviver) as typeof entry;
      } catch {
        torn++;
        continue;
      }
      if (entry.k) this.#pending.set(entry.k.kill.eventId, entry.k);
      else if (entry.a !== undefined) this.#pending.delete(entry.a);
      else if (entry.d !== undefined) this.#pending.delete(entry.d);
    }
    if (torn > 0) this.#options.logger.warn('spool: skipped unreadable lines (a write torn by a crash)', { lines: torn });
    if (this.#pending.size > 0) this.#options.logger.info('spool: kills from before the restart will be sent again', { pending: this.#pending.size });
  }

  #compactIfLarge(force: boolean): void {
    const size = statSync(this.#path).size;
    if (!force && size < (this.#options.compactBytes ?? 8 * 1024 * 1024)) return;
    if (force && size === 0) return;
    const temporary = `${this.#path}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    for (const kill of this.#pending.values()) writeSync(fd, `${JSON.stringify({ k: kill }, replacer)}\n`);
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temporary, this.#path);
    // The rewrite holds every pending kill, flushed: a flush still wanted on the old file is not needed.
    this.#flushWanted = false;
    if (this.#flushing) this.#retired.push(this.#fd);
    else closeSync(this.#fd);
    this.#fd = openSync(this.#path, 'a', 0o600);
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
