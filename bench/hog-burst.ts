// Makes OOM kills in a cgroup from a process of its own: `kills` more kills, `parallel` hogs at a time.
// A separate process, so that spawning hundreds of hogs does not hold up the benchmark's event loop, where
// the stand-in collector stamps each record's arrival (a real collector is a process of its own too).
import { oomKillCount, startHog } from '../src/demo/scratch-cgroup.ts';
import type { CgroupVersion } from '../src/demo/scratch-cgroup.ts';

const [dir, version, kills, parallel] = process.argv.slice(2) as [string, CgroupVersion, string, string];
const before = oomKillCount(dir, version);
while (oomKillCount(dir, version) - before < Number(kills)) {
  await Promise.all(Array.from({ length: Number(parallel) }, () => startHog(dir).exited));
}
