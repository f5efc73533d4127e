// An append-only file of JSON lines: the one mechanism under the spool (src/export/spool.ts) and the
// reconciler's accounting (src/sources/reconciler.ts).
//
// Each entry is one write(2): once it returns, the entry is in the page cache and survives its writer's
// crash, OOM kill or SIGKILL, which cannot split it. A line torn by a crash of the node is skipped when the
// file is read. The file is rewritten (temporary file, fsync, rename) to what its owner still needs, so a
// crash leaves the old file or the new one. An entry written with `flush` is also flushed to disk, off the
// event loop: one fdatasync at a time, each covering every entry written before it began (a synchronous
// fdatasync per entry held each kill back by the disk's flush time, worse in a burst).
import { close, closeSync, existsSync, fdatasync, fdatasyncSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs';

type Replacer = (key: string, value: unknown) => unknown;

export interface JournalOptions {
  path: string;
  /** For values JSON does not carry (the spool's bigints), both ways. */
  replacer?: Replacer;
  reviver?: Replacer;
  /** A flush to disk failed: the entries are written, but a crash of the node could lose them. */
  onFlushError?(error: Error): void;
}

export class Journal<E> {
  readonly #options: JournalOptions;
  #fd: number;
  #bytes: number;
  /** A flush runs on the thread pool; another is wanted for entries written since it began. */
  #flushing = false;
  #flushWanted = false;
  /** Descriptors replaced by a rewrite while a flush ran on them: closed when it ends. */
  #retired: number[] = [];
  #closed = false;

  /** Every whole entry of the file at `path`, oldest first, and how many lines could not be read. */
  static read<E>(path: string, reviver?: Replacer): { entries: E[]; torn: number } {
    if (!existsSync(path)) return { entries: [], torn: 0 };
    const entries: E[] = [];
    let torn = 0;
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line, reviver) as E);
      } catch {
        torn++;
      }
    }
    return { entries, torn };
  }

  /** Opens the file at `options.path` for appending, creating it. */
  constructor(options: JournalOptions) {
    this.#options = options;
    this.#fd = openSync(options.path, 'a', 0o600);
    this.#bytes = statSync(options.path).size;
  }

  /** The file's size in bytes. */
  get bytes(): number {
    return this.#bytes;
  }

  append(entry: E, options: { flush?: boolean } = {}): void {
    this.#bytes += writeSync(this.#fd, this.#line(entry));
    if (options.flush === true) {
      this.#flushWanted = true;
      this.#flush();
    }
  }

  /** Replaces the file with these entries, flushed; a flush still wanted on the old file is not needed. */
  rewrite(entries: Iterable<E>): void {
    const temporary = `${this.#options.path}.tmp`;
    const fd = openSync(temporary, 'w', 0o600);
    let bytes = 0;
    for (const entry of entries) bytes += writeSync(fd, this.#line(entry));
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temporary, this.#options.path);
    this.#flushWanted = false;
    this.#retire();
    this.#fd = openSync(this.#options.path, 'a', 0o600);
    this.#bytes = bytes;
  }

  /** Flushes what is written and closes the file. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#flushWanted) fdatasyncSync(this.#fd);
    this.#flushWanted = false;
    this.#retire();
  }

  #line(entry: E): string {
    return `${JSON.stringify(entry, this.#options.replacer)}\n`;
  }

  /** Closes the current descriptor, or leaves it to the flush under way on it. */
  #retire(): void {
    if (this.#flushing) this.#retired.push(this.#fd);
    else closeSync(this.#fd);
  }

  #flush(): void {
    if (this.#flushing || !this.#flushWanted || this.#closed) return;
    this.#flushing = true;
    this.#flushWanted = false;
    fdatasync(this.#fd, (error) => {
      this.#flushing = false;
      for (const fd of this.#retired.splice(0)) close(fd, () => {});
      if (error) this.#options.onFlushError?.(error);
      this.#flush();
    });
  }
}
