// A source watches the kernel for OOM kills and calls back with events. Sources know nothing of
// enrichment or export; only main.ts wires them to the rest.
import type { LostKills, OomKill, SourceName } from '../event.ts';

export interface SourceHandlers {
  onKill(kill: OomKill): void;
  onLost(lost: LostKills): void;
  /** A runtime problem the source survived (a malformed record, a restart); never thrown at the source. */
  onProblem(problem: Error): void;
  /** The source stopped on its own (the loader died): a supervisor may restart it. */
  onStopped?(reason: Error): void;
  /**
   * The kernel killed, and counted, a victim already reported: in a memory.oom.group kill it kills the
   * chosen victim once more with the group. Not a new kill (nothing to export); reconciliation counts it,
   * as the kernel's counters do.
   */
  onRecounted?(kill: OomKill): void;
}

/**
 * Something a running source gives up compared with the best this kernel could give. Never silent: each
 * is logged at level warn and exported as `oomkill.degraded.reason` on the `oomkill.receiver.up` gauge.
 */
export interface Degradation {
  /** A short stable token for the metric: `fallback-source`, `unpinned`, `victim-only-hook`, ... */
  reason: string;
  /** What is lost and why, for a person. */
  lost: string;
  /** How to get it back. */
  fix: string;
}

/** What a started source says about itself, for the one line logged at startup and the heartbeat. */
export interface SourceInfo {
  name: SourceName;
  /** e.g. `tp_btf/mark_victim on 6.18.44`, `/dev/kmsg from the end of the buffer` */
  detail: string;
  /** The attached hooks joined with '+' (bpf only), e.g. `tp_btf/mark_victim+fentry/oom_kill_process`. */
  hook?: string;
  /** Empty when the source gives all the kernel can. */
  degraded?: Degradation[];
}

export interface Source {
  readonly name: SourceName;
  /** Resolves once the source is watching; rejects with a clear reason when it cannot run here. */
  start(handlers: SourceHandlers): Promise<SourceInfo>;
  /** Stops watching; resolves when nothing more will be delivered. */
  stop(): Promise<void>;
}
