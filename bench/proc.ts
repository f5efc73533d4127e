// What /proc and the memory cgroup say about a process and its children (the receiver and its loader).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const CLOCK_TICKS = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in these on every Linux we run on

/** The process and all its descendants. */
export function processTree(pid: number): number[] {
  const children = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...children(all[i] as number));
  return all;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    return Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0; // exited
  }
}

export const MB = 1024 * 1024;
/** Resident set of one process, MiB. */
export const rssMiB = (pid: number): number => statusKiB(pid, 'VmRSS') / 1024;
/** Peak resident set since the last resetPeak, MiB. */
export const peakMiB = (pid: number): number => statusKiB(pid, 'VmHWM') / 1024;
/** Restarts the kernel's peak-RSS record (VmHWM) at the current RSS. */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** User + system CPU seconds of one process. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Memory cgroup v1 usage now and its peak (page cache included: what the limit is held against). */
export const cgroupUsageMiB = (dir: string): number => Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8')) / MB;
export const cgroupPeakMiB = (dir: string): number => Number(readFileSync(join(dir, 'memory.max_usage_in_bytes'), 'utf8')) / MB;
export const resetCgroupPeak = (dir: string): void => writeFileSync(join(dir, 'memory.max_usage_in_bytes'), '0');
export const cgroupOomKills = (dir: string): number => Number(/^oom_kill (\d+)$/m.exec(readFileSync(join(dir, 'memory.oom_control'), 'utf8'))?.[1] ?? 0);

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)] as number;
}

export const median = (values: readonly number[]): number => percentile(values, 0.5);

/** OOM kills the kernel counted on the whole node (other processes' kills are seen by the receiver too). */
export const nodeOomKills = (): number => Number(/^oom_kill (\d+)$/m.exec(readFileSync('/proc/vmstat', 'utf8'))?.[1] ?? 0);
