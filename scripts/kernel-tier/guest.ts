// The kernel tier's checks, run inside a QEMU guest of one Debian kernel (boot.sh, run.sh): real OOM kills
// on a systemd-shaped node (cgroup v2, bpffs at mode 0700), seen by the real receiver (the compiled dist/,
// as the image runs it) and delivered over real OTLP gRPC to the test receiver.
//
// Usage (in the guest): node scripts/kernel-tier/guest.ts SERIES OUTDIR [IMAGE_TREE [APPARMOR_DIR]]
// (IMAGE_TREE: scripts/build-image-tree.sh's output; CHECK,...: run only these, while working on one.)
// Each check prints `kernel-tier <kernel> <check> PASS|FAIL <detail> (<seconds>s)` and is written to
// OUTDIR/results.json after it ends, so a guest that dies mid-run still leaves the checks it finished.
// Each check has its own timeout and no retries: a flake is a failure with its reason.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Attr, Sem } from '../../src/attributes.ts';
import { createScratchCgroup, HOG_NAME, startHog, startResident } from '../../src/demo/scratch-cgroup.ts';
import type { Hog, ScratchCgroup, ScratchCgroupOptions } from '../../src/demo/scratch-cgroup.ts';
import { startOtlpReceiver } from '../../test/support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from '../../test/support/otlp-receiver.ts';
import { startReceiver } from '../../test/support/receiver-process.ts';
import type { ReceiverProcess } from '../../test/support/receiver-process.ts';
import { BPF_HOOKS, DAEMONSET_LAUNCHER, type CheckResult, type KernelResult } from './results.ts';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** Under emulation Node needs ~15 s to load the receiver; on a shared 2-core host, more. */
const RECEIVER_START_MS = 240_000;
const DELIVERY_MS = 60_000;

const [seriesArg, outDirArg, imageTree, apparmorArg, onlyArg] = process.argv.slice(2);
if (seriesArg === undefined || outDirArg === undefined) {
  console.error('usage: guest.ts SERIES OUTDIR [IMAGE_TREE [APPARMOR_DIR [CHECK,...]]]');
  process.exit(2);
}
const series: string = seriesArg;
const outDir: string = outDirArg;
/** Debian's apparmor_parser and libapparmor, extracted by fetch-kernels.sh. */
const apparmorDir: string = apparmorArg ?? '/var/cache/oomkill-kernel-tier/apparmor';
/**
 * The receiver as the container image holds it (run.sh builds the tree with scripts/build-image-tree.sh):
 * faster to start under emulation than the TypeScript sources, and what ships.
 */
const RECEIVER_ENTRY = join(imageTree ?? REPO, 'dist', 'main.js');

const result: KernelResult = {
  kernel: series,
  release: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
  checks: [],
};
const save = (): void => writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);

class CheckFailure extends Error {}
const fail = (detail: string): never => {
  throw new CheckFailure(detail);
};

async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`timed out after ${ms / 1000} s ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The checks to run: all unless a list was given. */
const only = onlyArg === undefined || onlyArg === 'all' ? undefined : new Set(onlyArg.split(','));

async function check(name: string, timeoutMs: number, body: () => Promise<{ detail: string; data?: Record<string, unknown> }>): Promise<CheckResult | undefined> {
  if (only !== undefined && !only.has(name)) return undefined;
  const started = performance.now();
  let entry: CheckResult;
  try {
    const { detail, data } = await within(body(), timeoutMs, 'for the whole check');
    entry = { check: name, status: 'PASS', detail, seconds: 0, ...(data ? { data } : {}) };
  } catch (error) {
    const detail = error instanceof CheckFailure ? error.message : `${(error as Error).stack ?? String(error)}`;
    entry = { check: name, status: 'FAIL', detail: detail.replaceAll('\n', ' | '), seconds: 0 };
  }
  entry.seconds = Math.round((performance.now() - started) / 100) / 10;
  result.checks.push(entry);
  save();
  console.log(`kernel-tier ${series} ${name} ${entry.status} ${entry.detail} (${entry.seconds}s)`);
  return entry;
}

// --- the receiver and its collector -------------------------------------------------------------

interface Running {
  receiver: ReceiverProcess;
  /** What the receiver said it attached: e.g. `tp_btf/mark_victim on Linux 6.1.0-...`. */
  started: string;
}

let collector: OtlpReceiver;

/** Starts the receiver and waits for its source line; on failure, says why with its last words. */
async function startRun(args: string[], env: Record<string, string> = {}): Promise<Running> {
  const receiver = startReceiver(['run', ...args], {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
    OTEL_METRIC_EXPORT_INTERVAL: '1000',
    OTEL_BLRP_SCHEDULE_DELAY: '100',
    NODE_NAME: `kernel-tier-${series}`,
    ...env,
  }, RECEIVER_ENTRY);
  try {
    const line = await within(receiver.waitForLine(/"source: /, RECEIVER_START_MS + 1000), RECEIVER_START_MS, 'waiting for the receiver to start');
    const started = /"source: ([^"]*)"/.exec(line)?.[1] ?? line;
    return { receiver, started };
  } catch (error) {
    await receiver.stop('SIGKILL');
    fail(`receiver did not start: ${lastWords(receiver, (error as Error).message)}`);
    throw error; // unreachable
  }
}

function lastWords(receiver: ReceiverProcess, fallback: string): string {
  const { exitCode, signalCode } = receiver.child;
  const how = signalCode !== null ? `died of ${signalCode}` : exitCode !== null ? `exited ${exitCode}` : 'still running';
  const lines = receiver.stderrLines().slice(-3).map((l) => {
    try {
      return (JSON.parse(l) as { msg?: string }).msg ?? l;
    } catch {
      return l;
    }
  });
  return `${how}; ${lines.length > 0 ? lines.join(' / ') : fallback}`;
}

async function stopRun(run: Running): Promise<void> {
  const code = await within(run.receiver.stop(), 30_000, 'waiting for the receiver to stop on SIGTERM');
  if (code !== 0) fail(`receiver exited ${code} on SIGTERM: ${lastWords(run.receiver, '')}`);
}

/** Waits for the records matching `predicate`, naming the receiver's state when they do not come. */
async function records(run: Running, count: number, predicate: (r: ReceivedLogRecord) => boolean, what: string): Promise<ReceivedLogRecord[]> {
  try {
    return await collector.waitForLogRecords(count, DELIVERY_MS, predicate);
  } catch (error) {
    return fail(`${what}: ${(error as Error).message}; receiver ${lastWords(run.receiver, 'said nothing')}`);
  }
}

const forPid = (pid: number) => (r: ReceivedLogRecord): boolean => r.attributes[Sem.processPid] === pid;
const inCgroup = (cgroup: ScratchCgroup) => (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup.path;

async function withCgroup<T>(name: string, options: Omit<ScratchCgroupOptions, 'parentName'>, body: (cgroup: ScratchCgroup) => Promise<T>): Promise<T> {
  const cgroup = await createScratchCgroup({ parentName: `kernel-tier-${name}`, ...options });
  try {
    return await body(cgroup);
  } finally {
    await cgroup.remove();
  }
}

async function killed(hog: Hog, what: string): Promise<void> {
  const signal = await within(hog.exited, DELIVERY_MS, `waiting for ${what} to be OOM-killed`);
  if (signal !== 'SIGKILL') fail(`${what} ended with ${signal ?? 'an exit'}, not SIGKILL`);
}

/** The one OOM kill every hook check delivers, with its pod and container identity checked. */
async function killOne(run: Running, name: string): Promise<ReceivedLogRecord> {
  return withCgroup(name, { limitMiB: 48 }, async (cgroup) => {
    const hog = startHog(cgroup.dir);
    await killed(hog, `the hog (pid ${hog.pid})`);
    const [record] = await records(run, 1, forPid(hog.pid), `no record for pid ${hog.pid}`);
    const expect = {
      [Sem.k8sPodUid]: [record!.resource[Sem.k8sPodUid], cgroup.podUid],
      [Sem.containerId]: [record!.resource[Sem.containerId], cgroup.containerId],
      [Attr.cgroupPath]: [record!.attributes[Attr.cgroupPath], cgroup.path],
      [Attr.constraint]: [record!.attributes[Attr.constraint], 'memcg'],
      // The hog is tail(1) run through a symlink named oomkill-hog: comm is the link's name, the executable tail.
      [Attr.comm]: [record!.attributes[Attr.comm], HOG_NAME],
      [Sem.processExecutableName]: [record!.attributes[Sem.processExecutableName], 'tail'],
    };
    const wrong = Object.entries(expect).filter(([, [got, want]]) => got !== want).map(([k, [got, want]]) => `${k} ${JSON.stringify(got)} (want ${JSON.stringify(want)})`);
    if (wrong.length > 0) fail(`record for pid ${hog.pid} has ${wrong.join(', ')}`);
    return record!;
  });
}

// --- the checks ------------------------------------------------------------------------------------

/**
 * The hooks each kernel of the tier must deliver kills through: a hook that stops attaching there is a
 * failure, not "not offered". All four on each, as recorded (test/testdata/kernel-tier/last-run.json), 5.10
 * included although its mark_victim tracepoint carries only a pid. A series not listed (another kernel run
 * by hand) may lack some: those pass as not offered, with the loader's reason.
 */
const EXPECTED_HOOKS: Record<string, readonly string[]> = {
  '5.10': BPF_HOOKS,
  '6.1': BPF_HOOKS,
  '6.12': BPF_HOOKS,
};

async function hookCheck(hook: string): Promise<CheckResult | undefined> {
  return check(`hook-${hook}`, RECEIVER_START_MS + 2 * DELIVERY_MS + 60_000, async () => {
    let run: Running;
    try {
      run = await startRun(['--source', 'bpf', '--hook', hook]);
    } catch (error) {
      if ((EXPECTED_HOOKS[series] ?? []).includes(hook)) throw error;
      return { detail: `not offered by this kernel: ${(error as Error).message}`, data: { offered: false } };
    }
    try {
      const record = await killOne(run, `hook-${hook}`);
      const used = String(record.attributes[Attr.hook]);
      if (!used.startsWith(`${hook}/`)) fail(`forced --hook ${hook} but the kill came through ${used}`);
      return { detail: `kill of pid ${String(record.attributes[Sem.processPid])} delivered through ${used}`, data: { offered: true, hook: used } };
    } finally {
      await stopRun(run);
    }
  });
}

let auto: Promise<Running> | undefined;
const autoRun = (): Promise<Running> =>
  (auto ??= startRun(['--source', 'bpf', '--reconcile-interval-ms', '1000']));

async function k8sLayoutCheck(): Promise<CheckResult | undefined> {
  return check('k8s-layout', RECEIVER_START_MS + DELIVERY_MS * 2, async () => {
    const run = await autoRun();
    const record = await killOne(run, 'k8s-layout');
    return {
      detail: `auto picked ${run.started}; pod UID, container ID and cgroup path right for pid ${String(record.attributes[Sem.processPid])}`,
      // The hooks the loader attached, from its start line (`bpf, tp_btf/mark_victim+fentry/... on Linux ...`).
      data: { autoHook: String(record.attributes[Attr.hook]), autoHooks: /^bpf, (\S+) on /.exec(run.started)?.[1] ?? run.started },
    };
  });
}

async function groupKillCheck(): Promise<CheckResult | undefined> {
  return check('group-kill', RECEIVER_START_MS + DELIVERY_MS * 3, async () => {
    const run = await autoRun();
    const missed = (): number => collector.counterTotal('oomkill.missed_kills');
    await new Promise((r) => setTimeout(r, 2500)); // the reconciler's earlier findings are exported by now
    const missedBefore = missed();
    return withCgroup('group-kill', { limitMiB: 64, oomGroup: true }, async (cgroup) => {
      const residents = [startResident(cgroup.dir), startResident(cgroup.dir)];
      await new Promise((r) => setTimeout(r, 300)); // both are in the cgroup before the hog allocates
      const hog = startHog(cgroup.dir);
      const members = [hog, ...residents];
      for (const member of members) await killed(member, `group member pid ${member.pid}`);
      const got = await records(run, 3, inCgroup(cgroup), 'fewer than 3 records for the group kill');
      const pids = new Set(got.map((r) => r.attributes[Sem.processPid]));
      const oomIds = new Set(got.map((r) => r.attributes[Attr.oomId]));
      const kernelCount = cgroup.oomKills();
      // The reconciler compares memory.events with the kills seen every second; give it two rounds and
      // the metric exporter one interval.
      await new Promise((r) => setTimeout(r, 3500));
      const missedNow = missed() - missedBefore;
      const problems: string[] = [];
      if (got.length !== 3) problems.push(`${got.length} records (want 3)`);
      if (!members.every((m) => pids.has(m.pid))) problems.push(`records for pids ${[...pids].join(',')} (want ${members.map((m) => m.pid).join(',')})`);
      if (oomIds.size !== 1) problems.push(`${oomIds.size} OOM ids (want 1 shared)`);
      if (missedNow !== 0) problems.push(`reconciliation reports ${missedNow} missed (kernel's memory.events oom_kill ${kernelCount})`);
      toCapture.push({ name: 'oom-group', kills: [hog.pid, ...residents.map((r) => r.pid)].map((pid, i) => ({ pid, comm: comm(i === 0 ? HOG_NAME : 'oomkill-resident'), constraint: 'memcg', cgroupPath: cgroup.path })) });
      if (problems.length > 0) fail(problems.join('; '));
      return { detail: `3 records, one OOM id, 0 missed (memory.events oom_kill ${kernelCount})`, data: { kernelOomKills: kernelCount } };
    });
  });
}

async function pidNamespaceCheck(): Promise<CheckResult | undefined> {
  return check('pid-namespace', RECEIVER_START_MS + DELIVERY_MS * 3, async () => {
    const run = await autoRun();
    const outcome: string[] = [];
    for (const [which, options] of [['main', { mainProcess: true }], ['child', { namespaceChild: true }]] as const) {
      await withCgroup(`pidns-${which}`, { limitMiB: 48 }, async (cgroup) => {
        const launcher = startHog(cgroup.dir, options);
        await within(launcher.exited, DELIVERY_MS, `waiting for the ${which} process's namespace to end`);
        const [record] = await records(run, 1, inCgroup(cgroup), `no record for the namespace ${which}`);
        const main = record!.attributes[Attr.mainProcess];
        const nsPid = record!.attributes[Attr.namespacePid];
        const want = which === 'main';
        if (main !== want) fail(`the namespace ${which} (pid ${String(record!.attributes[Sem.processPid])}, namespace pid ${String(nsPid)}) has main_process ${String(main)} (want ${want})`);
        outcome.push(`${which}: namespace pid ${String(nsPid)}, main_process ${String(main)}`);
      });
    }
    return { detail: outcome.join('; ') };
  });
}

/** A process name as the kernel's reports print it: task->comm keeps 15 bytes (TASK_COMM_LEN 16). */
const comm = (name: string): string => name.slice(0, 15);

/** Kills of the checks before kmsg whose reports the kmsg check captures as fixtures. */
const toCapture: Capture[] = [];

async function globalOomCheck(): Promise<CheckResult | undefined> {
  return check('global-oom', RECEIVER_START_MS + DELIVERY_MS * 3, async () => {
    const run = await autoRun();
    const protect = (pids: string[], adj: string): void => {
      for (const pid of pids) {
        try {
          writeFileSync(`/proc/${pid}/oom_score_adj`, adj);
        } catch {
          // a kernel thread, or gone
        }
      }
    };
    try {
      return await withCgroup('global-oom', { limitMiB: 1024 * 1024 }, async (cgroup) => {
        // The hog inherits this runner's score (0) and is raised to 1000; everything else, this runner
        // included, is protected at -1000: the hog is the only candidate.
        const hog = startHog(cgroup.dir);
        writeFileSync(`/proc/${hog.pid}/oom_score_adj`, '1000');
        protect(readdirSync('/proc').filter((p) => /^\d+$/.test(p) && Number(p) !== hog.pid), '-1000');
        // The kernel's global OOM killer (out_of_memory() without a memcg: CONSTRAINT_NONE), invoked through
        // sysrq f. Exhausting the guest's memory instead was measured here: with the page cache of the
        // running Node processes to reclaim and refault, a 3 GiB guest under emulation thrashed for minutes
        // (once past the check's timeout) before the OOM killer ran.
        await new Promise((r) => setTimeout(r, 500)); // the hog is allocating: it has memory to lose
        writeFileSync('/proc/sysrq-trigger', 'f');
        await killed(hog, `the hog (pid ${hog.pid})`);
        const [record] = await records(run, 1, forPid(hog.pid), `no record for pid ${hog.pid}`);
        const constraint = record!.attributes[Attr.constraint];
        if (constraint !== 'global') fail(`the global OOM's record has constraint ${String(constraint)} (want global)`);
        toCapture.push({ name: 'global', kills: [{ pid: hog.pid, comm: comm(HOG_NAME), constraint: 'global', cgroupPath: cgroup.path }] });
        return { detail: `pid ${hog.pid} killed by the global OOM killer (sysrq f; runner and receiver at oom_score_adj -1000, hog at 1000), recorded with constraint global` };
      });
    } finally {
      // The next checks' hogs inherit this runner's score: they must be killable again.
      writeFileSync(`/proc/${process.pid}/oom_score_adj`, '0');
    }
  });
}

async function kmsgCheck(): Promise<CheckResult | undefined> {
  return check('kmsg', RECEIVER_START_MS + DELIVERY_MS * 2, async () => {
    const run = await startRun(['--source', 'kmsg']);
    try {
      return await withCgroup('kmsg', { limitMiB: 48 }, async (cgroup) => {
        const hog = startHog(cgroup.dir);
        await killed(hog, `the hog (pid ${hog.pid})`);
        const [record] = await records(run, 1, forPid(hog.pid), `no record for pid ${hog.pid}`);
        const got = { source: record!.attributes[Attr.source], path: record!.attributes[Attr.cgroupPath], container: record!.resource[Sem.containerId] };
        if (got.source !== 'kmsg' || got.path !== cgroup.path || got.container !== cgroup.containerId) {
          fail(`record for pid ${hog.pid}: ${JSON.stringify(got)} (want source kmsg, path ${cgroup.path})`);
        }
        const captured = captureReports([{ name: 'memcg', kills: [{ pid: hog.pid, comm: comm(HOG_NAME), constraint: 'memcg', cgroupPath: cgroup.path }] }, ...toCapture]);
        return { detail: `pid ${hog.pid} from the kernel's own report, path and container right; captured ${captured.join(', ')}` };
      });
    } finally {
      await stopRun(run);
    }
  });
}

/** One OOM report to capture, and the truth about its kills (from the check that made them). */
interface Capture { name: string; kills: Array<{ pid: number; comm: string; constraint: string; cgroupPath: string }> }

/**
 * Writes this kernel's own OOM reports, as /dev/kmsg returns them, to OUTDIR/kmsg/<kernel>-<name>.kmsg,
 * with what is known of each kill (pid, name, constraint, cgroup) in <kernel>-<name>.json: run.sh --record
 * copies them to test/testdata/kmsg/, and the parser's tests read them.
 */
function captureReports(captures: Capture[]): string[] {
  const lines: string[] = [];
  const fd = openSync('/dev/kmsg', constants.O_RDONLY | constants.O_NONBLOCK);
  const buffer = Buffer.alloc(16384);
  try {
    for (;;) {
      try {
        const n = readSync(fd, buffer);
        // Drop the dictionary's continuation lines (" SUBSYSTEM=..."): one record per line.
        lines.push(buffer.subarray(0, n).toString('latin1').split('\n')[0] ?? '');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EPIPE') continue; // records overwritten while we read: go on from the next
        if (code === 'EAGAIN') break;
        throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
  const written: string[] = [];
  for (const capture of captures) {
    const killLine = (l: string): boolean => capture.kills.some((k) => new RegExp(`[Kk]illed process ${k.pid} `).test(l));
    const first = lines.findIndex(killLine);
    if (first < 0) fail(`no "Killed process ${capture.kills.map((k) => k.pid).join('|')}" line in /dev/kmsg to capture`);
    let start = first;
    while (start > 0 && !lines[start]!.includes('invoked oom-killer')) start--;
    if (!lines[start]!.includes('invoked oom-killer')) fail(`no "invoked oom-killer" line before the kill of ${capture.kills[0]!.pid}`);
    let last = first;
    for (let i = first; i < lines.length && (i === first || !lines[i]!.includes('invoked oom-killer')); i++) if (killLine(lines[i]!)) last = i;
    // The report and its aftermath (oom_reaper lines), up to the next report.
    let end = last + 1;
    while (end < lines.length && end < last + 1 + capture.kills.length && !lines[end]!.includes('invoked oom-killer')) end++;
    const file = `${series}-${capture.name}`;
    const dir = join(outDir, 'kmsg');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${file}.kmsg`), `${lines.slice(start, end).join('\n')}\n`, 'latin1');
    writeFileSync(join(dir, `${file}.json`), `${JSON.stringify({ kernel: result.release, kills: capture.kills }, null, 2)}\n`);
    written.push(`${file}.kmsg (${end - start} records)`);
  }
  return written;
}

/** The node helper's launcher, imported when the check runs so that a tree without it fails only this check. */
type DaemonSetLauncher = typeof import('../../test/support/daemonset-identity.ts');

/** The stand-in for the runtime's default profile (`appArmorProfile: RuntimeDefault`), beside the launcher. */
const APPARMOR_PROFILE = join(REPO, 'test/support/apparmor/runtime-default.profile');

/**
 * Loads the runtime's default profile where this kernel has AppArmor and the cache has Debian's
 * apparmor_parser; otherwise says why it cannot be enforced.
 */
function loadAppArmor(): { profile?: string; why: string } {
  const enabled = existsSync('/sys/module/apparmor/parameters/enabled') && readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  if (!enabled) return { why: 'AppArmor not enforced: this kernel does not enable it' };
  const parser = join(apparmorDir, 'sbin/apparmor_parser');
  if (!existsSync(parser)) return { why: `AppArmor not enforced: no apparmor_parser in ${apparmorDir} (fetch-kernels.sh downloads it)` };
  if (!existsSync(APPARMOR_PROFILE)) fail(`AppArmor profile missing: ${APPARMOR_PROFILE} (the runtime default's stand-in) is not in this tree`);
  const name = /^profile\s+(\S+)/m.exec(readFileSync(APPARMOR_PROFILE, 'utf8'))?.[1];
  if (name === undefined) fail(`no 'profile NAME' in ${APPARMOR_PROFILE}`);
  const out = spawnSync(parser, ['-r', '-K', APPARMOR_PROFILE], {
    env: { LD_LIBRARY_PATH: join(apparmorDir, 'usr/lib/x86_64-linux-gnu'), PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
  });
  if (out.status !== 0) fail(`apparmor_parser could not load ${APPARMOR_PROFILE}: ${out.stderr.trim()}`);
  return { profile: name!, why: `under AppArmor profile ${name!} (the runtime default's stand-in), enforced` };
}

async function daemonsetCheck(): Promise<CheckResult | undefined> {
  return check('daemonset', RECEIVER_START_MS + DELIVERY_MS * 3, async () => {
    const launcherPath = join(REPO, DAEMONSET_LAUNCHER);
    if (!existsSync(launcherPath)) fail(`launcher missing: ${DAEMONSET_LAUNCHER} is not in this tree`);
    if (imageTree === undefined || !existsSync(join(imageTree, 'dist', 'main.js'))) fail(`no image tree (run.sh builds it with scripts/build-image-tree.sh): ${imageTree ?? 'none given'}`);
    const bpffsMode = statSync('/sys/fs/bpf').mode & 0o7777;
    if ((bpffsMode & 0o777) !== 0o700) fail(`bpffs is mode ${bpffsMode.toString(8)}, not 0700 as systemd mounts it`);
    const { startDaemonSetPod } = (await import(pathToFileURL(launcherPath).href)) as DaemonSetLauncher;
    const apparmor = loadAppArmor();
    const work = mkdtempSync('/tmp/kernel-tier-daemonset-');
    const state = mkdtempSync('/tmp/kernel-tier-var-lib-');
    const pod = startDaemonSetPod({
      imageTree: imageTree!,
      workDir: work,
      hostPaths: { '/var/lib/oomkill-receiver': state },
      nodeName: `kernel-tier-${series}`,
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '1000' },
      ...(apparmor.profile ? { appArmorProfile: apparmor.profile } : {}),
    });
    const run: Running = { receiver: pod.receiver, started: '' };
    try {
      const line = await within(pod.receiver.waitForLine(/"source: /, RECEIVER_START_MS + 1000), RECEIVER_START_MS, 'waiting for the receiver to start')
        .catch((error: Error) => fail(`receiver did not start: ${lastWords(pod.receiver, error.message)}`));
      run.started = /"source: ([^"]*)"/.exec(line)?.[1] ?? line;
      if (!run.started.startsWith('bpf,')) fail(`the DaemonSet's receiver runs source ${run.started}, not bpf`);
      if (!/pinned at /.test(run.started)) fail(`the DaemonSet's receiver is not pinned: ${run.started}; ${lastWords(pod.receiver, '')}`);
      if (apparmor.profile) {
        const confinement = readFileSync(`/proc/${pod.receiver.child.pid}/attr/current`, 'utf8').trim();
        if (!confinement.startsWith(apparmor.profile)) fail(`the receiver runs under AppArmor ${confinement}, not ${apparmor.profile}`);
      }
      const record = await killOne(run, 'daemonset');
      if (record.attributes[Attr.source] !== 'bpf') fail(`the kill came from source ${String(record.attributes[Attr.source])}`);
      const pins = readdirSync('/sys/fs/bpf/oomkill');
      if (pins.length === 0) fail('nothing pinned in /sys/fs/bpf/oomkill');
      return { detail: `${run.started}; bpffs mode 0700; kill of pid ${String(record.attributes[Sem.processPid])} from the bpf source; ${apparmor.why}`, data: { apparmor: apparmor.profile !== undefined } };
    } finally {
      await stopRun(run);
    }
  });
}

// --- the run -----------------------------------------------------------------------------------------

collector = await startOtlpReceiver();
try {
  if (!existsSync(RECEIVER_ENTRY)) throw new Error(`no compiled receiver at ${RECEIVER_ENTRY} (run.sh builds it)`);
  for (const hook of BPF_HOOKS) await hookCheck(hook);
  await k8sLayoutCheck();
  await groupKillCheck();
  await pidNamespaceCheck();
  await globalOomCheck();
  if (auto) await stopRun(await auto).catch((error: Error) => console.log(`kernel-tier ${series} note: ${error.message}`));
  await kmsgCheck();
  await daemonsetCheck();
} finally {
  await collector.stop();
}
process.exit(0);
