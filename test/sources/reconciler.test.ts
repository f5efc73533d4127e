// Reconciliation against the kernel's own counters, with real OOM kills that no source reported.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import type { OomKill } from '../../src/event.ts';
import { silentLogger } from '../../src/log.ts';
import { CgroupCounters } from '../../src/sources/cgroup-counters.ts';
import { Reconciler } from '../../src/sources/reconciler.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';

describeKernel('reconciler on this machine', () => {
  let cgroup: ScratchCgroup | undefined;
  const scratch = scratchCgroups('reconciler');

  it('reports, per cgroup, the kills the kernel counted and nobody saw, once, across a restart', async () => {
    cgroup = await scratch({ limitMiB: 32 });
    const counters = new CgroupCounters({ root: cgroup.parentDir, match: () => true });
    const dir = mkdtempSync(join(tmpdir(), 'reconcile-'));
    const statePath = join(dir, 'state.json');
    // The node's total is this test's own: other OOM kills on the machine must not change what it expects.
    // It moves with the test's cgroup, as the kernel's does with every cgroup (a check walks the cgroups
    // only when it has moved).
    const vmstatPath = join(dir, 'vmstat');
    const own = cgroup;
    const syncNode = (): void => writeFileSync(vmstatPath, `oom_kill ${own.oomKills()}\n`);
    syncNode();
    const missed: Array<[number, string | undefined]> = [];
    const make = () => new Reconciler({ counters, statePath, vmstatPath, onMissed: (n, p) => missed.push([n, p]), logger: silentLogger });
    const first = make();
    const check = (reconciler: Reconciler): void => (syncNode(), reconciler.check());

    for (let i = 0; i < 5; i++) await startHog(cgroup.dir).exited; // nobody sees these
    const seen: OomKill = { source: 'bpf', eventId: 'x', timeUnixNano: 0n, observedUnixNano: 0n, constraint: 'memcg', constraintInferred: true, victim: {}, memory: {}, cgroup: { path: cgroup.path, pathTruncated: false } };
    for (let i = 0; i < 3; i++) {
      await startHog(cgroup.dir).exited;
      first.noteSeen(seen); // ...and these three a source did see
    }
    check(first); // reads the kernel; what it read is compared at the next check
    expect(missed).toEqual([]);
    check(first);
    expect(missed).toEqual([[5, cgroup.path]]);
    check(first);
    expect(missed).toHaveLength(1);

    // A new receiver after a restart remembers what was accounted for: nothing is reported twice,
    // and kills made while it was down are.
    for (let i = 0; i < 2; i++) await startHog(cgroup.dir).exited;
    const second = make();
    check(second);
    check(second);
    expect(missed).toEqual([[5, cgroup.path], [2, cgroup.path]]);

    // Kills a source reported lost itself (a full ring buffer) are not reported again when found.
    for (let i = 0; i < 4; i++) await startHog(cgroup.dir).exited;
    second.noteLost(3);
    check(second);
    check(second);
    expect(missed).toEqual([[5, cgroup.path], [2, cgroup.path], [1, cgroup.path]]);
    expect(cgroup.oomKills()).toBe(14);
  });
});

// On a fixture tree shaped like cgroup v2: what the kernel guarantees (every kill counts in /proc/vmstat
// as well as in its cgroup) lets a check skip the walk over every cgroup while the node's count is still.
it('walks the cgroups only when the node has had an OOM kill since the last check', () => {
  const root = mkdtempSync(join(tmpdir(), 'reconcile-fixture-'));
  const container = join(root, 'kubepods.slice', 'cri-containerd-abc.scope');
  mkdirSync(container, { recursive: true });
  const setCgroup = (n: number): void => writeFileSync(join(container, 'memory.events.local'), `oom 0\noom_kill ${n}\n`);
  const vmstatPath = join(root, 'vmstat');
  const setNode = (n: number): void => writeFileSync(vmstatPath, `pgfault 1\noom_kill ${n}\n`);
  setCgroup(0);
  setNode(0);
  const counters = new CgroupCounters({ root, mountRoot: root, version: 'v2', match: () => true });
  const missed: Array<[number, string | undefined]> = [];
  const reconciler = new Reconciler({ counters, vmstatPath, onMissed: (n, p) => missed.push([n, p]), logger: silentLogger });

  setCgroup(2); // a change the kernel could not make alone: the node's count stands still
  reconciler.check();
  reconciler.check();
  expect(missed).toEqual([]);

  setNode(2); // the node moved: this check walks, and the next reports what it read
  reconciler.check();
  reconciler.check();
  expect(missed).toEqual([[2, '/kubepods.slice/cri-containerd-abc.scope']]);
});
