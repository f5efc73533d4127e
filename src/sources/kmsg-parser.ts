// Pure parsing of the kernel log (/dev/kmsg records) into OOM kills, for nodes where the BPF program
// cannot run. The kernel's OOM report spans many records; the pieces that matter:
//   <comm> invoked oom-killer: gfp_mask=..., order=N, oom_score_adj=N       (rate-limited)
//   CPU: N [UID: N ]PID: P Comm: <comm> ...                                   (rate-limited)
//   oom-kill:constraint=CONSTRAINT_MEMCG,...,oom_memcg=/a,task_memcg=/a/b,task=<comm>,pid=P,uid=U  (4.19+, rate-limited)
//   Memory cgroup out of memory: Killed process P (<comm>) total-vm:NkB, anon-rss:NkB, file-rss:NkB,
//       shmem-rss:NkB[, UID:U][ pgtables:NkB oom_score_adj:N]                (never rate-limited)
// 4.19 printed "...: Kill process P (<comm>) score N or sacrifice child" and then a bare "Killed process".
// A kill is emitted on its "Killed process" line, the last of a report, with whatever the report's
// rate-limited lines told about the same pid: in a burst most kills come without a cgroup path.
import type { Constraint, OomKill } from '../event.ts';
import { processNameFromBytes } from '../event.ts';

export interface KmsgRecord {
  /** syslog facility: 0 is the kernel; anything else was written from user space. */
  facility: number;
  level: number;
  seq: number;
  /** Microseconds since boot (the kernel's local clock). */
  timestampUs: bigint;
  /** The message, with the kernel's \xNN escapes still in place. */
  message: string;
}

/** One /dev/kmsg record: `prio,seq,ts_usec,flags[,...];message` and continuation lines. */
export function parseKmsgRecord(text: string): KmsgRecord | undefined {
  const semicolon = text.indexOf(';');
  if (semicolon < 0) return undefined;
  const [prio, seq, ts] = text.slice(0, semicolon).split(',');
  if (!/^\d+$/.test(prio ?? '') || !/^\d+$/.test(seq ?? '') || !/^\d+$/.test(ts ?? '')) return undefined;
  const message = text.slice(semicolon + 1).split('\n')[0] ?? '';
  return { facility: Number(prio) >> 3, level: Number(prio) & 7, seq: Number(seq), timestampUs: BigInt(ts as string), message };
}

/** The kernel escapes control bytes, bytes >= 0x7f and backslash as \xNN: back to the raw bytes. */
export function unescapeKmsg(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const escape = /^\\x([0-9a-fA-F]{2})/.exec(text.slice(i, i + 4));
    if (escape) {
      bytes.push(parseInt(escape[1] as string, 16));
      i += 3;
    } else {
      bytes.push(...Buffer.from(text[i] as string, 'utf8'));
    }
  }
  return Buffer.from(bytes);
}

const KILLED = /^(?:(.*?): )?Killed process (\d+) \((.*)\),? (?:UID \d+, )?total-vm:(\d+)kB, anon-rss:(\d+)kB, file-rss:(\d+)kB, shmem-rss:(\d+)kB(?:, UID:(\d+))?(?: pgtables:(\d+)kB)?(?: oom_score_adj:(-?\d+))?/;
const SUMMARY = /^oom-kill:constraint=(CONSTRAINT_[A-Z_]+),(.*)$/;
const INVOKED = /^(.*) invoked oom-killer: .*oom_score_adj=(-?\d+)/;
/** 4.19 and older: the reason comes on its own line before a bare "Killed process". */
const KILL_CHOSEN = /^(.*): Kill process (\d+) \(.*\) score \d+ or sacrifice child/;
const CPU_LINE = /^CPU: \d+ (?:UID: \d+ )?PID: (\d+) Comm: (.{1,64}?) (?:Not tainted|Tainted|Kdump)/;
const CONSTRAINT: Record<string, Constraint> = {
  CONSTRAINT_NONE: 'global',
  CONSTRAINT_CPUSET: 'cpuset',
  CONSTRAINT_MEMORY_POLICY: 'mempolicy',
  CONSTRAINT_MEMCG: 'memcg',
};

interface Summary { constraint: Constraint; domainPath?: string; victimPath?: string; pid?: number; uid?: number }

export interface AssemblerContext {
  bootId: string;
  /** Kernel log time (µs since boot) to Unix ns. */
  toUnixNano(timestampUs: bigint): bigint;
  now(): bigint;
}

/** Follows OOM reports across records; returns a kill for each "Killed process" record. */
export class OomReportAssembler {
  #summary: Summary | undefined;
  #trigger: { comm?: Buffer; pid?: number } = {};
  #chosen: { pid: number; reason: string } | undefined;
  /**
   * The victims of the current report: in a memory.oom.group kill the kernel names the chosen victim twice
   * (killed as chosen, then again among the group's members), one kill (seen in Debian's 5.10, 6.1, 6.12).
   */
  #killed = new Set<number>();
  readonly #context: AssemblerContext;

  constructor(context: AssemblerContext) {
    this.#context = context;
  }

  push(record: KmsgRecord): OomKill | undefined {
    // Only the kernel's own records: anyone can write a fake OOM report to /dev/kmsg, as the user facility.
    if (record.facility !== 0) return undefined;
    const message = record.message;
    let match: RegExpExecArray | null;
    if ((match = INVOKED.exec(message))) {
      this.#trigger = { comm: unescapeKmsg(match[1] as string) };
      this.#summary = undefined;
      this.#killed.clear();
      return undefined;
    }
    if ((match = CPU_LINE.exec(message))) {
      this.#trigger.pid = Number(match[1]);
      return undefined;
    }
    if ((match = KILL_CHOSEN.exec(message))) {
      this.#chosen = { pid: Number(match[2]), reason: match[1] as string };
      return undefined;
    }
    if ((match = SUMMARY.exec(message))) {
      this.#summary = parseSummary(match[1] as string, match[2] as string);
      return undefined;
    }
    if ((match = KILLED.exec(message))) {
      const pid = Number(match[2]);
      if (this.#killed.has(pid)) return undefined;
      this.#killed.add(pid);
      return this.#kill(record, match);
    }
    return undefined;
  }

  #kill(record: KmsgRecord, m: RegExpExecArray): OomKill {
    const [, stated, pid, comm, totalVm, anon, file, shmem, uid, pgtables, oomScoreAdj] = m;
    const victimPid = Number(pid);
    const reason = stated ?? (this.#chosen?.pid === victimPid ? this.#chosen.reason : undefined);
    const summary = this.#summary?.pid === victimPid ? this.#summary : undefined;
    const kb = (value: string | undefined): number | undefined => (value === undefined ? undefined : Number(value) * 1024);
    const memcg = (reason ?? '').startsWith('Memory cgroup');
    const uidNumber = uid !== undefined ? Number(uid) : summary?.uid;
    return {
      source: 'kmsg',
      eventId: `${this.#context.bootId}:kmsg:${record.seq}`,
      timeUnixNano: this.#context.toUnixNano(record.timestampUs),
      observedUnixNano: this.#context.now(),
      constraint: summary?.constraint ?? (memcg ? 'memcg' : reason === undefined ? 'unknown' : 'global'),
      constraintInferred: summary === undefined,
      victim: {
        pid: victimPid,
        comm: processNameFromBytes(unescapeKmsg(comm as string)),
        ...(uidNumber !== undefined && { uid: uidNumber }),
        ...(oomScoreAdj !== undefined && { oomScoreAdj: Number(oomScoreAdj) }),
      },
      memory: {
        totalVmBytes: kb(totalVm),
        anonRssBytes: kb(anon),
        fileRssBytes: kb(file),
        shmemRssBytes: kb(shmem),
        ...(pgtables !== undefined && { pageTablesBytes: kb(pgtables) }),
      },
      cgroup: { ...(summary?.victimPath !== undefined && { path: summary.victimPath }), pathTruncated: false },
      ...(summary?.domainPath !== undefined && { domain: { path: summary.domainPath } }),
      ...(this.#trigger.comm !== undefined && {
        trigger: { ...(this.#trigger.pid !== undefined && { pid: this.#trigger.pid }), comm: processNameFromBytes(this.#trigger.comm) },
      }),
    };
  }
}

/**
 * `nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/a,task_memcg=/a/b,task=x,pid=1,uid=0`: the values
 * are not quoted, and a cgroup path or name may hold commas, so the known keys are found from the right.
 */
function parseSummary(constraintName: string, rest: string): Summary {
  const summary: Summary = { constraint: CONSTRAINT[constraintName] ?? 'unknown' };
  const tail = /,task=(.*),pid=(\d+),uid=(\d+)$/.exec(`,${rest}`);
  if (tail) {
    summary.pid = Number(tail[2]);
    summary.uid = Number(tail[3]);
  }
  const head = tail ? `,${rest}`.slice(0, tail.index) : `,${rest}`;
  const taskMemcg = head.lastIndexOf(',task_memcg=');
  if (taskMemcg >= 0) summary.victimPath = unescapeKmsg(head.slice(taskMemcg + ',task_memcg='.length)).toString('utf8');
  const oomMemcg = head.lastIndexOf(',oom_memcg=');
  if (oomMemcg >= 0) summary.domainPath = unescapeKmsg(head.slice(oomMemcg + ',oom_memcg='.length, taskMemcg >= 0 ? taskMemcg : undefined)).toString('utf8');
  return summary;
}
