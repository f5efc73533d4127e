// `oomkill-receiver demo`: shows the whole path on this machine. It creates a scratch memory cgroup at a
// Kubernetes-shaped path, starts a process there that allocates past the limit, waits until the kernel
// has killed it and its record has been exported, then removes the cgroup.
import type { Config } from '../config.ts';
import type { EnrichedKill } from '../export/kill-record.ts';
import type { Logger } from '../log.ts';
import type { SourceInfo } from '../sources/source.ts';
import { createScratchCgroup, startHog } from './scratch-cgroup.ts';

const RECORD_TIMEOUT_MS = 15_000;

/** Resolves with an exit code: 0 when the kill was seen and exported. */
export async function runDemo(
  config: Readonly<Config>,
  source: SourceInfo,
  watch: (onExported: (kill: EnrichedKill) => void) => void,
  logger: Logger,
): Promise<number> {
  const cgroup = await createScratchCgroup({ parentName: `oomkill-demo-${process.pid}`, limitMiB: config.demo.limitMiB });
  try {
    logger.info(`demo: created ${cgroup.path} with a ${config.demo.limitMiB} MiB limit; starting a process that allocates past it`);
    let victimPid = 0;
    const exported = new Promise<EnrichedKill>((resolve) => {
      watch((kill) => {
        const sameProcess = kill.kill.victim.pid !== undefined ? kill.kill.victim.pid === victimPid : kill.kill.cgroup.path === cgroup.path;
        if (sameProcess) resolve(kill);
      });
    });
    const hog = startHog(cgroup.dir);
    victimPid = hog.pid;
    const signal = await hog.exited;
    if (signal !== 'SIGKILL') throw new Error(`demo: the allocating process ended with ${signal ?? 'an exit code'}, not an OOM kill`);
    const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), RECORD_TIMEOUT_MS).unref());
    const kill = await Promise.race([exported, timeout]);
    if (kill === undefined) {
      logger.error(`demo: pid ${hog.pid} was OOM-killed (the kernel counted ${cgroup.oomKills()}), but no record arrived from the ${source.name} source within ${RECORD_TIMEOUT_MS} ms`);
      return 1;
    }
    logger.info(`demo: pid ${hog.pid} was OOM-killed and exported (source ${source.name}: ${source.detail}); pod ${kill.identity.podUid ?? '?'} container ${kill.identity.containerId ?? '?'}`);
    return 0;
  } finally {
    await cgroup.remove();
    logger.info(`demo: removed ${cgroup.path}`);
  }
}
