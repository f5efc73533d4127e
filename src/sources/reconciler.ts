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
// The file is a journal (src/journal.ts): a whole state, then one short line per kill seen or lost; a
// check appends the whole state when it changed it, and rewrites the file as that state once it has grown.
// A write and rename of the whole state per kill held each kill's export back by milliseconds, and a burst
// by their sum.
import { Journal } from '../journal.ts';
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
  /** Default 5000 ms: a check costs one read of /proc/vmstat unless kills were missed (see check). */
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
/** A line of the journal: a whole state, a kill seen (in a counted cgroup, or null), or kills lost. */
type Entry = { state: State } | { seen: string | null } | { lost: number };

/** The journal is rewritten as one state line once it exceeds this (about 1,500 kills' lines). */
const COMPACT_BYTES = 64 * 1024;
/** The kernel's counts at a check: the node's, and every cgroup's when that check walked them. */
interface Snapshot { node: number; cgroups?: Map<string, number> }

export class Reconciler {
  readonly #options: ReconcilerOptions;
  #state: State;
  #settled: Snapshot;
  #timer: NodeJS.Timeout | undefined;
  /** Kills read and not yet kept: accounted for, not saved. */
  readonly #inFlight = { node: 0, cgroups: new Map<string, number>() };
  /** Where the accounting is saved; none without a state file. */
  readonly #journal: Journal<Entry> | undefined;

  constructor(options: ReconcilerOptions) {
    this.#options = options;
    const saved = this.#load();
    const now = this.#snapshot();
    if (saved) {
      this.#state = saved;
    } else {
      // The first receiver of this boot: kills before it ran are not its to report. (A cgroup's count
      // starts at 0: only those with kills need a baseline.)
      this.#state = { bootId: bootId(), node: now.node, cgroups: Object.fromEntries([...now.cgroups].filter(([, count]) => count > 0)), unattributed: 0 };
    }
    this.#journal = options.statePath !== undefined ? new Journal<Entry>({ path: options.statePath }) : undefined;
    this.#compact();
    this.#settled = now;
  }

  start(): void {
    this.#timer = setInterval(() => this.check(), this.#options.intervalMs ?? 5000);
    this.#timer.unref();
  }

  /** No more checks; kills noted later are still saved. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * A kill a source delivered. It is accounted for at once, but saved only when it is kept (noteKept): a
   * receiver SIGKILLed before its kill reached the spool leaves it to the next one to count as missed,
   * rather than to neither deliver nor count it.
   */
  noteRead(kill: OomKill): void {
    const path = this.#countedPath(kill);
    this.#inFlight.node++;
    if (path !== null) this.#inFlight.cgroups.set(path, (this.#inFlight.cgroups.get(path) ?? 0) + 1);
  }

  /** A kill noted read is now spooled (or exported, without a spool): saved as seen. */
  noteKept(kill: OomKill): void {
    const path = this.#countedPath(kill);
    if (this.#inFlight.node > 0) this.#inFlight.node--;
    const count = path !== null ? this.#inFlight.cgroups.get(path) : undefined;
    if (path !== null && count !== undefined) {
      if (count > 1) this.#inFlight.cgroups.set(path, count - 1);
      else this.#inFlight.cgroups.delete(path);
    }
    this.#record({ seen: path });
  }

  /** A kill the kernel counted that is never exported (a group kill's chosen victim, counted twice). */
  noteSeen(kill: OomKill): void {
    this.#record({ seen: this.#countedPath(kill) });
  }

  /** Kills a source knows it lost (and reports itself), without knowing their cgroups. */
  noteLost(count: number): void {
    this.#record({ lost: count });
  }

  /** The kill's cgroup if this reconciler counts it per cgroup, else null (the node's count only). */
  #countedPath(kill: OomKill): string | null {
    const path = kill.cgroup.path;
    return path !== undefined && this.#options.counters?.matches(path) === true ? path : null;
  }

  /** Applies a change to the state and appends it to the journal. */
  #record(entry: Entry): void {
    applyEntry(this.#state, entry, this.#options.counters !== undefined);
    this.#append(entry);
  }

  /**
   * Reports what the kernel counted by the previous check and nobody saw; then reads the kernel again.
   *
   * The kernel counts every OOM kill twice, in /proc/vmstat and in the victim's cgroup. While the node's
   * count is no further than the kills accounted for, no cgroup can hold one nobody saw, so a check is one
   * small read. Only when the node's count read at the previous check is ahead does a check walk every
   * memory cgroup (50-90 ms for a node of 110 pods, which held back every kill arriving meanwhile when it
   * ran at each check of a burst), and the check after it finds where the kills went: the kills in flight
   * during the walk have arrived by then. A kill missed is so reported within three intervals.
   */
  check(): void {
    const settled = this.#settled;
    const node = nodeOomKills(this.#options.vmstatPath) ?? 0;
    const counters = this.#options.counters;
    if (counters && node !== settled.node) this.#forgetRemovedCgroups(counters);
    if (counters && settled.cgroups === undefined) {
      this.#settled = settled.node > this.#state.node + this.#inFlight.node ? this.#snapshot() : { node };
      this.#compactIfLarge();
      return;
    }
    this.#settled = { node };
    let attributed = 0;
    let changed = false;
    for (const [path, count] of settled.cgroups ?? []) {
      const accounted = (this.#state.cgroups[path] ?? 0) + (this.#inFlight.cgroups.get(path) ?? 0);
      if (count > accounted) {
        const found = count - accounted;
        const alreadyCounted = Math.min(found, this.#state.unattributed);
        this.#state.unattributed -= alreadyCounted;
        if (found > alreadyCounted) this.#options.onMissed(found - alreadyCounted, path);
        attributed += found - alreadyCounted;
        this.#state.cgroups[path] = count - (this.#inFlight.cgroups.get(path) ?? 0);
        changed = true;
      }
    }
    const nodeMissed = settled.node - this.#state.node - this.#inFlight.node;
    if (nodeMissed > attributed) this.#options.onMissed(nodeMissed - attributed, undefined);
    const missed = Math.max(nodeMissed, attributed);
    if (missed > 0) {
      this.#state.node += missed;
      this.#options.logger.warn('the kernel counted OOM kills this receiver never saw; they are reported as missed', { missed });
      changed = true;
    }
    if (changed) this.#append({ state: this.#state });
    this.#compactIfLarge();
  }

  /** Cgroups that had kills and are gone: their accounting is no longer needed. */
  #forgetRemovedCgroups(counters: CgroupCounters): void {
    let changed = false;
    for (const path of Object.keys(this.#state.cgroups)) {
      if (counters.exists(path)) continue;
      delete this.#state.cgroups[path];
      changed = true;
    }
    if (changed) this.#append({ state: this.#state });
  }

  #snapshot(): Required<Snapshot> {
    const node = nodeOomKills(this.#options.vmstatPath) ?? 0;
    const cgroups = new Map<string, number>();
    for (const [path, { count }] of this.#options.counters?.readAll() ?? []) cgroups.set(path, count);
    return { node, cgroups };
  }

  /** The journal's state, if it is of this boot: its last whole state with the lines after it applied. */
  #load(): State | undefined {
    if (this.#options.statePath === undefined) return undefined;
    let state: State | undefined;
    let entries: Array<Entry | State>;
    try {
      entries = Journal.read<Entry | State>(this.#options.statePath).entries; // a torn line is skipped
    } catch {
      return undefined;
    }
    for (const entry of entries) {
      if ('bootId' in entry) state = entry; // a state file of the release before the journal
      else if ('state' in entry) state = { ...entry.state, cgroups: { ...entry.state.cgroups } };
      else if (state) applyEntry(state, entry, this.#options.counters !== undefined);
    }
    return state?.bootId === bootId() ? { ...state, unattributed: state.unattributed ?? 0 } : undefined;
  }

  #append(entry: Entry): void {
    try {
      this.#journal?.append(entry);
    } catch (error) {
      this.#options.logger.warn('could not save the reconciliation state; after a restart, kills seen now may be reported missed', { path: this.#options.statePath, error });
    }
  }

  /** Rewrites the journal as the current state alone. */
  #compact(): void {
    this.#journal?.rewrite([{ state: this.#state }]);
  }

  #compactIfLarge(): void {
    if ((this.#journal?.bytes ?? 0) > COMPACT_BYTES) this.#compact();
  }
}

/** One change to the accounting: the same whether it happens now or is read back from the journal. */
function applyEntry(state: State, entry: Entry, perCgroup: boolean): void {
  if ('state' in entry) return;
  if ('seen' in entry) {
    state.node++;
    if (entry.seen !== null) state.cgroups[entry.seen] = (state.cgroups[entry.seen] ?? 0) + 1;
    return;
  }
  state.node += entry.lost;
  if (perCgroup) state.unattributed += entry.lost;
}
