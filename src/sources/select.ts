// --source auto: start the best source that works on this node, and say why the better ones did not.
// A node that runs less than the best is degraded, and that is never silent: one warning with what is
// lost, why and the fix, and the same reasons on the heartbeat metric (main.ts passes them on).
import type { SourceName } from '../event.ts';
import type { Logger } from '../log.ts';
import type { Degradation, Source, SourceHandlers, SourceInfo } from './source.ts';

export interface StartedSource {
  source: Source;
  info: SourceInfo;
  /** The better sources that could not run, each with its reason. */
  refused: string[];
  /** Everything this node gives up: the fallback (when a better source was refused) and the source's own. */
  degraded: Degradation[];
}

/** What a fallback source gives up compared with the bpf source, for the warning. */
const LOST_WITHOUT_BPF: Record<Exclude<SourceName, 'bpf'>, string> = {
  kmsg: 'kills are read from the kernel log: no main-process flag (whether Kubernetes reports the kill as OOMKilled), '
    + 'and in a burst the kernel rate-limits its reports (10 per 5 s), so later kills come without a cgroup path, pod or container',
  cgroup: 'kills are only counted per cgroup: no process (no pid, name, memory figures or main-process flag), '
    + 'node-wide OOMs are not told apart from container limits, and on cgroup v1 kills arrive a poll interval late',
};

/** Tries each source in order; the first whose start() resolves wins. Rejects listing every reason. */
export async function startFirstWorking(candidates: readonly Source[], handlers: SourceHandlers, logger: Logger): Promise<StartedSource> {
  const refused: string[] = [];
  for (const source of candidates) {
    try {
      const info = await source.start(handlers);
      const degraded = degradationsOf(info, refused);
      const why = refused.length > 0 ? ` (not ${refused.join('; ')})` : '';
      const line = `source: ${info.name}, ${info.detail}${why}`;
      if (degraded.length === 0) logger.info(line, { source: info.name, refused });
      else warnDegraded(logger, line, info, degraded, refused);
      return { source, info, refused, degraded };
    } catch (error) {
      // The message already names the source ("bpf: no BTF at ...").
      refused.push((error as Error).message);
      await source.stop().catch(() => {});
    }
  }
  throw new Error(`no OOM kill source can run on this node: ${refused.join('; ')}`);
}

/** A fallback when better sources were refused, then what the running source reports about itself. */
export function degradationsOf(info: SourceInfo, refused: readonly string[]): Degradation[] {
  const own = info.degraded ?? [];
  if (refused.length === 0 || info.name === 'bpf') return [...own];
  return [{
    reason: 'fallback-source',
    lost: LOST_WITHOUT_BPF[info.name],
    fix: 'make the better sources work where the reasons above point (deploy/README.md lists the privileges and host paths each needs), '
      + `or run --source ${info.name} to choose this source on purpose`,
  }, ...own];
}

/** The one warning of a degraded node: what runs, what is lost, why, and how to get it back. */
export function warnDegraded(logger: Logger, line: string, info: SourceInfo, degraded: readonly Degradation[], refused: readonly string[] = []): void {
  const details = degraded.map((d) => `${d.reason}: ${d.lost}; fix: ${d.fix}`).join(' | ');
  // The line starts as the healthy one does ("source: bpf, ..."), so whatever looks for it finds it either way.
  logger.warn(`${line}; degraded: ${details}`, {
    source: info.name,
    ...(info.hook !== undefined && { hook: info.hook }),
    degraded: degraded.map((d) => d.reason),
    refused,
  });
}
