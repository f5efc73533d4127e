// The cgroup source, after the Google guest agent's OOM watcher: the kernel's own per-cgroup OOM kill
// counters (src/sources/cgroup-counters.ts), read for every pod and container cgroup. It sees no pid and
// no process name, but it counts exactly, per container, on any kernel with a memory controller, without
// BPF or the kernel log. inotify does not fire on v1 control files, so they are polled (default every
// second); on v2 the kernel notifies inotify watchers when memory.events changes, so they are watched too.
// Limitation: a cgroup created, OOM-killed in and removed between two polls is not seen (the bpf and kmsg
// sources see it); a counter found already above zero in a cgroup that appeared after start is reported.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import type { OomKill } from '../event.ts';
import type { Logger } from '../log.ts';
import { CgroupCounters, readCounter } from './cgroup-counters.ts';
import type { CgroupCounterOptions } from './cgroup-counters.ts';
import { bootId, nowUnixNano } from './kernel-clock.ts';
import type { Source, SourceHandlers, SourceInfo } from './source.ts';

export interface CgroupSourceOptions extends CgroupCounterOptions {
  /** Default 1000 ms. */
  pollIntervalMs?: number;
}

export function createCgroupSource(options: CgroupSourceOptions, logger: Logger): Source {
  const kernel = new CgroupCounters(options);
  const detected = kernel.version;
  const counters = new Map<string, { file: string; count: number }>();
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let handlers: SourceHandlers | undefined;

  const emit = (path: string, from: number, to: number): void => {
    const now = nowUnixNano();
    for (let count = from + 1; count <= to; count++) {
      const kill: OomKill = {
        source: 'cgroup',
        eventId: `${bootId()}:cgroup:${path}:${count}`,
        timeUnixNano: now, // the counter says that, not when: the kill happened since the last read
        observedUnixNano: now,
        constraint: 'memcg',
        constraintInferred: true,
        victim: {},
        memory: {},
        cgroup: { path, pathTruncated: false, v2: detected === 'v2' },
      };
      handlers?.onKill(kill);
    }
  };

  const scan = (initial: boolean): void => {
    const present = kernel.readAll();
    for (const [path, { file, count }] of present) {
      const known = counters.get(path);
      if (!known) {
        // Kills before the receiver started are not news; kills in a cgroup born since are.
        counters.set(path, { file, count });
        if (!initial) emit(path, 0, count);
        if (detected === 'v2') watchFile(path, file);
        continue;
      }
      if (count > known.count) emit(path, known.count, count);
      known.count = count; // a smaller count: the cgroup was re-created under the same path
    }
    for (const path of counters.keys()) {
      if (!present.has(path)) {
        counters.delete(path);
        watchers.get(path)?.close();
        watchers.delete(path);
      }
    }
  };

  const check = (path: string): void => {
    const known = counters.get(path);
    const count = known ? readCounter(known.file) : undefined;
    if (!known || count === undefined) return;
    if (count > known.count) emit(path, known.count, count);
    known.count = count;
  };
  const watchFile = (path: string, file: string): void => {
    try {
      watchers.set(path, watch(file, () => check(path)));
    } catch (error) {
      logger.debug('cannot watch a cgroup counter; it is polled', { file, error });
    }
  };

  return {
    name: 'cgroup',
    async start(h: SourceHandlers): Promise<SourceInfo> {
      if (!kernel.available()) throw new Error(`cgroup: no cgroup ${detected} memory controller at ${kernel.mountRoot}`);
      handlers = h;
      scan(true);
      const interval = options.pollIntervalMs ?? 1000;
      timer = setInterval(() => scan(false), interval);
      return { name: 'cgroup', detail: `OOM kill counters of ${counters.size} cgroups under ${kernel.root} (cgroup ${detected}, polled every ${interval} ms${detected === 'v2' ? ' and watched' : ''})` };
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      handlers = undefined;
    },
  };
}
