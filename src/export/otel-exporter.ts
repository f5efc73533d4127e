// Exports kills with the OpenTelemetry SDK: log records through a LoggerProvider per victim Resource,
// counters through one MeterProvider with the agent's Resource.
//
// Why a provider per victim: an OTLP log record's Resource says what the telemetry is *about*, and a kill
// is about the killed container, not about this agent. The SDK fixes the Resource per LoggerProvider, so
// each distinct victim Resource (agent identity + the container's attributes) gets its own provider. They
// all share one processor and exporter, so batching still spans victims; the cache is bounded and an
// evicted provider is simply dropped (shutting it down would shut the shared processor).
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import type { Counter } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter, LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { Attr, EVENT_NAME, INSTRUMENTATION_SCOPE, Metric } from '../attributes.ts';
import type { Attributes } from '../enrichment/enricher.ts';
import type { Logger } from '../log.ts';
import type { LostKills } from '../sources/source.ts';
import type { KillExporter } from './kill-exporter.ts';
import { killAttributes, killBody, killCounterAttributes } from './kill-record.ts';
import type { EnrichedKill } from './kill-record.ts';

export interface OtelExporterOptions {
  /** The agent's own identity: service.name, service.version, host.name, k8s.node.name. */
  agentResource: Resource;
  logExporter: LogRecordExporter;
  metricExporter: PushMetricExporter;
  /**
   * How the log records reach the exporter. Default: a batch processor with `logDelayMs` delay.
   * The delivery layer passes its own, which retries and spools.
   */
  logProcessor?: LogRecordProcessor;
  /** Batch delay for log records (default 5 ms: a kill must not wait the SDK's default second). */
  logDelayMs?: number;
  /** Periodic metric export interval (default 10 000 ms). */
  metricIntervalMs?: number;
  /** After a kill, counters are exported this soon rather than at the next interval (default 100 ms). */
  metricFlushDelayMs?: number;
  /** Distinct victim Resources kept (default 256; more only costs a new provider per kill). */
  maxVictimResources?: number;
  logger: Logger;
}

export function createOtelExporter(options: OtelExporterOptions): KillExporter {
  const processor = options.logProcessor ?? new BatchLogRecordProcessor({
    exporter: options.logExporter,
    scheduledDelayMillis: options.logDelayMs ?? 5,
    maxExportBatchSize: 512,
    maxQueueSize: 4096,
  });
  const agentAttributes = options.agentResource.attributes;
  const maxResources = options.maxVictimResources ?? 256;
  const loggers = new Map<string, OtelLogger>();

  const reader = new PeriodicExportingMetricReader({
    exporter: options.metricExporter,
    exportIntervalMillis: options.metricIntervalMs ?? 10_000,
  });
  const meterProvider = new MeterProvider({ resource: options.agentResource, readers: [reader] });
  const meter = meterProvider.getMeter(INSTRUMENTATION_SCOPE);
  const kills: Counter = meter.createCounter(Metric.kills, { description: 'Processes killed by the kernel OOM killer', unit: '{kill}' });
  const missed: Counter = meter.createCounter(Metric.missedKills, {
    description: 'OOM kills the kernel reported that were never seen one by one (ring buffer full, receiver down)',
    unit: '{kill}',
  });
  const receiverEvents: Counter = meter.createCounter(Metric.receiverEvents, { description: 'The receiver\'s own events by stage and outcome', unit: '{event}' });

  let flushTimer: NodeJS.Timeout | undefined;
  const flushMetricsSoon = (): void => {
    flushTimer ??= setTimeout(() => {
      flushTimer = undefined;
      reader.forceFlush().catch((error: unknown) => options.logger.warn('metric export failed', { error }));
    }, options.metricFlushDelayMs ?? 100);
  };

  const loggerFor = (victim: Attributes): OtelLogger => {
    const key = JSON.stringify(Object.entries(victim).sort(([a], [b]) => (a < b ? -1 : 1)));
    let logger = loggers.get(key);
    if (logger) {
      loggers.delete(key); // least recently used goes first
    } else {
      const resource = resourceFromAttributes({ ...agentAttributes, ...victim });
      logger = new LoggerProvider({ resource, processors: [processor] }).getLogger(INSTRUMENTATION_SCOPE);
      if (loggers.size >= maxResources) loggers.delete(loggers.keys().next().value as string);
    }
    loggers.set(key, logger);
    return logger;
  };

  return {
    exportKill(enriched: EnrichedKill): void {
      try {
        loggerFor(enriched.enrichment.resource).emit({
          eventName: EVENT_NAME,
          timestamp: nanosToHrTime(enriched.kill.timeUnixNano),
          observedTimestamp: nanosToHrTime(enriched.kill.observedUnixNano),
          severityNumber: SeverityNumber.WARN,
          severityText: 'WARN',
          body: killBody(enriched),
          attributes: killAttributes(enriched),
        });
        kills.add(1, killCounterAttributes(enriched));
        flushMetricsSoon();
      } catch (error) {
        options.logger.error('could not export an OOM kill', { error, eventId: enriched.kill.eventId });
      }
    },
    recordLost(lost: LostKills, attributes: Attributes = {}): void {
      missed.add(lost.count, { ...attributes, [Attr.source]: lost.source, [Attr.missedReason]: lost.reason });
      flushMetricsSoon();
    },
    recordReceiverEvent(stage: string, outcome: string, count = 1): void {
      receiverEvents.add(count, { [Attr.stage]: stage, [Attr.outcome]: outcome });
    },
    async forceFlush(): Promise<void> {
      await Promise.allSettled([processor.forceFlush(), reader.forceFlush()]);
    },
    async shutdown(): Promise<void> {
      clearTimeout(flushTimer);
      await Promise.allSettled([processor.shutdown(), meterProvider.shutdown()]);
    },
  };
}

/** Exact: going through a JS number of nanoseconds would lose precision beyond 2^53. */
function nanosToHrTime(nanos: bigint): [number, number] {
  return [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)];
}
