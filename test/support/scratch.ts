// Scratch cgroups for kernel tests, each removed after its test however the test ended.
import { afterEach } from 'vitest';
import { createScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup, ScratchCgroupOptions } from '../../src/demo/scratch-cgroup.ts';

/** Call inside a describe: returns a maker of cgroups under `oomkill-test-<name>-<pid>`, cleaned after each test. */
export function scratchCgroups(name: string): (options: Omit<ScratchCgroupOptions, 'parentName'>) => Promise<ScratchCgroup> {
  const made: ScratchCgroup[] = [];
  afterEach(async () => {
    for (const cgroup of made.splice(0)) await cgroup.remove();
  });
  return async (options) => {
    const cgroup = await createScratchCgroup({ parentName: `oomkill-test-${name}-${process.pid}`, ...options });
    made.push(cgroup);
    return cgroup;
  };
}
