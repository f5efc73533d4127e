// The receiver as deploy/daemonset.yaml runs it (test/support/daemonset-identity.ts: the init container,
// then uid 65532 with only the loader's file capabilities, the manifest's mounts in a private mount
// namespace) on a bpffs mounted mode 0700 as systemd mounts it: a fresh instance at a scratch mount point,
// so the machine's /sys/fs/bpf is not touched. A real OOM kill arrives from the BPF source, pinned; a
// restart resumes from the pins and delivers the kill made while no receiver ran. The manifest as it was
// before (the pin directory under /sys/fs/bpf in the container) runs unpinned, and says why.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import { buildImageTree, startDaemonSetPod } from '../support/daemonset-identity.ts';
import type { DaemonSetPod } from '../support/daemonset-identity.ts';
import { describeKernel, LOADER_PATH } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedDataPoint, ReceivedLogRecord } from '../support/otlp-receiver.ts';
import { scratchCgroups } from '../support/scratch.ts';

const BEFORE_THE_FIX = fileURLToPath(new URL('../testdata/daemonset-pins-under-sys-fs-bpf.yaml', import.meta.url));
const NODE_NAME = 'node-under-test';

const freePort = (): Promise<number> => new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});

describeKernel('the receiver as deploy/daemonset.yaml runs it, on a bpffs mounted mode 0700', () => {
  const scratch = scratchCgroups('daemonset');
  let imageTree = '';
  let work = '';
  let bpffs = '';
  let collector: OtlpReceiver;
  const pods: DaemonSetPod[] = [];

  beforeAll(async () => {
    imageTree = buildImageTree();
    work = mkdtempSync(join(tmpdir(), 'oomkill-daemonset-'));
    bpffs = join(work, 'bpffs');
    mkdirSync(bpffs);
    execFileSync('mount', ['-t', 'bpf', '-o', 'mode=700', 'bpf', bpffs]);
    collector = await startOtlpReceiver();
  }, 300_000);
  afterEach(async () => {
    for (const pod of pods.splice(0)) await pod.receiver.stop('SIGKILL');
  });
  afterAll(async () => {
    await collector?.stop();
    if (bpffs !== '') {
      execFileSync(LOADER_PATH, ['--pin-dir', join(bpffs, 'oomkill'), '--unpin'], { stdio: 'ignore' });
      execFileSync('umount', [bpffs]);
    }
    rmSync(work, { recursive: true, force: true });
    rmSync(join(imageTree, '..'), { recursive: true, force: true });
  });

  const startPod = async (manifest?: string): Promise<DaemonSetPod> => {
    const pod = startDaemonSetPod({
      imageTree,
      workDir: join(work, 'pods'),
      nodeName: NODE_NAME,
      hostPaths: { '/sys/fs/bpf': bpffs, '/var/lib/oomkill-receiver': join(work, 'var-lib') },
      // The pod's own network: the sidecar's address and the probe port, here on this machine's.
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OOMKILL_HEALTH_ADDR: `127.0.0.1:${await freePort()}` },
      ...(manifest !== undefined && { manifest }),
    });
    pods.push(pod);
    return pod;
  };
  const killIn = async (dir: string): Promise<number> => {
    const hog = startHog(dir);
    expect(await hog.exited).toBe('SIGKILL');
    return hog.pid;
  };
  /** The first heartbeat point matching `predicate`, from any receiver this test started. */
  const heartbeat = async (predicate: (p: ReceivedDataPoint) => boolean): Promise<ReceivedDataPoint | undefined> => {
    const deadline = Date.now() + 15_000;
    let found: ReceivedDataPoint | undefined;
    while ((found = collector.dataPoints(Metric.receiverUp).find(predicate)) === undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return found;
  };
  const recordsFor = (path: string) => (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === path;

  it('runs as the manifest says, pins in the host\'s bpffs, is ready, and delivers a real kill from the BPF source', async () => {
    const bpfRoot = statSync(bpffs);
    expect((bpfRoot.mode & 0o777).toString(8)).toBe('700'); // as systemd mounts it
    const pod = await startPod();
    const started = await pod.receiver.waitForLine(/"source: bpf, \S+ on Linux [^"]*, pinned at \/run\/oomkill-receiver\/pins"/, 60_000);
    expect(JSON.parse(started)).toMatchObject({ level: 'info' }); // not degraded
    const up = await heartbeat((p) => p.attributes[Attr.source] === 'bpf');
    expect(up?.attributes).toMatchObject({ [Sem.k8sNodeName]: NODE_NAME, [Attr.degraded]: false, [Attr.degradedReason]: '' });

    // The identity: the manifest's user and bounding set, no capability in the Node process.
    const status = readFileSync(`/proc/${pod.receiver.child.pid}/status`, 'utf8');
    expect(status).toMatch(/^Uid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(status).toMatch(/^Gid:\s+65532\s+65532\s+65532\s+65532$/m);
    expect(status).toMatch(/^CapEff:\s+0{16}$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+0$/m); // file capabilities need it off
    const bounding = BigInt(`0x${/^CapBnd:\s+(\w+)$/m.exec(status)?.[1]}`);
    expect(bounding & ~((1n << 39n) | (1n << 38n) | (1n << 24n))).toBe(0n); // BPF, PERFMON, SYS_RESOURCE at most
    expect(bounding & ((1n << 39n) | (1n << 38n))).toBe((1n << 39n) | (1n << 38n));

    // The pins, seen from the host: in the manifest's host path, owned by the receiver's user.
    for (const name of ['link', 'events', 'bss']) expect(statSync(join(bpffs, 'oomkill', name)).uid, name).toBe(65532);
    const health = /^127\.0\.0\.1:(\d+)$/.exec(pod.identity.receiver.env.OOMKILL_HEALTH_ADDR ?? '')?.[1];
    expect((await fetch(`http://127.0.0.1:${health}/readyz`)).status).toBe(200);

    const cgroup = await scratch({ limitMiB: 48 });
    const pid = await killIn(cgroup.dir);
    const [record] = await collector.waitForLogRecords(1, 15_000, recordsFor(cgroup.path));
    expect(record?.attributes).toMatchObject({ [Attr.source]: 'bpf', [Sem.processPid]: pid });
    expect(record?.resource).toMatchObject({ [Sem.k8sNodeName]: NODE_NAME });
    expect(await pod.receiver.stop()).toBe(0);
  }, 120_000);

  it('resumes from the pins after a restart: the kill made while no receiver ran arrives', async () => {
    const first = await startPod();
    await first.receiver.waitForLine(/"source: bpf, .*pinned at /, 60_000);
    expect(await first.receiver.stop()).toBe(0);

    const cgroup = await scratch({ limitMiB: 48 });
    const pid = await killIn(cgroup.dir);
    expect(collector.logRecords().filter(recordsFor(cgroup.path))).toEqual([]);

    const second = await startPod();
    await second.receiver.waitForLine(/"loader: resumed \S+ pinned at \/run\/oomkill-receiver\/pins"/, 60_000);
    const [record] = await collector.waitForLogRecords(1, 15_000, recordsFor(cgroup.path));
    expect(record?.attributes).toMatchObject({ [Attr.source]: 'bpf', [Sem.processPid]: pid });
    expect(await second.receiver.stop()).toBe(0);
  }, 120_000);

  it('with the pin directory under /sys/fs/bpf in the container, as before, runs unpinned and says why', async () => {
    execFileSync(LOADER_PATH, ['--pin-dir', join(bpffs, 'oomkill'), '--unpin'], { stdio: 'ignore' }); // the last test's
    const pod = await startPod(BEFORE_THE_FIX);
    const line = await pod.receiver.waitForLine(/"loader: unpinned: /, 60_000);
    expect(line).toContain('cannot pin in /sys/fs/bpf/oomkill (Permission denied): uid 65532 cannot search /sys/fs/bpf (mode 1700, owner 0:0)');
    // Loud: a warning with what is lost, why and the fix, and the heartbeat says `unpinned`.
    const warning = JSON.parse(await pod.receiver.waitForLine(/"source: bpf, /)) as { level: string; msg: string; degraded: string[] };
    expect(warning).toMatchObject({ level: 'warn', degraded: ['unpinned'] });
    expect(warning.msg).toMatch(/degraded: unpinned: kills made while no receiver runs .*uid 65532 cannot search \/sys\/fs\/bpf .*; fix: give this user a bpffs directory/);
    const up = await heartbeat((p) => p.attributes[Attr.degradedReason] === 'unpinned');
    expect(up?.attributes).toMatchObject({ [Attr.source]: 'bpf', [Attr.degraded]: true });
    expect(existsSync(join(bpffs, 'oomkill', 'link'))).toBe(false);
    // Still the BPF source, unpinned: kills arrive while it runs.
    const cgroup = await scratch({ limitMiB: 48 });
    const pid = await killIn(cgroup.dir);
    const [record] = await collector.waitForLogRecords(1, 15_000, recordsFor(cgroup.path));
    expect(record?.attributes).toMatchObject({ [Attr.source]: 'bpf', [Sem.processPid]: pid });
  }, 120_000);
});
