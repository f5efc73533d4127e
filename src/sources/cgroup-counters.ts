// The kernel's own OOM kill counters, per memory cgroup: read by the cgroup source (which reports each
// increase as a kill) and by the reconciler (which compares them with the kills the receiver saw).
//
// cgroup v1: memory.oom_control's `oom_kill` counts kills in that cgroup only (checked on 6.18: a kill in
// a child does not count in its parent), so every cgroup is read.
// cgroup v2: memory.events' `oom_kill` is hierarchical (a kill counts in every ancestor), so
// memory.events.local is read where the kernel has it (5.12+), else memory.events of leaf cgroups only.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CgroupCounterOptions {
  /** Where to start looking (default: the memory controller's root). */
  root?: string;
  /** The controller's mount point, from which paths are named as the kernel names them (default: detected). */
  mountRoot?: string;
  version?: 'v1' | 'v2';
  /** Which cgroups to count, by their path from the mount root (default: those under kubepods). */
  match?: (path: string) => boolean;
}

export interface CgroupCounter { file: string; count: number }

export class CgroupCounters {
  readonly version: 'v1' | 'v2';
  readonly mountRoot: string;
  readonly root: string;
  readonly #match: (path: string) => boolean;

  constructor(options: CgroupCounterOptions = {}) {
    this.version = options.version ?? memoryCgroupVersion();
    this.mountRoot = options.mountRoot ?? (this.version === 'v1' ? '/sys/fs/cgroup/memory' : '/sys/fs/cgroup');
    this.root = options.root ?? this.mountRoot;
    this.#match = options.match ?? ((path) => path.includes('kubepods'));
  }

  matches(path: string): boolean {
    return this.#match(path);
  }

  /** Whether the cgroup at this path (from the mount root) still exists. */
  exists(path: string): boolean {
    return existsSync(join(this.mountRoot, path));
  }

  available(): boolean {
    return existsSync(join(this.mountRoot, this.version === 'v1' ? 'memory.oom_control' : 'cgroup.controllers')) && existsSync(this.root);
  }

  /** Every matching cgroup's counter, by path from the mount root ("/kubepods.slice/..."). */
  readAll(): Map<string, CgroupCounter> {
    const found: Array<{ dir: string; leaf: boolean }> = [];
    walk(this.root, found);
    const counters = new Map<string, CgroupCounter>();
    for (const { dir, leaf } of found) {
      const path = dir.slice(this.mountRoot.length) || '/';
      if (!this.matches(path)) continue;
      const file = this.#counterFile(dir, leaf);
      const count = file !== undefined ? readCounter(file) : undefined;
      if (file !== undefined && count !== undefined) counters.set(path, { file, count });
    }
    return counters;
  }

  #counterFile(dir: string, isLeaf: boolean): string | undefined {
    if (this.version === 'v1') return join(dir, 'memory.oom_control');
    if (existsSync(join(dir, 'memory.events.local'))) return join(dir, 'memory.events.local');
    return isLeaf ? join(dir, 'memory.events') : undefined;
  }
}

/** Where the memory controller is: v1 has its own hierarchy; memory.oom.group (group kills) exists on v2 only. */
export function memoryCgroupVersion(): 'v1' | 'v2' {
  return existsSync('/sys/fs/cgroup/memory/memory.oom_control') ? 'v1' : 'v2';
}

/** The `oom_kill N` line of memory.oom_control, memory.events or /proc/vmstat; undefined without one. */
export function parseOomKill(text: string): number | undefined {
  const value = /^oom_kill (\d+)$/m.exec(text);
  return value ? Number(value[1]) : undefined;
}

/** A cgroup's counter; undefined when the cgroup went away between listing and reading. */
export function readCounter(file: string): number | undefined {
  try {
    return parseOomKill(readFileSync(file, 'utf8')) ?? 0;
  } catch {
    return undefined;
  }
}

/** The node's OOM kills since boot (/proc/vmstat oom_kill, 4.13+). */
export function nodeOomKills(vmstat = '/proc/vmstat'): number | undefined {
  try {
    return parseOomKill(readFileSync(vmstat, 'utf8'));
  } catch {
    return undefined;
  }
}

function walk(dir: string, out: Array<{ dir: string; leaf: boolean }>): void {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  const children = entries.filter((e) => e.isDirectory());
  out.push({ dir, leaf: children.length === 0 });
  for (const child of children) walk(join(dir, child.name), out);
}
