// The cgroup source, after the Google guest agent's OOM watcher: the kernel's own per-cgroup OOM kill
// counters, read for every pod and container cgroup. It sees no pid and no process name, but it counts
// exactly, per container, on any kernel with a memory controller, without BPF or the kernel log.
//
// cgroup v1: memory.oom_control's `oom_kill` counts kills in that cgroup only (checked: a kill in a child
// does not count in its parent), so every cgroup is read; inotify does not fire on v1 control files, so
// they are polled (default every second).
// cgroup v2: memory.events' `oom_kill` is hierarchical (a kill counts in every ancestor), so
// memory.events.local is read where the kernel has it (5.12+), else memory.events of leaf cgroups only.
// The kernel notifies inotify watchers when memory.events changes, so v2 is watched and polled both.
// Limitation: a cgroup created, OOM-killed in and removed between two polls is not seen (the bpf and kmsg
// sources see it); a counter found already above zero in a cgroup that appeared after start is reported.
import { existsSync, readdirSync, readFileSync, watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { join } from 'node:path';
import type { OomKill } from '../event.ts';
import type { Logger } from '../log.ts';
import { bootId, nowUnixNano } from './kernel-clock.ts';
import type { Source, SourceHandlers, SourceInfo } from './source.ts';

export interface CgroupSourceOptions {
  /** Where to start looking (default: the memory controller's root). */
  root?: string;
  /** The controller's mount point, from which paths are named as the kernel names them (default: detected). */
  mountRoot?: string;
  version?: 'v1' | 'v2';
  /** Default 1000 ms. */
  pollIntervalMs?: number;
  /** Which cgroups to count, by their path from the mount root (default: those under kubepods). */
  match?: (path: string) => boolean;
}

interface Counter { file: string; count: number }

const defaultMatch = (path: string): boolean => path.includes('kubepods');

export function createCgroupSource(options: CgroupSourceOptions, logger: Logger): Source {
  const detected = options.version ?? (existsSync('/sys/fs/cgroup/memory/memory.oom_control') ? 'v1' : 'v2');
  const mountRoot = options.mountRoot ?? (detected === 'v1' ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup');
  const root = options.root ?? mountRoot;
  const match = options.match ?? defaultMatch;
  const counters = new Map<string, Counter>();
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let handlers: SourceHandlers | undefined;

  const counterFile = (dir: string, isLeaf: boolean): string | undefined => {
    if (detected === 'v1') return join(dir, 'memory.oom_control');
    if (existsSync(join(dir, 'memory.events.local'))) return join(dir, 'memory.events.local');
    return isLeaf ? join(dir, 'memory.events') : undefined;
  };
  const read = (file: string): number | undefined => {
    try {
      const value = /^oom_kill (\d+)$/m.exec(readFileSync(file, 'utf8'));
      return value ? Number(value[1]) : 0;
    } catch {
      return undefined; // the cgroup went away between listing and reading
    }
  };
  /** Every cgroup directory under `dir`, depth first, with whether it is a leaf. */
  const walk = (dir: string, out: Array<{ dir: string; leaf: boolean }>): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    const children = entries.filter((e) => e.isDirectory());
    out.push({ dir, leaf: children.length === 0 });
    for (const child of children) walk(join(dir, child.name), out);
  };

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
    const found: Array<{ dir: string; leaf: boolean }> = [];
    walk(root, found);
    const present = new Set<string>();
    for (const { dir, leaf } of found) {
      const path = dir.slice(mountRoot.length) || '/';
      if (!match(path)) continue;
      const file = counterFile(dir, leaf);
      if (file === undefined) continue;
      const count = read(file);
      if (count === undefined) continue;
      present.add(path);
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
    const count = known ? read(known.file) : undefined;
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
      if (!existsSync(join(mountRoot, detected === 'v1' ? 'memory.oom_control' : 'cgroup.controllers')) || !existsSync(root)) {
        throw new Error(`cgroup: no cgroup ${detected} memory controller at ${mountRoot}`);
      }
      handlers = h;
      scan(true);
      const interval = options.pollIntervalMs ?? 1000;
      timer = setInterval(() => scan(false), interval);
      return { name: 'cgroup', detail: `OOM kill counters of ${counters.size} cgroups under ${root} (cgroup ${detected}, polled every ${interval} ms${detected === 'v2' ? ' and watched' : ''})` };
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
      handlers = undefined;
    },
  };
}
