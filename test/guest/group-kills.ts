// Group kills on a real kernel, for each hook plan the kernel allows: run inside a QEMU guest of a Debian
// kernel with cgroup v2 (memory.oom.group exists only there; this machine's memory controller is v1).
// The bpf source and the reconciler run as main.ts wires them (onRecounted included); each check makes
// real OOM kills in a scratch cgroup of its own.
//
// Usage, as root on a cgroup v2 node (in the kernel tier's guest: scripts/kernel-tier/boot.sh):
//   node test/guest/group-kills.ts [--members=N] [PLAN...]
//   PLAN: a --hook value (default: each plan of the loader's, below); N: processes in the group (default 3;
//   a large group takes seconds to kill on a serial console, which the OOM's context must outlast).
// Per plan it prints `group-kills <kernel> <plan> PASS|FAIL <detail>`, and exits 1 if any failed.
//
// Each plan: a 3-process memory.oom.group kill must give 3 records (the chosen victim once), one OOM id
// (the chosen victim's event id), and reconciliation 0 missed where the hooks see the kernel's second kill
// of the chosen victim; where they cannot, the source must say so as a degradation and reconciliation
// report what the kernel counted beyond the records (1 for mark_victim, 3 for oom_kill_process alone).
// Then one kill made while the loader is stopped must be reported missed, exactly once, in its cgroup.
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchCgroup, startHog, startResident } from '../../src/demo/scratch-cgroup.ts';
import type { OomKill } from '../../src/event.ts';
import { silentLogger } from '../../src/log.ts';
import { createBpfSource } from '../../src/sources/bpf-source.ts';
import { CgroupCounters } from '../../src/sources/cgroup-counters.ts';
import { Reconciler } from '../../src/sources/reconciler.ts';
import type { SourceInfo } from '../../src/sources/source.ts';

const LOADER = fileURLToPath(new URL('../../bpf/.output/oomkill-loader', import.meta.url));
const kernel = (await import('node:os')).release();
const args = process.argv.slice(2);
const size = Number(/^--members=(\d+)$/.exec(args.find((a) => a.startsWith('--members=')) ?? '--members=3')?.[1]);
const planArgs = args.filter((a) => !a.startsWith('--members='));
const plans = planArgs.length > 0
  ? planArgs
  : ['auto', 'fentry', 'kprobe', 'tp_btf,fentry/oom_kill_process', 'tp_btf', 'raw_tp', 'kprobe/oom_kill_process'];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(predicate: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function runPlan(plan: string): Promise<string> {
  const parentName = `oomkill-guest-${plan.replace(/\W/g, '-')}`;
  const group = await createScratchCgroup({ parentName, limitMiB: 64 + size });
  writeFileSync(join(group.dir, 'memory.oom.group'), '1');
  // A sibling of the group's cgroup in the same pod, for the kill nobody sees.
  const lostDir = join(group.podDir, 'lost');
  const kills: OomKill[] = [];
  const recounted: OomKill[] = [];
  const missed: Array<{ count: number; path: string | undefined }> = [];
  const ours = (k: OomKill): boolean => k.cgroup.path?.startsWith(`/${parentName}/`) === true;
  const reconciler = new Reconciler({
    counters: new CgroupCounters({ match: (path) => path.startsWith(`/${parentName}/`) }),
    onMissed: (count, path) => missed.push({ count, path }),
    logger: silentLogger,
  });
  const handlers = {
    onKill: (k: OomKill) => ours(k) && (reconciler.noteSeen(k), kills.push(k)),
    onRecounted: (k: OomKill) => ours(k) && (reconciler.noteSeen(k), recounted.push(k)),
    onLost: () => {},
    onProblem: (e: Error) => console.error(`problem: ${e.message}`),
  };
  let source = createBpfSource({ loaderPath: LOADER, hooks: plan, startTimeoutMs: 120_000 }, silentLogger);
  try {
    const info: SourceInfo = await source.start(handlers);
    const residents = Array.from({ length: size - 1 }, () => startResident(group.dir));
    await sleep(300 + 20 * size);
    const hog = startHog(group.dir);
    const members = [hog, ...residents];
    for (const m of members) await m.exited;
    const reasons = info.degraded?.map((d) => d.reason) ?? [];
    const victimOnly = reasons.includes('victim-only-hook');
    const recountSeen = !victimOnly && !reasons.includes('group-recount-unseen');
    const wantRecords = victimOnly ? 1 : size;
    await waitFor(() => kills.length >= wantRecords, `${wantRecords} records (got ${kills.length})`, 20_000 + 200 * size);
    await sleep(500); // a fourth record, or the second kill's, would be here by now
    const kernelCount = group.oomKills();
    reconciler.check();
    reconciler.check();
    const groupMissed = missed.reduce((n, m) => n + m.count, 0);

    const problems: string[] = [];
    const pids = kills.map((k) => k.victim.pid).sort();
    const want = members.map((m) => m.pid).sort();
    const chosen = kills[0];
    if (victimOnly ? !(kills.length === 1 && want.includes(chosen?.victim.pid ?? 0)) : JSON.stringify(pids) !== JSON.stringify(want)) {
      problems.push(`records for pids ${pids.join(',')} (want ${victimOnly ? 'one of ' : ''}${want.join(',')})`);
    }
    if (new Set(kills.map((k) => k.oomId)).size !== 1) problems.push(`${new Set(kills.map((k) => k.oomId)).size} OOM ids (want 1)`);
    if (chosen?.oomId !== chosen?.eventId) problems.push('the OOM id is not its first victim\'s event id');
    if (new Set(kills.map((k) => k.eventId)).size !== kills.length) problems.push('two records share an event id');
    if (!kills.every((k) => k.victim.executableName?.text === (k.victim.pid === hog.pid ? 'tail' : 'sleep'))) {
      problems.push(`executable names ${kills.map((k) => k.victim.executableName?.text).join(',')}`);
    }
    if (recountSeen && recounted.length !== 1) problems.push(`${recounted.length} second kills of the chosen victim seen (want 1)`);
    const wantMissed = kernelCount - kills.length - recounted.length;
    if (wantMissed !== (victimOnly ? size : recountSeen ? 0 : 1)) problems.push(`memory.events oom_kill ${kernelCount} for ${kills.length} records and ${recounted.length} second kills`);
    if (groupMissed !== wantMissed) problems.push(`reconciliation reports ${groupMissed} missed for the group kill (want ${wantMissed}; memory.events oom_kill ${kernelCount})`);

    // A kill nobody sees: the loader is stopped (unpinned, so its program is detached) while it happens.
    await source.stop();
    mkdirSync(lostDir);
    writeFileSync(join(lostDir, 'memory.max'), String(48 * 1024 * 1024));
    const lost = startHog(lostDir);
    await lost.exited;
    source = createBpfSource({ loaderPath: LOADER, hooks: plan, startTimeoutMs: 120_000 }, silentLogger);
    await source.start(handlers);
    const before = missed.length;
    reconciler.check();
    reconciler.check();
    const lostReports = missed.slice(before);
    const lostPath = lostDir.slice('/sys/fs/cgroup'.length);
    if (JSON.stringify(lostReports) !== JSON.stringify([{ count: 1, path: lostPath }])) {
      problems.push(`the kill made while stopped was reported missed as ${JSON.stringify(lostReports)} (want 1 in ${lostPath})`);
    }

    const detail = `${info.hook}${reasons.length > 0 ? ` (degraded: ${reasons.join(',')})` : ''}: `
      + `${kills.length} records, ${new Set(kills.map((k) => k.oomId)).size} OOM id, ${recounted.length} second kill, `
      + `memory.events oom_kill ${kernelCount}, ${groupMissed} missed; a kill while stopped: ${lostReports.reduce((n, m) => n + m.count, 0)} missed`;
    if (problems.length > 0) throw new Error(`${detail}; ${problems.join('; ')}`);
    return detail;
  } finally {
    await source.stop();
    try {
      rmdirSync(lostDir);
    } catch {
      // not made, or already gone
    }
    await group.remove();
  }
}

let failed = 0;
for (const plan of plans) {
  try {
    console.log(`group-kills ${kernel} ${plan} PASS ${await runPlan(plan)}`);
  } catch (error) {
    failed++;
    console.log(`group-kills ${kernel} ${plan} FAIL ${(error as Error).message}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
