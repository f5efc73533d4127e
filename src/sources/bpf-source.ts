// The bpf source: runs bpf/oomkill-loader, which reads each victim's cgroup path in the kernel at the
// kill, and turns its frames into OomKill events. This process needs no privileges; only the loader does.
import { spawn as nodeSpawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { LostKills, OomKill } from '../event.ts';
import type { Logger } from '../log.ts';
import { FrameDecoder, FrameError, Gap, KILL_SIZE, KillFlag } from './bpf-frames.ts';
import type { Frame, HelloFrame, KillFrame } from './bpf-frames.ts';
import { memoryCgroupVersion } from './cgroup-counters.ts';
import { killEventId } from './event-id.ts';
import { bootId, nowUnixNano } from './kernel-clock.ts';
import type { Degradation, Source, SourceHandlers, SourceInfo } from './source.ts';

export interface BpfSourceOptions {
  /** The loader binary (bpf/.output/oomkill-loader). */
  loaderPath: string;
  /** Hooks to try, in order: 'auto' (default) or a comma-separated list of fentry, kprobe, tp_btf, raw_tp. */
  hooks?: string;
  /** BTF to relocate against; default the running kernel's /sys/kernel/btf/vmlinux. */
  btfPath?: string;
  /** Ring buffer size in KiB, a power of two (default 256: room for ~200 kills between polls). */
  ringbufKib?: number;
  /** How often the loader reports its kernel-side counters (default 1000 ms). */
  statsIntervalMs?: number;
  /**
   * A bpffs directory where the attached program and its ring buffer stay pinned after the loader exits,
   * and are resumed by the next one: kills made while no receiver runs wait there instead of being lost.
   */
  pinDir?: string;
  /** How long the loader may take to load and attach before start() gives up (default 15 s). */
  startTimeoutMs?: number;
  /** Whether memory.oom.group kills can happen here (the memory controller on cgroup v2); default: detected. */
  groupKills?: boolean;
  /** Seam for tests: how the loader is started. */
  spawn?: typeof nodeSpawn;
}

/** The loader's exit codes (bpf/loader.c), as reasons a person can act on. */
const EXIT_REASONS: Record<number, string> = {
  2: 'bad loader arguments',
  3: 'no BTF',
  4: 'not permitted',
  5: 'no hook could attach',
};

/**
 * With --pin-dir the loader says, on stderr and before its hello frame, how pinning went: one line that
 * starts with `pinned at `, `resumed ` (what an earlier loader pinned) or `unpinned: ` (it could not pin,
 * and says why and the fix). Coupled to bpf/loader.c's main().
 */
const PIN_STATE = /^(pinned at |resumed |unpinned: )/;

/**
 * Before that line, the loader may say it replaced pins it could not resume (another layout or program
 * build, half-pinned leftovers): a one-off loss, already worded with what was lost, why, and that no fix is
 * needed, which reconciliation counts as missed kills. A warning, not a degradation: nothing stays lost.
 */
const PINS_REPLACED = /^replaced pins at /;

/** Running unpinned, from the loader's `unpinned: <cause>; fix: <fix>` line: what is lost, why, the fix. */
export function unpinnedDegradation(loaderLine: string): Degradation {
  const [cause, fix] = loaderLine.replace(/^unpinned: /, '').split('; fix: ', 2) as [string, string?];
  return {
    reason: 'unpinned',
    lost: 'kills made while no receiver runs (a restart, a rollout) are not kept for the next one: reconciliation '
      + `counts them as missed, without their process or memory details. The loader ${cause}`,
    fix: fix ?? 'give the receiver a directory on a bpf filesystem that it can reach and write (deploy/README.md)',
  };
}

/** The attached hooks as the heartbeat names them: `a+b`. */
export const attachedHooks = (hello: HelloFrame): string => (hello.secondHook === 'none' ? hello.hook : `${hello.hook}+${hello.secondHook}`);

const HOOK_FIX = 'run on a kernel where fentry (CONFIG_DEBUG_INFO_BTF) or kprobes (CONFIG_KPROBES) attach to '
  + 'oom_kill_process and oom_kill_memcg_member, as Debian\'s 5.10 to 6.12 kernels allow; do not force --hook to exclude them';

/**
 * What the attached hooks miss that matters for counting, from the loader's gaps. Only where group kills
 * can happen (memory.oom.group is cgroup v2's): elsewhere the group gaps lose nothing. (Without
 * oom_control the constraint is inferred; every record says so, and no kill is lost or miscounted.)
 */
export function hookDegradations(hello: HelloFrame, groupKills: boolean): Degradation[] {
  if (!groupKills) return [];
  if (hello.gaps & Gap.groupMembers) {
    return [{
      reason: 'victim-only-hook',
      lost: `${attachedHooks(hello)} sees only each OOM's chosen victim: the other members of a memory.oom.group kill `
        + 'are not recorded, and reconciliation counts them as missed, without their process or memory details',
      fix: HOOK_FIX,
    }];
  }
  if (hello.gaps & Gap.groupRecount) {
    return [{
      reason: 'group-recount-unseen',
      lost: 'the kernel kills and counts the chosen victim of a memory.oom.group kill twice; '
        + `${attachedHooks(hello)} does not see the second time, so reconciliation reports one kill missed per group kill`,
      fix: HOOK_FIX,
    }];
  }
  return [];
}

/** How many recent kills are remembered to recognise one the kernel kills again (a group kill's chosen victim). */
const RECENT_KILLS = 1024;

/** A page counter at or above this is the kernel's "no limit" (PAGE_COUNTER_MAX). */
const UNLIMITED_PAGES = 1n << 50n;

export function createBpfSource(options: BpfSourceOptions, logger: Logger): Source {
  const spawn = options.spawn ?? nodeSpawn;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopping = false;

  return {
    name: 'bpf',

    start(handlers: SourceHandlers): Promise<SourceInfo> {
      stopping = false;
      const args = ['--hook', options.hooks ?? 'auto'];
      if (options.btfPath !== undefined) args.push('--btf', options.btfPath);
      if (options.ringbufKib !== undefined) args.push('--ringbuf-kib', String(options.ringbufKib));
      if (options.statsIntervalMs !== undefined) args.push('--stats-interval-ms', String(options.statsIntervalMs));
      if (options.pinDir !== undefined) args.push('--pin-dir', options.pinDir);

      const proc = spawn(options.loaderPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = proc;
      const decoder = new FrameDecoder();
      const stderrLines: string[] = [];
      let converter: KillConverter | undefined;
      let lastDrops = 0n;
      const recentKills = new Set<string>();
      let hello: HelloFrame | undefined;
      let pinState: string | undefined;
      let started = false;

      return new Promise<SourceInfo>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`bpf: the loader did not attach within ${options.startTimeoutMs ?? 15_000} ms`));
          proc.kill('SIGKILL');
        }, options.startTimeoutMs ?? 15_000);

        // Started once the hello frame and, with a pin directory, the pin state line have both arrived:
        // they come on two pipes, in either order.
        const resolveOnceKnown = (): void => {
          if (hello === undefined || (options.pinDir !== undefined && pinState === undefined)) return;
          clearTimeout(timer);
          started = true;
          const unpinned = pinState?.startsWith('unpinned: ') === true;
          const pinned = options.pinDir !== undefined && !unpinned ? `, pinned at ${options.pinDir}` : '';
          const degraded = [
            ...hookDegradations(hello, options.groupKills ?? memoryCgroupVersion() === 'v2'),
            ...(unpinned && pinState !== undefined ? [unpinnedDegradation(pinState)] : []),
          ];
          resolve({
            name: 'bpf',
            hook: attachedHooks(hello),
            detail: `${attachedHooks(hello)} on Linux ${hello.kernelRelease}${pinned}`,
            ...(degraded.length > 0 && { degraded }),
          });
        };

        const handle = (item: Frame | FrameError): void => {
          if (item instanceof FrameError) {
            handlers.onProblem(new Error(`bpf: malformed frame from the loader: ${item.message}`, { cause: item }));
            // A skipped frame of a kill's size was a kill: count it as lost rather than let it vanish.
            if (item.skippedBytes >= KILL_SIZE) handlers.onLost({ source: 'bpf', count: 1, reason: 'malformed-frame' });
            return;
          }
          switch (item.type) {
            case 'hello':
              hello = item;
              converter = new KillConverter(item);
              resolveOnceKnown();
              return;
            case 'stats': {
              converter?.updateClock(item.realtimeNs, item.boottimeNs);
              const drops = item.ringbufDrops - lastDrops;
              lastDrops = item.ringbufDrops;
              if (drops > 0n) handlers.onLost({ source: 'bpf', count: Number(drops), reason: 'ringbuf-full' } satisfies LostKills);
              return;
            }
            case 'kill':
              if (converter === undefined) {
                handlers.onProblem(new Error('bpf: a kill frame arrived before the hello frame'));
                handlers.onLost({ source: 'bpf', count: 1, reason: 'malformed-frame' });
                return;
              }
              {
                const kill = converter.toOomKill(item);
                // The kernel kills a group kill's chosen victim a second time, and counts it again: the same
                // process, so the same event id. Reported once; reconciliation is told of the second count.
                if (recentKills.has(kill.eventId)) {
                  handlers.onRecounted?.(kill);
                  return;
                }
                recentKills.add(kill.eventId);
                if (recentKills.size > RECENT_KILLS) recentKills.delete(recentKills.values().next().value as string);
                handlers.onKill(kill);
              }
              return;
          }
        };

        proc.stdout?.on('data', (chunk: Buffer) => {
          for (const item of decoder.push(chunk)) handle(item);
        });
        if (proc.stderr) {
          createInterface({ input: proc.stderr }).on('line', (line) => {
            const message = line.replace(/^oomkill-loader: /, '');
            stderrLines.push(message);
            if (stderrLines.length > 20) stderrLines.shift();
            if (pinState === undefined && PIN_STATE.test(message)) {
              pinState = message;
              resolveOnceKnown();
            }
            if (PINS_REPLACED.test(message)) logger.warn(`loader: ${message}`, { source: 'bpf' });
            else logger.info(`loader: ${message}`, { source: 'bpf' });
          });
        }

        exited = new Promise<void>((done) => {
          proc.on('error', (error) => {
            clearTimeout(timer);
            reject(new Error(`bpf: cannot run the loader ${options.loaderPath}: ${error.message}`, { cause: error }));
            done();
          });
          // 'close' comes after stdout and stderr have ended: every frame has been handled by then.
          proc.on('close', (code, signal) => {
            clearTimeout(timer);
            for (const item of decoder.end()) handle(item);
            const reason = code !== null ? (EXIT_REASONS[code] ?? `exit code ${code}`) : `signal ${signal}`;
            // The loader's last line names the cause precisely ("no BTF at ...", "not permitted: ...").
            const why = stderrLines.at(-1) ?? reason;
            if (!started) reject(new Error(`bpf: ${why}`));
            else if (!stopping) {
              const stopped = new Error(`bpf: the loader stopped (${reason}): ${why}`);
              if (handlers.onStopped) handlers.onStopped(stopped);
              else handlers.onProblem(stopped);
            }
            if (child === proc) child = undefined;
            done();
          });
        });
      });
    },

    async stop(): Promise<void> {
      stopping = true;
      const proc = child;
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        // SIGTERM lets the loader drain the ring buffer and write its last stats before it exits.
        proc.kill('SIGTERM');
        const force = setTimeout(() => proc.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(force);
      }
      await exited;
    },
  };
}

/** Turns kernel-side figures (boot time, pages) into an OomKill, with the clocks of the latest frame. */
export class KillConverter {
  readonly #pageSize: bigint;
  #realtimeMinusBoottime: bigint;

  constructor(hello: HelloFrame) {
    this.#pageSize = BigInt(hello.pageSize);
    this.#realtimeMinusBoottime = hello.realtimeNs - hello.boottimeNs;
  }

  /** Wall time can be stepped (NTP): each stats frame brings a fresh pair of readings. */
  updateClock(realtimeNs: bigint, boottimeNs: bigint): void {
    this.#realtimeMinusBoottime = realtimeNs - boottimeNs;
  }

  toOomKill(k: KillFrame, observedUnixNano = nowUnixNano()): OomKill {
    const bytes = (pages: bigint): number => Number(pages * this.#pageSize);
    const limit = (pages: bigint): number | undefined => (pages >= UNLIMITED_PAGES ? undefined : bytes(pages));
    const has = (flag: number): boolean => (k.flags & flag) !== 0;
    const memoryKnown = !has(KillFlag.noMm);
    const boot = bootId();
    const domainKnown = has(KillFlag.domainKnown);
    const eventId = killEventId(boot, k.victimTgid, k.victimStartTimeNs);
    return {
      source: 'bpf',
      eventId,
      timeUnixNano: k.boottimeNs + this.#realtimeMinusBoottime,
      observedUnixNano,
      // Every victim of one OOM carries its first (chosen) victim's identity.
      oomId: k.oomVictimTgid !== 0 ? killEventId(boot, k.oomVictimTgid, k.oomVictimStartTimeNs) : eventId,
      // An oom_kill_process program saw the OOM itself (its id is the boot time it ran); an inferred id is
      // only the first victim's kill time, not when the kernel began to handle the OOM.
      ...(!has(KillFlag.oomIdInferred) && k.oomId !== 0n && k.oomId <= k.boottimeNs && { oomStartUnixNano: k.oomId + this.#realtimeMinusBoottime }),
      hook: k.hook,
      constraint: k.constraint,
      constraintInferred: has(KillFlag.constraintInferred),
      victim: {
        pid: k.victimTgid,
        tid: k.victimTid,
        namespacePid: k.victimNamespaceTgid,
        isNamespaceInit: has(KillFlag.namespaceInit),
        comm: k.victimComm,
        ...(k.victimExeName.text !== '' && { executableName: k.victimExeName }),
        startTimeNs: k.victimStartTimeNs,
        uid: k.victimUid,
        oomScoreAdj: k.oomScoreAdj,
        ...(has(KillFlag.groupMember) && { groupMember: true }),
      },
      memory: memoryKnown
        ? {
            totalVmBytes: bytes(k.totalVmPages),
            anonRssBytes: bytes(k.anonRssPages),
            fileRssBytes: bytes(k.fileRssPages),
            shmemRssBytes: bytes(k.shmemRssPages),
            swapBytes: bytes(k.swapEntries),
            pageTablesBytes: Number(k.pageTablesBytes),
          }
        : {},
      cgroup: { path: k.cgroupPath, pathTruncated: has(KillFlag.pathTruncated), id: k.victimCgroupId, v2: has(KillFlag.cgroupV2) },
      ...(domainKnown && {
        domain: {
          cgroupId: k.domainCgroupId,
          // The domain is the victim's own memcg or an ancestor; only the first case names its path here.
          ...(k.domainCgroupId === k.victimCgroupId && { path: k.cgroupPath }),
          limitBytes: limit(k.domainLimitPages),
          usageBytes: bytes(k.domainUsagePages),
        },
      }),
      victimMemcg: { limitBytes: limit(k.victimMemcgLimitPages), usageBytes: bytes(k.victimMemcgUsagePages) },
      trigger: { pid: k.triggerTgid, tid: k.triggerTid, comm: k.triggerComm, cgroupId: k.triggerCgroupId },
      ...(k.totalPages > 0n && { oomControl: { totalPages: Number(k.totalPages), chosenPoints: Number(k.chosenPoints) } }),
    };
  }
}
