// The one path every kill takes, whatever its source: cgroup path -> identity -> enrichment -> export.
// It is the source's handlers; it never throws back into a source.
import { parseCgroupPath } from './enrichment/cgroup-path.ts';
import type { Enricher } from './enrichment/enricher.ts';
import type { Enrichment, LostKills, OomKill, SourceName } from './event.ts';
import type { KillExporter } from './export/kill-exporter.ts';
import { locationAttributes } from './export/kill-record.ts';
import type { EnrichedKill } from './export/kill-record.ts';
import { Sem } from './attributes.ts';
import type { Logger } from './log.ts';
import type { SourceHandlers } from './sources/source.ts';

export interface Pipeline extends SourceHandlers {
  /** Kills the kernel counted in a cgroup (or the node) that no source delivered: the missed-kills counter. */
  recordMissed(count: number, cgroupPath: string | undefined, source: SourceName): void;
  /** Resolves when every kill handed in so far has been passed to the exporter. */
  drain(): Promise<void>;
}

export function createPipeline(deps: {
  enricher: Enricher;
  exporter: KillExporter;
  logger: Logger;
  /** Called after each kill is handed to the exporter (the demo waits on it). */
  onExported?: (kill: EnrichedKill) => void;
}): Pipeline {
  const { enricher, exporter, logger } = deps;
  const inFlight = new Set<Promise<void>>();

  const handle = async (kill: OomKill): Promise<void> => {
    const identity = parseCgroupPath(kill.cgroup.path);
    let enrichment;
    try {
      enrichment = await enricher.enrich(identity);
    } catch (error) {
      // Enrichers do not throw; if one does, the kill still leaves with what the cgroup path gave.
      logger.error('enrichment failed', { error, eventId: kill.eventId });
      enrichment = { resource: {}, partial: true };
    }
    if (enrichment.partial === true) exporter.recordReceiverEvent('enrichment', 'partial');
    const enriched: EnrichedKill = { kill, identity, enrichment };
    exporter.exportKill(enriched);
    exporter.recordReceiverEvent('export', 'emitted');
    deps.onExported?.(enriched);
  };

  return {
    onKill(kill: OomKill): void {
      exporter.recordReceiverEvent('source', 'received');
      const work = handle(kill).catch((error: unknown) => logger.error('could not handle an OOM kill', { error, eventId: kill.eventId }));
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    },
    onLost(lost: LostKills): void {
      logger.warn('OOM kills were lost before they could be read', { ...lost });
      exporter.recordLost(lost);
    },
    onProblem(problem: Error): void {
      logger.warn(problem.message, { cause: problem.cause });
      exporter.recordReceiverEvent('source', 'problem');
    },
    recordMissed(count: number, cgroupPath: string | undefined, source: SourceName): void {
      const work = (async () => {
        const identity = parseCgroupPath(cgroupPath);
        const enrichment: Enrichment = await enricher.enrich(identity).catch(() => ({ resource: {} }));
        // Counted where a kill there would have been (namespace, container, workload); the pod, which the
        // counter does not carry, is named here for the person who reads the warning.
        exporter.recordLost({ source, count, reason: 'reconciliation' }, locationAttributes(enrichment));
        if (cgroupPath !== undefined) {
          logger.warn('OOM kills in this cgroup were never seen one by one', {
            count, cgroupPath, podUid: identity.podUid, containerId: identity.containerId,
            pod: enrichment.resource[Sem.k8sPodName], namespace: enrichment.resource[Sem.k8sNamespaceName],
          });
        }
      })();
      inFlight.add(work);
      void work.finally(() => inFlight.delete(work));
    },
    async drain(): Promise<void> {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
  };
}
