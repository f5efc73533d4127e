// Reconciliation against the kernel's own counters, with real OOM kills that no source reported.
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
    check(first); // reads the node's count: ahead of what was seen
    check(first); // so this one walks the cgroups; what it read is compared at the next check
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
    check(second);
    expect(missed).toEqual([[5, cgroup.path], [2, cgroup.path], [1, cgroup.path]]);
    expect(cgroup.oomKills()).toBe(14);
  });
});

// On a fixture tree shaped like cgroup v2: what the kernel guarantees (every kill counts in /proc/vmstat
// as well as in its cgroup) lets a check skip the walk over every cgroup while the node's count is still.
it('walks the cgroups only when the node counted kills nobody saw', () => {
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

  setNode(2); // the node moved, and nobody saw its kills: the check after it walks, the next one reports
  reconciler.check();
  reconciler.check();
  expect(missed).toEqual([]);
  reconciler.check();
  expect(missed).toEqual([[2, '/kubepods.slice/cri-containerd-abc.scope']]);

  // Kills seen as they happen move the node's count in step: no walk, nothing reported.
  const seen: OomKill = { source: 'bpf', eventId: 'y', timeUnixNano: 0n, observedUnixNano: 0n, constraint: 'memcg', constraintInferred: true, victim: {}, memory: {}, cgroup: { path: '/kubepods.slice/cri-containerd-abc.scope', pathTruncated: false } };
  setCgroup(3);
  setNode(3);
  reconciler.noteSeen(seen);
  setCgroup(9); // (what a walk would read; none is made)
  for (let i = 0; i < 3; i++) reconciler.check();
  expect(missed).toHaveLength(1);
});

// The state is a journal: a line per kill, one write each, so a SIGKILL never splits one; a torn line (a
// crash of the node) is skipped, the file is rewritten once it grows, and a state file of the release
// before the journal is read as it was.
it('keeps its accounting in a journal that survives torn lines, compaction and the older file', () => {
  const root = mkdtempSync(join(tmpdir(), 'reconcile-journal-'));
  const container = join(root, 'kubepods.slice', 'cri-containerd-abc.scope');
  mkdirSync(container, { recursive: true });
  writeFileSync(join(container, 'memory.events.local'), 'oom 0\noom_kill 0\n');
  const vmstatPath = join(root, 'vmstat');
  writeFileSync(vmstatPath, 'oom_kill 0\n');
  const statePath = join(root, 'state.json');
  const counters = new CgroupCounters({ root, mountRoot: root, version: 'v2', match: () => true });
  const make = (): Reconciler => new Reconciler({ counters, vmstatPath, statePath, onMissed: () => {}, logger: silentLogger });
  const stateOf = (): unknown => (JSON.parse(readFileSync(statePath, 'utf8').trim().split('\n')[0] as string) as { state: unknown }).state;
  const kill = (path: string): OomKill => ({ source: 'bpf', eventId: 'z', timeUnixNano: 0n, observedUnixNano: 0n, constraint: 'memcg', constraintInferred: true, victim: {}, memory: {}, cgroup: { path, pathTruncated: false } });

  const first = make();
  for (let i = 0; i < 3; i++) first.noteSeen(kill('/kubepods.slice/cri-containerd-abc.scope'));
  first.noteLost(2);
  appendFileSync(statePath, '{"seen":"/kubepods.sl'); // torn by a crash of the node
  make(); // reads the journal, then rewrites it as one state
  expect(stateOf()).toMatchObject({ node: 5, cgroups: { '/kubepods.slice/cri-containerd-abc.scope': 3 }, unattributed: 2 });

  const second = make();
  for (let i = 0; i < 4000; i++) second.noteSeen(kill('/elsewhere'));
  expect(readFileSync(statePath, 'utf8').split('\n').length).toBeGreaterThan(4000);
  second.check(); // a check rewrites a journal that has grown
  expect(readFileSync(statePath, 'utf8').trim().split('\n')).toHaveLength(1);
  expect(stateOf()).toMatchObject({ node: 4005 });

  const { bootId } = stateOf() as { bootId: string };
  writeFileSync(statePath, JSON.stringify({ bootId, node: 7, cgroups: {} })); // the older release's file
  make();
  expect(stateOf()).toMatchObject({ node: 7, unattributed: 0 });
});

// A kill is saved as seen only once it is kept (spooled): one read by a receiver SIGKILLed before that is
// neither delivered nor spooled, so the next receiver must count it missed, and a kept one must not be.
it('saves a kill as seen only once it is kept, and accounts for it meanwhile', () => {
  const root = mkdtempSync(join(tmpdir(), 'reconcile-kept-'));
  const path = '/kubepods.slice/cri-containerd-abc.scope';
  mkdirSync(join(root, path), { recursive: true });
  const setKernel = (n: number): void => {
    writeFileSync(join(root, path, 'memory.events.local'), `oom 0\noom_kill ${n}\n`);
    writeFileSync(join(root, 'vmstat'), `oom_kill ${n}\n`);
  };
  setKernel(0);
  const counters = new CgroupCounters({ root, mountRoot: root, version: 'v2', match: () => true });
  const missed: Array<[number, string | undefined]> = [];
  const make = (): Reconciler => new Reconciler({ counters, vmstatPath: join(root, 'vmstat'), statePath: join(root, 'state.json'), onMissed: (n, p) => missed.push([n, p]), logger: silentLogger });
  const kill: OomKill = { source: 'bpf', eventId: 'k', timeUnixNano: 0n, observedUnixNano: 0n, constraint: 'memcg', constraintInferred: true, victim: {}, memory: {}, cgroup: { path, pathTruncated: false } };

  const first = make();
  setKernel(2);
  first.noteRead(kill);
  first.noteKept(kill);
  first.noteRead(kill); // read, still waiting (for its pod, say) when the receiver is SIGKILLed
  for (let i = 0; i < 3; i++) first.check();
  expect(missed).toEqual([]); // in flight is accounted for

  const second = make(); // after the SIGKILL: only the kept kill was saved
  for (let i = 0; i < 3; i++) second.check();
  expect(missed).toEqual([[1, path]]);
});
