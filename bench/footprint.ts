// What the receiver costs on a node and how fast it tells, measured on the image tree run as the image
// runs it (bench/image.ts), beside bare Node started the same way in the same run: idle memory without
// Kubernetes and with 110 and 1,000 realistic pods, the loader's share, idle CPU, exec to ready, and the
// delay from the kernel's kill to the OTLP log record's arrival for single kills and within a burst.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { Attr, Sem } from '../src/attributes.ts';
import { createScratchCgroup, startHog } from '../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../src/demo/scratch-cgroup.ts';
import { ownerRef, realisticPod, startFakeApiServer, workload } from '../test/support/fake-apiserver.ts';
import type { FakeApiServer } from '../test/support/fake-apiserver.ts';
import { startOtlpReceiver } from '../test/support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from '../test/support/otlp-receiver.ts';
import { BenchCgroups, buildImageTree, daemonSetReceiver, imageArgv, launch, makeWritableDir, readDockerfile } from './image.ts';
import type { ImageRun, Launched } from './image.ts';
import { cgroupPeakMiB, cgroupUsageMiB, cpuSeconds, median, nodeOomKills, peakMiB, percentile, processTree, resetCgroupPeak, resetPeak, rssMiB } from './proc.ts';

export interface FootprintOptions {
  /** Seconds left alone after start before memory is read (V8's memory reducer runs when idle). */
  settleSeconds: number;
  cpuSeconds: number;
  podCounts: [number, number];
  singleKills: number;
  burstKills: number;
  /** Kills made while the OTLP endpoint is down: past 2000 the rest wait in the spool, not in memory. */
  outageKills: number;
  starts: number;
  log(line: string): void;
}

export const FULL: Omit<FootprintOptions, 'log'> = { settleSeconds: 20, cpuSeconds: 30, podCounts: [110, 1000], singleKills: 60, burstKills: 300, outageKills: 3000, starts: 3 };
export const SMOKE: Omit<FootprintOptions, 'log'> = { settleSeconds: 2, cpuSeconds: 3, podCounts: [5, 20], singleKills: 3, burstKills: 20, outageKills: 30, starts: 1 };

export interface Memory {
  /** The source the receiver started (bpf unless the loader failed or was too slow, as under heavy load). */
  source: string;
  /** Node and its loader, MiB. */
  node: number;
  loader: number;
  total: number;
  /** The memory cgroup's usage (page cache included), MiB. */
  cgroup: number;
  /** Peak RSS of Node + loader since start (VmHWM), and the cgroup's, MiB. */
  peakSinceStart: number;
  cgroupPeakSinceStart: number;
}

export interface Quantiles { count: number; p50Ms: number; p99Ms: number }

export interface FootprintResult {
  bare: { rssMiB: number; cpuPercent: number; execMs: number };
  /** nodeKills: OOM kills on the node during the CPU window, all handled by the receiver. */
  idle: Memory & { cpuPercent: number; nodeKills: number; execToReadyMs: number[]; loaderStartMs: number[] };
  pods: Array<Memory & { pods: number; execToReadyMs: number; listedMs: number; cpuPercent?: number; nodeKills?: number }>;
  /**
   * readP50Ms, readP99Ms: from the kill to the receiver's read of it (the record's observed time); floor:
   * from the kill to its read by bare Node reading a loader of its own beside the receiver (bench/kill-floor.ts).
   */
  single: { kills: number; p50Ms: number; p99Ms: number; maxMs: number; readP50Ms: number; readP99Ms: number; floor: Quantiles };
  /** cpuMsPerKill: the receiver's CPU over the burst divided by every kill the node had meanwhile. */
  burst: { kills: number; seconds: number; p50Ms: number; p99Ms: number; maxMs: number; readP50Ms: number; readP99Ms: number; floor: Quantiles; idleMiB: number; peakMiB: number; cgroupPeakMiB: number; cpuMsPerKill: number };
  outage: { kills: number; idleMiB: number; peakMiB: number; cgroupPeakMiB: number; drainSeconds: number };
  memoryLimitMiB: number;
  cpuSeconds: number;
}

const NODE_NAME = 'bench-node';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address ? address.port : 0;
}

function httpStatus(url: string): Promise<number> {
  return new Promise((resolve) => {
    const request = get(url, { agent: false, timeout: 1000 }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('error', () => resolve(0));
    request.on('timeout', () => request.destroy());
  });
}

/** From exec to the first 200 of /readyz, polled every 5 ms. */
async function execToReady(start: number, port: number, launched: Launched): Promise<number> {
  let exited = false;
  launched.child.once('exit', () => (exited = true));
  for (;;) {
    if ((await httpStatus(`http://127.0.0.1:${port}/readyz`)) === 200) return performance.now() - start;
    if (exited) throw new Error(`the receiver exited before it was ready:\n${launched.stderrLines().join('\n')}`);
    if (performance.now() - start > 120_000) throw new Error('not ready within 120 s');
    await sleep(5);
  }
}

function memory(launched: Launched, cgroupDir: string): Memory {
  const [node, ...children] = processTree(launched.pid);
  const nodeMiB = rssMiB(node as number);
  const loader = children.reduce((sum, pid) => sum + rssMiB(pid), 0);
  const started = launched.stderrLines().map((line) => /"source: (\w+),/.exec(line)?.[1]).find((name) => name !== undefined);
  return {
    source: started ?? 'none',
    node: nodeMiB,
    loader,
    total: nodeMiB + loader,
    cgroup: cgroupUsageMiB(cgroupDir),
    peakSinceStart: processTree(launched.pid).reduce((sum, pid) => sum + peakMiB(pid), 0),
    cgroupPeakSinceStart: cgroupPeakMiB(cgroupDir),
  };
}

/**
 * CPU of each process tree over `seconds`, as a percentage of one core, and the OOM kills the kernel
 * counted on the node meanwhile: the receiver handles every kill on the node, other processes' included,
 * so on a shared machine "idle" holds their kills.
 */
async function idleCpu(pids: number[][], seconds: number): Promise<{ percents: number[]; nodeKills: number }> {
  const sum = (tree: number[]): number => tree.reduce((s, pid) => s + cpuSeconds(pid), 0);
  const before = pids.map(sum);
  const killsBefore = nodeOomKills();
  const started = performance.now();
  await sleep(seconds * 1000);
  const elapsed = (performance.now() - started) / 1000;
  return { percents: pids.map((tree, i) => ((sum(tree) - (before[i] as number)) / elapsed) * 100), nodeKills: nodeOomKills() - killsBefore };
}

/** The loader alone, as the receiver starts it: exec to its first frame on stdout (hooks chosen, attached). */
async function loaderStart(tree: string, image: ImageRun, cgroupDir: string): Promise<number> {
  const start = performance.now();
  const loader = launch([join(tree, 'bpf', '.output', 'oomkill-loader'), '--hook', 'auto'], { PATH: process.env.PATH ?? '' }, cgroupDir, image.uid, image.gid);
  try {
    await new Promise<void>((resolve, reject) => {
      loader.child.stdout?.once('data', () => resolve());
      loader.child.once('exit', (code) => reject(new Error(`the loader exited (${code}) before its first frame:\n${loader.stderrLines().join('\n')}`)));
    });
    return performance.now() - start;
  } finally {
    await loader.stop();
  }
}

/** 1,000 pods as a node's Deployments make them: 5 replicas each, spread over 20 namespaces. */
function servePods(api: FakeApiServer, count: number, prefix: string): void {
  for (let i = 0; i < count; i++) {
    const deployment = Math.floor(i / 5);
    const namespace = `team-${deployment % 20}`;
    const hash = randomBytes(4).toString('hex').slice(0, 8);
    const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: `${prefix}${deployment}-${hash}`, uid: randomUUID(), controller: true };
    api.upsert(realisticPod({ name: `${owner.name}-${randomBytes(3).toString('hex').slice(0, 5)}`, namespace, nodeName: NODE_NAME, owner, containerIds: [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')], index: i }));
  }
}

export async function benchFootprint(options: FootprintOptions): Promise<FootprintResult> {
  const { log } = options;
  const image: ImageRun = readDockerfile();
  const daemonSet = daemonSetReceiver();
  log(`building the image tree with ${image.buildScript}`);
  const tree = buildImageTree(image);
  const cgroups = new BenchCgroups();
  let collector = await startOtlpReceiver();
  const api = await startFakeApiServer();
  const scratchDirs: string[] = [];
  let hogs: ScratchCgroup | undefined;
  const running = new Set<Launched>();

  const receiverEnv = (port: number, extra: Record<string, string>): Record<string, string> => {
    const spool = makeWritableDir('oomkill-bench-spool-', image.uid, image.gid);
    scratchDirs.push(spool);
    const fromDaemonSet = { ...daemonSet.env };
    // Pinning needs a bpffs directory the unprivileged user can reach (the DaemonSet's init container makes
    // one); this machine's /sys/fs/bpf is not searchable by it. It changes nothing at idle.
    delete fromDaemonSet.OOMKILL_PIN_DIR;
    return {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      ...image.env,
      ...fromDaemonSet,
      NODE_NAME,
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OOMKILL_HEALTH_ADDR: `127.0.0.1:${port}`,
      OOMKILL_SPOOL_DIR: spool,
      ...extra,
    };
  };
  const startImage = async (extra: Record<string, string>): Promise<{ launched: Launched; cgroup: string; readyMs: number }> => {
    const port = await freePort();
    const cgroup = cgroups.make(daemonSet.memoryLimitBytes);
    const start = performance.now();
    const launched = launch(imageArgv(image, tree), receiverEnv(port, extra), cgroup, image.uid, image.gid);
    running.add(launched);
    const readyMs = await execToReady(start, port, launched);
    return { launched, cgroup, readyMs };
  };
  const stop = async (launched: Launched): Promise<void> => {
    running.delete(launched);
    const code = await launched.stop();
    if (code !== 0) throw new Error(`the receiver exited with ${code}:\n${launched.stderrLines().slice(-20).join('\n')}`);
  };

  try {
    // Bare Node: exec to exit, and idle in its own cgroup with the same limit, beside the receiver.
    const bareExec = median(Array.from({ length: 3 }, () => {
      const start = performance.now();
      spawnSync(process.execPath, ['-e', '0']);
      return performance.now() - start;
    }));
    const bareCgroup = cgroups.make(daemonSet.memoryLimitBytes);
    const bare = launch([process.execPath, '-e', 'setInterval(() => {}, 1 << 30)'], { PATH: process.env.PATH ?? '', ...image.env }, bareCgroup, image.uid, image.gid);
    running.add(bare);

    // No Kubernetes: the smallest the receiver can be. Later starts only add exec-to-ready samples.
    log('idle without Kubernetes');
    const execToReadyMs: number[] = [];
    for (let i = 1; i < options.starts; i++) {
      const extra = await startImage({});
      execToReadyMs.push(extra.readyMs);
      await stop(extra.launched);
    }
    const idleRun = await startImage({});
    execToReadyMs.push(idleRun.readyMs);
    const loaderStartMs: number[] = [];
    for (let i = 0; i < options.starts; i++) loaderStartMs.push(await loaderStart(tree, image, cgroups.make(daemonSet.memoryLimitBytes)));
    await sleep(options.settleSeconds * 1000);
    const idleMemory = memory(idleRun.launched, idleRun.cgroup);
    const bareRss = rssMiB(bare.pid);
    log(`measuring idle CPU over ${options.cpuSeconds} s`);
    const idleWindow = await idleCpu([processTree(idleRun.launched.pid), [bare.pid]], options.cpuSeconds);
    const [idleCpuPercent, bareCpuPercent] = idleWindow.percents;
    await stop(idleRun.launched);
    running.delete(bare);
    await bare.stop();

    // With pods: the smaller count also carries the kills, in a pod the API server knows (as on a node).
    hogs = await createScratchCgroup({ parentName: `oomkill-bench-hogs-${process.pid}`, limitMiB: 32 });
    const deployment = api.upsert(workload('Deployment', 'checkout', 'shop'));
    const replicaSet = api.upsert(workload('ReplicaSet', 'checkout-6c8f9d', 'shop', deployment));
    api.upsert(realisticPod({ name: 'checkout-6c8f9d-x7k2p', namespace: 'shop', uid: hogs.podUid, nodeName: NODE_NAME, owner: ownerRef(replicaSet), containerIds: [hogs.containerId, randomBytes(32).toString('hex')], index: 0 }));
    const kubeDir = mkdtempSync(join(tmpdir(), 'oomkill-bench-kube-'));
    chmodSync(kubeDir, 0o755);
    scratchDirs.push(kubeDir);
    const kubeconfig = api.writeKubeconfig(kubeDir);
    chmodSync(kubeconfig, 0o644);

    const pods: FootprintResult['pods'] = [];
    let single: FootprintResult['single'] | undefined;
    let burst: FootprintResult['burst'] | undefined;
    let outage: FootprintResult['outage'] | undefined;
    let served = 1;
    cgroups.makePodCgroups((options.podCounts[0] as number) - 1);
    for (const [index, count] of options.podCounts.entries()) {
      servePods(api, count - served, `app${index}-`);
      served = count;
      log(`idle with ${count} pods`);
      const listStart = performance.now();
      const run = await startImage({ KUBECONFIG: kubeconfig });
      const listed = await run.launched.waitForLine(/watching the pods of this node/, 120_000);
      const listedMs = performance.now() - listStart;
      const seen = Number(/"pods":(\d+)/.exec(listed)?.[1]);
      if (seen !== count) throw new Error(`the receiver listed ${seen} pods, the API server serves ${count}`);
      await sleep(options.settleSeconds * 1000);
      const podMemory: FootprintResult['pods'][number] = { ...memory(run.launched, run.cgroup), pods: count, execToReadyMs: run.readyMs, listedMs };
      pods.push(podMemory);
      if (index === 0) {
        log(`measuring idle CPU over ${options.cpuSeconds} s with ${count} pods and their cgroups`);
        const window = await idleCpu([processTree(run.launched.pid)], options.cpuSeconds);
        [podMemory.cpuPercent] = window.percents;
        podMemory.nodeKills = window.nodeKills;
        log(`${options.singleKills} single kills, then a burst of ${options.burstKills}`);
        const loaderPath = join(tree, 'bpf', '.output', 'oomkill-loader');
        let floor = await startFloor(loaderPath, hogs.path);
        single = { ...await singleKills(collector, hogs, options.singleKills), floor: quantiles(await floor.stop()) };
        floor = await startFloor(loaderPath, hogs.path);
        burst = { ...await burstKills(collector, hogs, options.burstKills, run.launched, run.cgroup, podMemory.total, options.settleSeconds), floor: quantiles(await floor.stop()) };
        log(`${options.outageKills} kills while the OTLP endpoint is down`);
        const down = await outageKills(collector, hogs, options.outageKills, run.launched, run.cgroup);
        collector = down.collector;
        outage = { ...down.figures, idleMiB: podMemory.total };
      }
      await stop(run.launched);
    }
    return {
      bare: { rssMiB: bareRss, cpuPercent: bareCpuPercent as number, execMs: bareExec },
      idle: { ...idleMemory, cpuPercent: idleCpuPercent as number, nodeKills: idleWindow.nodeKills, execToReadyMs, loaderStartMs },
      pods,
      single: single as FootprintResult['single'],
      burst: burst as FootprintResult['burst'],
      outage: outage as FootprintResult['outage'],
      memoryLimitMiB: daemonSet.memoryLimitBytes / 2 ** 20,
      cpuSeconds: options.cpuSeconds,
    };
  } catch (error) {
    for (const launched of running) log(`the receiver's last diagnostics:\n${launched.stderrLines().slice(-30).join('\n')}`);
    throw error;
  } finally {
    for (const launched of running) await launched.stop();
    await hogs?.remove();
    await cgroups.remove();
    await collector.stop();
    await api.stop();
    for (const dir of [...scratchDirs, join(tree, '..')]) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * `kills` more OOM kills in the cgroup, 20 hogs at a time, made by a process of its own (bench/hog-burst.ts):
 * spawning hundreds of hogs here would hold up this event loop, where the stand-in collector stamps each
 * record's arrival, and charge that delay to the receiver (a real collector is a process of its own).
 */
async function makeKills(cgroup: ScratchCgroup, kills: number): Promise<void> {
  const generator = spawn(process.execPath, [fileURLToPath(new URL('hog-burst.ts', import.meta.url)), cgroup.dir, cgroup.version, String(kills), '20'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise<number | null>((resolve, reject) => generator.on('error', reject).on('exit', resolve));
  if (code !== 0) throw new Error(`bench/hog-burst.ts exited with ${code}`);
}

const latencyMs = (r: ReceivedLogRecord): number => Number(r.receivedUnixNano - r.timeUnixNano) / 1e6;
/** The kill to the receiver's read of it: the part of the delay before the receiver's own work and export. */
const readMs = (r: ReceivedLogRecord): number => Number(r.observedTimeUnixNano - r.timeUnixNano) / 1e6;

/** One kill at a time: each one's delay is measured alone. */
const quantiles = (values: number[]): Quantiles => ({ count: values.length, p50Ms: median(values), p99Ms: percentile(values, 0.99) });

/**
 * The floor under the receiver's delays: bare Node reading the frames of a loader of its own through the
 * same kills, doing nothing else (bench/kill-floor.ts). What the receiver adds is above it.
 */
async function startFloor(loaderPath: string, cgroupPath: string): Promise<{ stop(): Promise<number[]> }> {
  const floor = spawn(process.execPath, [fileURLToPath(new URL('kill-floor.ts', import.meta.url)), loaderPath, cgroupPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  floor.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => floor.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    floor.stderr.once('data', () => resolve());
    void exited.then((code) => reject(new Error(`bench/kill-floor.ts exited with ${code} before its loader attached`)));
  });
  return {
    async stop() {
      floor.stdin.end();
      await exited;
      return JSON.parse(out) as number[];
    },
  };
}

async function singleKills(collector: OtlpReceiver, cgroup: ScratchCgroup, kills: number): Promise<Omit<FootprintResult['single'], 'floor'>> {
  const latencies: number[] = [];
  const reads: number[] = [];
  for (let i = 0; i < kills; i++) {
    const hog = startHog(cgroup.dir);
    await hog.exited;
    const [record] = await collector.waitForLogRecords(1, 10_000, (r) => r.attributes[Sem.processPid] === hog.pid);
    const named = (record as ReceivedLogRecord).resource[Sem.k8sPodName];
    if (named !== 'checkout-6c8f9d-x7k2p') throw new Error(`a kill was not named from the pod cache: k8s.pod.name ${String(named)}`);
    latencies.push(latencyMs(record as ReceivedLogRecord));
    reads.push(readMs(record as ReceivedLogRecord));
    await sleep(50);
  }
  return { kills, p50Ms: median(latencies), p99Ms: percentile(latencies, 0.99), maxMs: Math.max(...latencies), readP50Ms: median(reads), readP99Ms: percentile(reads, 0.99) };
}

/**
 * `kills` more kills, 20 hogs at a time (makeKills); every one must arrive. Peak memory is the kernel's own record (VmHWM, the cgroup's max usage), reset before the burst.
 */
async function burstKills(collector: OtlpReceiver, cgroup: ScratchCgroup, kills: number, launched: Launched, cgroupDir: string, idleMiB: number, settleSeconds: number): Promise<Omit<FootprintResult['burst'], 'floor'>> {
  const inCgroup = (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup.path;
  const before = cgroup.oomKills();
  const seenBefore = new Set(collector.logRecords().filter(inCgroup));
  const tree = processTree(launched.pid);
  for (const pid of tree) resetPeak(pid);
  resetCgroupPeak(cgroupDir);
  const cpuBefore = tree.reduce((sum, pid) => sum + cpuSeconds(pid), 0);
  const nodeKillsBefore = nodeOomKills();
  const started = performance.now();
  await makeKills(cgroup, kills);
  const seconds = (performance.now() - started) / 1000;
  const total = cgroup.oomKills();
  const records = await collector.waitForLogRecords(total, 60_000, inCgroup);
  await sleep(Math.min(settleSeconds, 5) * 1000); // the exporter's and the spool's work after the last arrival
  const cpuMsPerKill = ((tree.reduce((sum, pid) => sum + cpuSeconds(pid), 0) - cpuBefore) * 1000) / Math.max(1, nodeOomKills() - nodeKillsBefore);
  const burst = records.filter((r) => !seenBefore.has(r));
  const latencies = burst.map(latencyMs);
  const reads = burst.map(readMs);
  return {
    kills: total - before,
    seconds,
    p50Ms: median(latencies),
    p99Ms: percentile(latencies, 0.99),
    maxMs: Math.max(...latencies),
    readP50Ms: median(reads),
    readP99Ms: percentile(reads, 0.99),
    idleMiB,
    peakMiB: tree.reduce((sum, pid) => sum + peakMiB(pid), 0),
    cgroupPeakMiB: cgroupPeakMiB(cgroupDir),
    cpuMsPerKill,
  };
}

/**
 * The OTLP endpoint down while `kills` kills happen: the delivery queue holds 2000 records in memory and
 * the rest wait in the spool, so memory has a ceiling; when it returns, every record must arrive.
 */
async function outageKills(collector: OtlpReceiver, cgroup: ScratchCgroup, kills: number, launched: Launched, cgroupDir: string): Promise<{ collector: OtlpReceiver; figures: Omit<FootprintResult['outage'], 'idleMiB'> }> {
  const inCgroup = (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup.path;
  const port = collector.port;
  await collector.stop();
  const tree = processTree(launched.pid);
  for (const pid of tree) resetPeak(pid);
  resetCgroupPeak(cgroupDir);
  const before = cgroup.oomKills();
  await makeKills(cgroup, kills);
  await sleep(2000);
  const peak = tree.reduce((sum, pid) => sum + peakMiB(pid), 0);
  const cgroupPeak = cgroupPeakMiB(cgroupDir);
  const back = await startOtlpReceiver({ port });
  const returned = performance.now();
  const done = cgroup.oomKills() - before;
  await back.waitForLogRecords(done, 180_000, inCgroup);
  return { collector: back, figures: { kills: done, peakMiB: peak, cgroupPeakMiB: cgroupPeak, drainSeconds: (performance.now() - returned) / 1000 } };
}
