// --source auto: start the best source that works on this node, and say why the better ones did not.
import type { Logger } from '../log.ts';
import type { Source, SourceHandlers, SourceInfo } from './source.ts';

export interface StartedSource {
  source: Source;
  info: SourceInfo;
  /** The better sources that could not run, each with its reason. */
  refused: string[];
}

/** Tries each source in order; the first whose start() resolves wins. Rejects listing every reason. */
export async function startFirstWorking(candidates: readonly Source[], handlers: SourceHandlers, logger: Logger): Promise<StartedSource> {
  const refused: string[] = [];
  for (const source of candidates) {
    try {
      const info = await source.start(handlers);
      const why = refused.length > 0 ? ` (not ${refused.join('; ')})` : '';
      logger.info(`source: ${info.name}, ${info.detail}${why}`, { source: info.name, refused });
      return { source, info, refused };
    } catch (error) {
      // The message already names the source ("bpf: no BTF at ...").
      refused.push((error as Error).message);
      await source.stop().catch(() => {});
    }
  }
  throw new Error(`no OOM kill source can run on this node: ${refused.join('; ')}`);
}
