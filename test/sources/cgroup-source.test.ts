// The cgroup counter source: on a fixture tree shaped like cgroup v2, and for real on this machine's
// cgroup v1 memory controller.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import type { OomKill } from '../../src/event.ts';
import { silentLogger } from '../../src/log.ts';
import { createCgroupSource } from '../../src/sources/cgroup-source.ts';
import type { Source } from '../../src/sources/source.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';

const collect = (into: OomKill[]) => ({ onKill: (k: OomKill) => into.push(k), onLost: () => {}, onProblem: () => {} });
let source: Source | undefined;
afterEach(async () => {
  await source?.stop();
  source = undefined;
});

describe('cgroup source on a cgroup v2 tree', () => {
  const events = (oomKill: number): string => `low 0\nhigh 0\nmax 12\noom 3\noom_kill ${oomKill}\noom_group_kill 0\n`;
  const tree = (): { root: string; container: (pod: string, c: string, kills: number, local?: boolean) => string } => {
    const root = mkdtempSync(join(tmpdir(), 'cgroup-v2-'));
    writeFileSync(join(root, 'cgroup.controllers'), 'cpu memory pids\n');
    return {
      root,
      container(pod, c, kills, local = true) {
        const dir = join(root, 'kubepods.slice', pod, c);
        mkdirSync(dir, { recursive: true });
        // memory.events is hierarchical: the pod level would count its containers' kills again.
        writeFileSync(join(root, 'kubepods.slice', pod, 'memory.events'), events(99));
        writeFileSync(join(dir, 'memory.events'), events(kills));
        if (local) writeFileSync(join(dir, 'memory.events.local'), events(kills));
        return dir;
      },
    };
  };

  it('counts each new kill once per container, from watched memory.events.local files', async () => {
    const t = tree();
    const a = t.container('kubepods-pod1.slice', 'cri-containerd-a.scope', 2);
    const kills: OomKill[] = [];
    source = createCgroupSource({ root: t.root, mountRoot: t.root, version: 'v2', pollIntervalMs: 100 }, silentLogger);
    const info = await source.start(collect(kills));
    expect(info.detail).toMatch(/cgroup v2, polled every 100 ms and watched/);
    writeFileSync(join(a, 'memory.events.local'), events(5));
    await expect.poll(() => kills.length).toBe(3); // 2 before start are not news
    expect(kills.map((k) => k.eventId.split(':').slice(-1)[0])).toEqual(['3', '4', '5']);
    expect(kills[0]).toMatchObject({ source: 'cgroup', constraint: 'memcg', constraintInferred: true, victim: {}, cgroup: { path: '/kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope', v2: true } });
    rmSync(t.root, { recursive: true });
  });

  it('follows containers that come and go, and uses leaves\' memory.events where .local is missing', async () => {
    const t = tree();
    t.container('kubepods-pod1.slice', 'cri-containerd-a.scope', 0, false);
    const kills: OomKill[] = [];
    source = createCgroupSource({ root: t.root, mountRoot: t.root, version: 'v2', pollIntervalMs: 50 }, silentLogger);
    await source.start(collect(kills));
    const b = t.container('kubepods-pod2.slice', 'cri-containerd-b.scope', 1, false);
    await expect.poll(() => kills.map((k) => k.cgroup.path)).toEqual(['/kubepods.slice/kubepods-pod2.slice/cri-containerd-b.scope']);
    rmSync(join(t.root, 'kubepods.slice', 'kubepods-pod1.slice'), { recursive: true });
    writeFileSync(join(b, 'memory.events'), events(2));
    await expect.poll(() => kills.length).toBe(2);
    await new Promise((r) => setTimeout(r, 200));
    expect(kills).toHaveLength(2); // the pod level's hierarchical 99 was never counted
    rmSync(t.root, { recursive: true });
  });

  it('refuses a root without a memory controller', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'no-cgroup-'));
    await expect(createCgroupSource({ root: empty, mountRoot: empty, version: 'v2' }, silentLogger).start(collect([]))).rejects.toThrow(/^cgroup: no cgroup v2 memory controller at /);
  });
});

describeKernel('cgroup source on this machine\'s memory controller', () => {
  let cgroup: ScratchCgroup | undefined;
  const scratch = scratchCgroups('cgroup-source');

  it('counts exactly the kernel\'s N real kills in a watched container cgroup', async () => {
    cgroup = await scratch({ limitMiB: 32 });
    const kills: OomKill[] = [];
    source = createCgroupSource({ root: cgroup.parentDir, pollIntervalMs: 100 }, silentLogger);
    await source.start(collect(kills));
    for (let i = 0; i < 20; i++) await startHog(cgroup.dir).exited;
    await expect.poll(() => kills.length, { timeout: 5000 }).toBe(cgroup.oomKills());
    expect(cgroup.oomKills()).toBe(20);
    expect(new Set(kills.map((k) => k.cgroup.path))).toEqual(new Set([cgroup.path]));
    expect(new Set(kills.map((k) => k.eventId)).size).toBe(20);
  });
});
