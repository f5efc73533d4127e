// The kmsg source: OOM kills from the kernel log, for nodes where the BPF program cannot run. The cgroup
// path comes from the report's task_memcg, read by the kernel at the kill, so attribution survives the
// process's death here too, for every kill whose report was not rate-limited.
//
// Node has no lseek() and no poll() for a character device, so /dev/kmsg is opened non-blocking and read
// until EAGAIN on a timer (every pollIntervalMs, default 50 ms): each read returns exactly one record.
// EPIPE means the kernel's ring overwrote records before they were read; the sequence gap says how many,
// and the reconciler counts the kills among them.
import { closeSync, constants, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { bootId, monotonicNsToUnixNano, nowUnixNano } from './kernel-clock.ts';
import { OomReportAssembler, parseKmsgRecord } from './kmsg-parser.ts';
import type { Source, SourceHandlers, SourceInfo } from './source.ts';

export interface KmsgSourceOptions {
  /** Default /dev/kmsg. */
  path?: string;
  /** Also report the kills still in the kernel log at start (default false: from the end of the buffer). */
  replay?: boolean;
  /** Where the last sequence number read is kept, so a replay after a restart reports nothing twice. */
  statePath?: string;
  /** Default 50 ms. */
  pollIntervalMs?: number;
}

const RECORD_MAX = 8192; // the kernel's limit on one /dev/kmsg record (CONSOLE_EXT_LOG_MAX)

export function createKmsgSource(options: KmsgSourceOptions, logger: Logger): Source {
  const path = options.path ?? '/dev/kmsg';
  let fd: number | undefined;
  let timer: NodeJS.Timeout | undefined;

  const readState = (): { bootId: string; seq: number } | undefined => {
    if (options.statePath === undefined) return undefined;
    try {
      return JSON.parse(readFileSync(options.statePath, 'utf8')) as { bootId: string; seq: number };
    } catch {
      return undefined;
    }
  };

  return {
    name: 'kmsg',
    async start(handlers: SourceHandlers): Promise<SourceInfo> {
      try {
        fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
      } catch (error) {
        throw new Error(`kmsg: cannot read ${path}: ${(error as Error).message}`, { cause: error });
      }
      const boot = bootId();
      const assembler = new OomReportAssembler({ bootId: boot, toUnixNano: (us) => monotonicNsToUnixNano(us * 1000n), now: nowUnixNano });
      const buffer = Buffer.alloc(RECORD_MAX);
      const saved = readState();
      let lastSeq = saved?.bootId === boot ? saved.seq : -1;
      let skipping = !options.replay;

      const drain = (): void => {
        const before = lastSeq;
        for (;;) {
          let n: number;
          try {
            n = readSync(fd as number, buffer, 0, RECORD_MAX, null);
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            if (code === 'EAGAIN') break;
            if (code === 'EPIPE') continue; // overwritten before read: the sequence gap counts them
            handlers.onProblem(new Error(`kmsg: reading ${path}: ${(error as Error).message}`, { cause: error }));
            break;
          }
          if (n === 0) break; // a regular file (tests): its end
          const record = parseKmsgRecord(buffer.subarray(0, n).toString('latin1'));
          if (!record) {
            handlers.onProblem(new Error(`kmsg: unreadable record: ${JSON.stringify(buffer.subarray(0, Math.min(n, 80)).toString('latin1'))}`));
            continue;
          }
          if (record.seq <= lastSeq) continue; // already reported before a restart
          if (lastSeq >= 0 && record.seq > lastSeq + 1 && !skipping) {
            // Records, not kills: how many kills were among them only the kernel's counters can tell, and
            // the reconciler compares them; so this is a problem to report, not a count of lost kills.
            handlers.onProblem(new Error(`kmsg: the kernel log overran: ${record.seq - lastSeq - 1} records were overwritten before they were read`));
          }
          lastSeq = record.seq;
          // Records are parsed even while skipping, so a report that straddles the start is complete.
          const kill = assembler.push(record);
          if (kill && !skipping) handlers.onKill(kill);
        }
        if (options.statePath !== undefined && lastSeq !== before) writeFileSync(options.statePath, JSON.stringify({ bootId: boot, seq: lastSeq }));
      };

      drain(); // the backlog: reported only with replay
      skipping = false;
      timer = setInterval(drain, options.pollIntervalMs ?? 50);
      logger.debug('kmsg source started', { path, lastSeq });
      return { name: 'kmsg', detail: `${path} ${options.replay ? 'replayed from the start of the buffer' : 'from the end of the buffer'}` };
    },
    async stop(): Promise<void> {
      clearInterval(timer);
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
