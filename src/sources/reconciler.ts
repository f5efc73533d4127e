// Reconciliation: the kernel counts every OOM kill (/proc/vmstat for the node, memory.oom_control or
// memory.events.local per cgroup). Comparing those counts with the kills this receiver saw finds the
// ones it never saw one by one (ring buffer overflow, the receiver was down, a restart) and reports them
// as missed, per cgroup where the cgroup is known, so the totals alerts use are exact.
//
// Each check compares the kernel's counts read at the previous check (a whole interval ago, so every kill
// they include has had time to arrive) with the kills accounted for: seen, or already reported missed.
// The accounting is kept in a state file (when one is configured) and written at each change, so a
// restart, even after SIGKILL, neither forgets what was seen nor reports it twice; kills made while no
// receiver ran are then reported missed by the next one. Without a state file, counting starts afresh.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { OomKill } from '../event.ts';
import type { Logger } from '../log.ts';
import { nodeOomKills } from './cgroup-counters.ts';
import type { CgroupCounters } from './cgroup-counters.ts';
import { bootId } from './kernel-clock.ts';

export interface ReconcilerOptions {
  /** Per-cgroup counters; without them only the node total is reconciled (the kmsg source, whose
   * rate-limited reports do not always name the cgroup). */
  counters?: CgroupCounters;
  vmstatPath?: string;
  statePath?: string;
  /** Default 5000 ms: a check costs one read of /proc/vmstat unless the node has had an OOM kill since. */
  intervalMs?: number;
  onMissed(count: number, cgroupPath: string | undefined): void;
  logger: Logger;
}

/**
 * node: kills accounted for on the node (seen, lost, or reported missed); cgroups: the same per cgroup;
 * unattributed: kills a source reported lost without knowing where (a full ring buffer), which the
 * per-cgroup comparison then finds: they are already counted, and must not be counted again.
 */
interface State { bootId: string; node: number; cgroups: Record<string, number>; unattributed: number }
interface Snapshot { node: number; cgroups: Map<string, number> }

export class Reconciler {
  readonly #options: ReconcilerOptions;
  #state: State;
  #settled: Snapshot;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    const saved = this.#load();
    const now = this.#snapshot();
    if (saved) {
      this.#state = saved;
    } else {
      // The first receiver of this boot: kills before it ran are not its to report.
      this.#state = { bootId: bootId(), node: now.node, cgroups: Object.fromEntries(now.cgroups), unattributed: 0 };
      this.#save();
    }
    this.#settled = now;
  }

  start(): void {
    this.#timer = setInterval(() => this.check(), this.#options.intervalMs ?? 5000);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** A kill the receiver saw. */
  noteSeen(kill: OomKill): void {
    this.#state.node++;
    const path = kill.cgroup.path;
    if (path !== undefined && this.#options.counters?.matches(path)) this.#state.cgroups[path] = (this.#state.cgroups[path] ?? 0) + 1;
    this.#save();
  }

  /** Kills a source knows it lost (and reports itself), without knowing their cgroups. */
  noteLost(count: number): void {
    this.#state.node += count;
    if (this.#options.counters) this.#state.unattributed += count;
    this.#save();
  }

  /** Reports what the kernel counted by the previous check and nobody saw; then reads the kernel again. */
  check(): void {
    const settled = this.#settled;
    // The kernel counts every OOM kill twice, in /proc/vmstat and in the victim's cgroup: while the node's
    // count stands still no cgroup's can have moved, and the walk over every memory cgroup (the receiver's
    // main cost when idle) is skipped. Cgroups removed meanwhile are forgotten at the next walk.
    const node = nodeOomKills(this.#options.vmstatPath) ?? 0;
    this.#settled = node === settled.node ? settled : this.#snapshot();
    let attributed = 0;
    let changed = false;
    for (const [path, count] of settled.cgroups) {
      const accounted = this.#state.cgroups[path] ?? 0;
      if (count > accounted) {
        const found = count - accounted;
        const alreadyCounted = Math.min(found, this.#state.unattributed);
        this.#state.unattributed -= alreadyCounted;
        if (found > alreadyCounted) this.#options.onMissed(found - alreadyCounted, path);
        attributed += found - alreadyCounted;
        this.#state.cgroups[path] = count;
        changed = true;
      } else if (count < accounted && !this.#settled.cgroups.has(path)) {
        delete this.#state.cgroups[path]; // the cgroup is gone; forget it
        changed = true;
      }
    }
    const nodeMissed = settled.node - this.#state.node;
    if (nodeMissed > attributed) this.#options.onMissed(nodeMissed - attributed, undefined);
    const missed = Math.max(nodeMissed, attributed);
    if (missed > 0) {
      this.#state.node += missed;
      this.#options.logger.warn('the kernel counted OOM kills this receiver never saw; they are reported as missed', { missed });
      changed = true;
    }
    if (changed) this.#save();
  }

  #snapshot(): Snapshot {
    const node = nodeOomKills(this.#options.vmstatPath) ?? 0;
    const cgroups = new Map<string, number>();
    for (const [path, { count }] of this.#options.counters?.readAll() ?? []) cgroups.set(path, count);
    return { node, cgroups };
  }

  #load(): State | undefined {
    if (this.#options.statePath === undefined) return undefined;
    try {
      const state = JSON.parse(readFileSync(this.#options.statePath, 'utf8')) as State;
      return state.bootId === bootId() ? { ...state, unattributed: state.unattributed ?? 0 } : undefined;
    } catch {
      return undefined;
    }
  }

  #save(): void {
    if (this.#options.statePath === undefined) return;
    // Rename is atomic: a crash leaves the old state or the new one, never half of one.
    const temporary = `${this.#options.statePath}.tmp`;
    writeFileSync(temporary, JSON.stringify(this.#state));
    renameSync(temporary, this.#options.statePath);
  }
}
