// Reconciliation against the kernel's own counters, with real OOM kills that no source reported.
import { mkdtempSync, writeFileSync } from 'node:fs';
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
    const vmstatPath = join(dir, 'vmstat');
    writeFileSync(vmstatPath, 'oom_kill 0\n');
    const missed: Array<[number, string | undefined]> = [];
    const make = () => new Reconciler({ counters, statePath, vmstatPath, onMissed: (n, p) => missed.push([n, p]), logger: silentLogger });
    const first = make();

    for (let i = 0; i < 5; i++) await startHog(cgroup.dir).exited; // nobody sees these
    const seen: OomKill = { source: 'bpf', eventId: 'x', timeUnixNano: 0n, observedUnixNano: 0n, constraint: 'memcg', constraintInferred: true, victim: {}, memory: {}, cgroup: { path: cgroup.path, pathTruncated: false } };
    for (let i = 0; i < 3; i++) {
      await startHog(cgroup.dir).exited;
      first.noteSeen(seen); // ...and these three a source did see
    }
    first.check(); // reads the kernel; what it read is compared at the next check
    expect(missed).toEqual([]);
    first.check();
    expect(missed).toEqual([[5, cgroup.path]]);
    first.check();
    expect(missed).toHaveLength(1);

    // A new receiver after a restart remembers what was accounted for: nothing is reported twice,
    // and kills made while it was down are.
    for (let i = 0; i < 2; i++) await startHog(cgroup.dir).exited;
    const second = make();
    second.check();
    second.check();
    expect(missed).toEqual([[5, cgroup.path], [2, cgroup.path]]);

    // Kills a source reported lost itself (a full ring buffer) are not reported again when found.
    for (let i = 0; i < 4; i++) await startHog(cgroup.dir).exited;
    second.noteLost(3);
    second.check();
    second.check();
    expect(missed).toEqual([[5, cgroup.path], [2, cgroup.path], [1, cgroup.path]]);
    expect(cgroup.oomKills()).toBe(14);
  });
});
