// A rolling update finds the pins of the release before it. Pins the new loader cannot resume (another
// layout, half-pinned leftovers of a loader killed while pinning, a release before pins carried their
// identity) are replaced, once, with a warning: the pod never crash-loops, a real kill then arrives, and the
// kills left in the old ring buffer are counted missed by reconciliation. Pins of the same build are resumed
// as before. The "release before" is bpf/.output/oomkill-loader-layout1: this loader, whose pins say layout
// 1 made them (make -C bpf .output/oomkill-loader-layout1); another build of the same layout is an identity
// forged with bpftool. Everything is pinned in a bpffs mounted for this file alone, never in the machine's
// /sys/fs/bpf.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { Attr, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { OomKill } from '../../src/event.ts';
import { createLogger } from '../../src/log.ts';
import { createBpfSource } from '../../src/sources/bpf-source.ts';
import type { Source } from '../../src/sources/source.ts';
import { pod, startFakeApiServer } from '../support/fake-apiserver.ts';
import type { FakeApiServer } from '../support/fake-apiserver.ts';
import { describeKernel, LOADER_PATH } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';
import { scratchCgroups } from '../support/scratch.ts';

const BPF_DIR = fileURLToPath(new URL('../../bpf', import.meta.url));
const LAYOUT1_LOADER = join(BPF_DIR, '.output', 'oomkill-loader-layout1');

/** The id of the link pinned at `path`, from bpftool; undefined when there is none. */
const pinnedLinkId = (path: string): number | undefined => {
  try {
    return (JSON.parse(execFileSync('bpftool', ['-j', 'link', 'show', 'pinned', path], { encoding: 'utf8' })) as { id: number }).id;
  } catch {
    return undefined;
  }
};
const linkExists = (id: number): boolean => {
  try {
    execFileSync('bpftool', ['link', 'show', 'id', String(id)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

describeKernel('pins left by another release', () => {
  const scratch = scratchCgroups('upgrade');
  let work = '';
  let bpffs = '';
  let pinDir = '';
  const receivers: ReceiverProcess[] = [];
  const sources: Source[] = [];
  let collector: OtlpReceiver | undefined;
  let api: FakeApiServer | undefined;

  beforeAll(() => {
    execFileSync('make', ['-C', BPF_DIR, '.output/oomkill-loader-layout1'], { stdio: 'ignore' });
    work = mkdtempSync(join(tmpdir(), 'oomkill-upgrade-'));
    bpffs = join(work, 'bpffs');
    mkdirSync(bpffs);
    execFileSync('mount', ['-t', 'bpf', 'bpf', bpffs]);
    pinDir = join(bpffs, 'oomkill');
  }, 120_000);
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.stop('SIGKILL');
    for (const s of sources.splice(0)) await s.stop();
    execFileSync(LOADER_PATH, ['--pin-dir', pinDir, '--unpin'], { stdio: 'ignore' });
    await collector?.stop();
    await api?.stop();
    collector = api = undefined;
  });
  afterAll(() => {
    if (bpffs !== '') execFileSync('umount', [bpffs]);
    rmSync(work, { recursive: true, force: true });
  });

  /** A bpf source on the real loader, pinned in the scratch bpffs, whose log lines are kept. */
  const startSource = async (kills: OomKill[], loaderPath = LOADER_PATH): Promise<{ source: Source; detail: string; log: { level: string; msg: string }[] }> => {
    const log: { level: string; msg: string }[] = [];
    const logger = createLogger({ write: (line) => void log.push(JSON.parse(line) as { level: string; msg: string }) });
    const source = createBpfSource({ loaderPath, pinDir }, logger);
    sources.push(source);
    const info = await source.start({ onKill: (k) => void kills.push(k), onLost: () => {}, onProblem: () => {} });
    return { source, detail: info.detail, log };
  };
  const killIn = async (dir: string): Promise<number> => {
    const hog = startHog(dir);
    expect(await hog.exited).toBe('SIGKILL');
    return hog.pid;
  };

  it('replaces the pins of another layout: one warning, the old program detached, a real kill arrives, the kills left in the old ring buffer are counted missed', async () => {
    collector = await startOtlpReceiver();
    api = await startFakeApiServer();
    const state = mkdtempSync(join(work, 'state-'));
    const kubeconfig = api.writeKubeconfig(mkdtempSync(join(work, 'kc-')));
    const args = ['run', '--source', 'bpf', '--spool-dir', state, '--reconcile-interval-ms', '500', '--kubeconfig', kubeconfig, '--pin-dir', pinDir];
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '500', NODE_NAME: 'node-upgrade' };
    const cgroup = await scratch({ limitMiB: 32 });
    api.upsert(pod({ name: 'upgraded', namespace: 'upgrade', uid: cgroup.podUid, nodeName: 'node-upgrade', containers: [{ name: 'hog', id: cgroup.containerId }] }));
    const inCgroup = (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup.path;

    // The release before: runs, pins (as layout 1), and is stopped for the update.
    const before = startReceiver([...args, '--loader', LAYOUT1_LOADER], env);
    receivers.push(before);
    await before.waitForLine(/"source: bpf, .*pinned at /);
    await before.waitForLine(/watching the pods of this node/);
    expect(await before.stop()).toBe(0); // SIGTERM right after the start: drained, not killed
    const oldLink = pinnedLinkId(join(pinDir, 'link'));
    expect(oldLink).toBeDefined();

    // Kills while no receiver runs: in the old program's ring buffer, which the new release cannot read.
    for (let i = 0; i < 3; i++) await killIn(cgroup.dir);
    expect(cgroup.oomKills()).toBe(3);

    const after = startReceiver(args, env);
    receivers.push(after);
    const warning = JSON.parse(await after.waitForLine(/"loader: replaced pins at /, 60_000)) as { level: string; msg: string };
    expect(warning).toMatchObject({ level: 'warn', msg: `loader: replaced pins at ${pinDir}: they are of layout 1, this loader reads layout 2; lost: the kills made between the previous receiver's exit and now, which were in their ring buffer: reconciliation counts them as missed; no fix needed` });
    const started = JSON.parse(await after.waitForLine(/"source: bpf, /)) as { level: string; msg: string };
    expect(started).toMatchObject({ level: 'info' }); // pinned afresh: not degraded
    expect(started.msg).toContain(`pinned at ${pinDir}`);
    expect(linkExists(oldLink as number)).toBe(false);
    expect(pinnedLinkId(join(pinDir, 'link'))).not.toBe(oldLink);

    const pid = await killIn(cgroup.dir);
    const [record] = await collector.waitForLogRecords(1, 15_000, inCgroup);
    expect(record?.attributes).toMatchObject({ [Attr.source]: 'bpf', [Sem.processPid]: pid });
    const missed = { [Attr.missedReason]: 'reconciliation', [Sem.k8sNamespaceName]: 'upgrade', [Sem.k8sContainerName]: 'hog' };
    expect(await collector.waitForCounter('oomkill.missed_kills', 3, 15_000, missed)).toBe(3);
    await new Promise((r) => setTimeout(r, 1500)); // two more reconciliation rounds and an export: nothing counted twice
    expect(collector.counterTotal('oomkill.missed_kills', missed)).toBe(3);
    expect(collector.logRecords().filter(inCgroup)).toHaveLength(1);
    expect(after.stderrLines().filter((l) => l.includes('replaced pins'))).toHaveLength(1);
    expect(await after.stop()).toBe(0);
  }, 180_000);

  it.each([
    ['a link without its ring buffer', ['events'], 'half-pinned, missing: events'],
    ['a ring buffer and counters without their link', ['link'], 'half-pinned, missing: link'],
    ['a whole set without an identity (a release before identities, or a loader killed while pinning)', ['identity'],
      'they carry no readable identity (missing: identity): left by a release before pins carried one, or by a loader killed while pinning'],
  ])('replaces %s, and a real kill arrives', async (_what, removed, why) => {
    const pinned = await startSource([]);
    await pinned.source.stop();
    const oldLink = pinnedLinkId(join(pinDir, 'link'));
    for (const name of removed) unlinkSync(join(pinDir, name));

    const kills: OomKill[] = [];
    const { detail, log } = await startSource(kills);
    expect(detail).toMatch(new RegExp(`, pinned at ${pinDir}$`));
    expect(log.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      `loader: replaced pins at ${pinDir}: ${why}; lost: the kills made between the previous receiver's exit and now, which were in their ring buffer: reconciliation counts them as missed; no fix needed`,
    ]);
    if (oldLink !== undefined && !removed.includes('link')) expect(linkExists(oldLink)).toBe(false);
    expect(readdirSync(pinDir).sort()).toEqual(['bss', 'events', 'identity', 'link']);

    const cgroup = await scratch({ limitMiB: 32 });
    const pid = await killIn(cgroup.dir);
    await expect.poll(() => kills.filter((k) => k.cgroup.path === cgroup.path).map((k) => k.victim.pid), { timeout: 10_000 }).toEqual([pid]);
  }, 60_000);

  it('replaces pins of the same layout from another build of the kernel program', async () => {
    const pinned = await startSource([]);
    await pinned.source.stop();
    // A forged identity: layout 2, as this loader's, and a build hash no object has.
    const identity = join(pinDir, 'identity');
    unlinkSync(identity);
    execFileSync('bpftool', ['map', 'create', identity, 'type', 'array', 'key', '4', 'value', '16', 'entries', '1', 'name', 'oomkill_pins']);
    execFileSync('bpftool', ['map', 'update', 'pinned', identity, 'key', '0', '0', '0', '0', 'value', '2', '0', '0', '0', '0', '0', '0', '0', ...'1 2 3 4 5 6 7 8'.split(' ')]);

    const { detail, log } = await startSource([]);
    expect(detail).toMatch(new RegExp(`, pinned at ${pinDir}$`));
    expect(log.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      expect.stringMatching(new RegExp(`^loader: replaced pins at ${pinDir}: they are of another program build \\(0807060504030201, this loader's is [0-9a-f]{16}\\); lost: `)),
    ]);
  }, 60_000);

  it('resumes pins of the same build: no warning, and the kill made while no loader ran arrives', async () => {
    const first = await startSource([]);
    await first.source.stop();
    const link = pinnedLinkId(join(pinDir, 'link'));
    const cgroup = await scratch({ limitMiB: 32 });
    const pid = await killIn(cgroup.dir);

    const kills: OomKill[] = [];
    const { log } = await startSource(kills);
    const hooks = first.detail.split(' ')[0]; // the attached hooks, as the first loader named them
    expect(log.map((l) => l.msg)).toContain(`loader: resumed ${hooks} pinned at ${pinDir}`);
    expect(log.filter((l) => l.level === 'warn')).toEqual([]);
    expect(pinnedLinkId(join(pinDir, 'link'))).toBe(link);
    await expect.poll(() => kills.filter((k) => k.cgroup.path === cgroup.path).map((k) => k.victim.pid), { timeout: 10_000 }).toEqual([pid]);
    expect(existsSync(join(pinDir, 'identity'))).toBe(true);
  }, 60_000);
});
