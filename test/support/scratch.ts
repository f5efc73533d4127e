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

/**
 * For a scenario built in beforeAll (several pods one after another): a cgroup under
 * `oomkill-test-<name>-<pid>`, handed to `use`, removed when it is done whatever happened.
 */
export async function withScratchCgroup<T>(name: string, options: Omit<ScratchCgroupOptions, 'parentName'>, use: (cgroup: ScratchCgroup) => Promise<T>): Promise<T> {
  const cgroup = await createScratchCgroup({ parentName: `oomkill-test-${name}-${process.pid}`, ...options });
  try {
    return await use(cgroup);
  } finally {
    await cgroup.remove();
  }
}
