// Keeps a source running: when it stops on its own (the loader died), it is started again with
// exponential backoff, and each restart is reported. A source that never started is not retried here:
// --source auto has already chosen it because it worked.
import type { Logger } from '../log.ts';
import type { Source, SourceHandlers, SourceInfo } from './source.ts';

export interface SupervisorOptions {
  /** First restart delay (default 500 ms), doubled per failed attempt up to maxBackoffMs (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  onRestart?(source: Source, attempt: number): void;
  /** A restart succeeded: what the source says about itself now (its hook or degradation may differ). */
  onRestarted?(info: SourceInfo): void;
  onRunningChange?(running: boolean, reason: string): void;
}

export function supervise(source: Source, options: SupervisorOptions, logger: Logger): Source {
  const minBackoff = options.minBackoffMs ?? 500;
  const maxBackoff = options.maxBackoffMs ?? 30_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const start = async (handlers: SourceHandlers): Promise<SourceInfo> => {
    const supervised: SourceHandlers = {
      ...handlers,
      onStopped(reason: Error): void {
        if (stopped) return;
        logger.warn(`${reason.message}; restarting`, { source: source.name });
        options.onRunningChange?.(false, reason.message);
        restart(handlers, 1);
      },
    };
    const restart = (h: SourceHandlers, attempt: number): void => {
      const delay = Math.min(maxBackoff, minBackoff * 2 ** (attempt - 1));
      timer = setTimeout(() => {
        if (stopped) return;
        options.onRestart?.(source, attempt);
        source.start(supervised).then(
          (info) => {
            logger.info(`source ${info.name} restarted: ${info.detail}`, { attempt });
            options.onRunningChange?.(true, 'restarted');
            options.onRestarted?.(info);
          },
          (error: unknown) => {
            logger.warn(`source ${source.name} could not restart: ${(error as Error).message}`, { attempt });
            restart(h, attempt + 1);
          },
        );
      }, delay);
    };
    const info = await source.start(supervised);
    options.onRunningChange?.(true, 'started');
    return info;
  };

  return {
    name: source.name,
    start,
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await source.stop();
    },
  };
}
