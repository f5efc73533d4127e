// Exports kills with the OpenTelemetry SDK: log records through a LoggerProvider per victim Resource,
// metrics (src/export/receiver-metrics.ts) through one MeterProvider with the agent's Resource, read by the
// OTLP push reader, a Prometheus endpoint, or both.
//
// Why a provider per victim: an OTLP log record's Resource says what the telemetry is *about*, and a kill
// is about the killed container, not about this agent. The SDK fixes the Resource per LoggerProvider, so
// each distinct victim Resource (agent identity + the container's attributes) gets its own provider. They
// all share one processor and exporter, so batching still spans victims; the cache is bounded and an
// evicted provider is simply dropped (shutting it down would shut the shared processor).
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { Logger as OtelLogger } from '@opentelemetry/api-logs';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import type { IMetricReader, InstrumentType, PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { EVENT_NAME, INSTRUMENTATION_SCOPE, Sem } from '../attributes.ts';
import type { Attributes, LostKills } from '../event.ts';
import type { Logger } from '../log.ts';
import { DeliveryProcessor } from './delivery-processor.ts';
import type { ExportFailures } from './export-failures.ts';
import type { KillExporter } from './kill-exporter.ts';
import { killAttributes, killBody, nanosToHrTime } from './kill-record.ts';
import { KillSpans, killContext } from './kill-spans.ts';
import type { EnrichedKill } from './kill-record.ts';
import { ReceiverMetrics, selectTemporality } from './receiver-metrics.ts';
import type { ReceiverState } from './receiver-metrics.ts';
import type { Spool } from './spool.ts';
import { VictimProviders } from './victim-providers.ts';

export interface OtelExporterOptions {
  /** The agent's own identity: service.name, service.version, host.name, k8s.node.name. */
  agentResource: Resource;
  /** Makes the log record exporter (again after each failed attempt: a fresh connection). */
  createLogExporter(): LogRecordExporter;
  /** Says at level warn, at a bounded rate, that log exports keep failing. */
  logFailures?: ExportFailures;
  /** Pushes the metrics (OTLP, or the console); undefined with OTEL_METRICS_EXPORTER=prometheus or none. */
  metricExporter?: PushMetricExporter;
  /** Readers that are pulled (the Prometheus endpoint), on the same MeterProvider. */
  pullReaders?: IMetricReader[];
  /** Series per metric at most (default DEFAULT_CARDINALITY_LIMIT); past it, the overflow series. */
  cardinalityLimit?: number;
  /** Makes the span exporter, when a span per kill is wanted (again after each failed attempt). */
  createSpanExporter?(): SpanExporter;
  /** Says at level warn, at a bounded rate, that span exports keep failing. */
  spanFailures?: ExportFailures;
  /** Where undelivered kills wait, across outages and restarts; without it they wait in memory only. */
  spool?: Spool;
  /** Periodic metric export interval (default 10 000 ms). */
  metricIntervalMs?: number;
  /** After a kill, counters are exported this soon rather than at the next interval (default 100 ms)... */
  metricFlushDelayMs?: number;
  /** ...but such early exports are at least this far apart (default 1000 ms). */
  metricFlushSpacingMs?: number;
  /** Distinct victim Resources kept (default 256; more only costs a new provider per kill). */
  maxVictimResources?: number;
  /** Records held in memory while the endpoint is down (default 2000); the rest wait in the spool. */
  maxQueue?: number;
  logger: Logger;
}

export function createOtelExporter(options: OtelExporterOptions): KillExporter {
  const { spool } = options;
  const reader = options.metricExporter && new PeriodicExportingMetricReader({
    exporter: withHeartbeatTemporality(options.metricExporter),
    exportIntervalMillis: options.metricIntervalMs ?? 10_000,
  });
  const meterProvider = new MeterProvider({
    resource: options.agentResource,
    readers: [...(reader ? [reader] : []), ...(options.pullReaders ?? [])],
    // One limit for every metric and every reader. The SDK applies it per collection; ReceiverMetrics holds
    // it for the lifetime of the cumulative series.
    ...(options.cardinalityLimit !== undefined && { views: [{ instrumentName: '*', aggregationCardinalityLimit: options.cardinalityLimit }] }),
  });
  const metrics = new ReceiverMetrics(meterProvider.getMeter(INSTRUMENTATION_SCOPE), {
    nodeName: String(options.agentResource.attributes[Sem.k8sNodeName] ?? ''),
    ...(options.cardinalityLimit !== undefined && { cardinalityLimit: options.cardinalityLimit }),
    logger: options.logger,
  });

  // A kill leaves the spool once each signal it goes out as (its record, its span) has settled it:
  // delivered, or refused as malformed.
  type Signal = 'logs' | 'traces';
  const signals = options.createSpanExporter ? 2 : 1;
  const settled = new Map<string, { by: Set<Signal>; rejected: boolean }>();
  const settle = (signal: Signal, ids: string[], rejected: boolean): void => {
    if (!spool) return;
    for (const id of ids) {
      const entry = settled.get(id) ?? { by: new Set<Signal>(), rejected: false };
      entry.by.add(signal);
      entry.rejected ||= rejected;
      if (entry.by.size < signals) {
        settled.set(id, entry);
        continue;
      }
      settled.delete(id);
      if (entry.rejected) spool.drop([id]);
      else spool.ack([id]);
    }
  };
  /** Kills in the spool that this signal has still to send and does not hold in memory. */
  const backlog = (signal: Signal, isQueued: (id: string) => boolean): EnrichedKill[] =>
    (spool?.pending() ?? []).filter((k) => !isQueued(k.kill.eventId) && settled.get(k.kill.eventId)?.by.has(signal) !== true);

  /** What a signal's delivery reports: settled kills leave the spool, every outcome is counted. */
  const outcomes = (signal: Signal, stage: string) => ({
    onDelivered: (ids: string[]): void => {
      settle(signal, ids, false);
      metrics.recordReceiverEvent(stage, 'delivered', ids.length);
    },
    onRejected: (ids: string[]): void => {
      settle(signal, ids, true);
      metrics.recordReceiverEvent(stage, 'rejected', ids.length);
    },
    onRetry: (count: number): void => metrics.recordReceiverEvent(stage, 'retried', count),
  });

  let emitRecord: (kill: EnrichedKill) => void;
  const processor = new DeliveryProcessor({
    createExporter: options.createLogExporter,
    ...(options.logFailures && { failures: options.logFailures }),
    ...(options.maxQueue !== undefined && { maxQueue: options.maxQueue }),
    logger: options.logger,
    ...outcomes('logs', 'export'),
    // Records that did not fit in memory wait in the spool: send them now that there is room.
    onBacklog: () => {
      for (const kill of backlog('logs', (id) => processor.isQueued(id))) emitRecord(kill);
    },
  });
  const spans: KillSpans | undefined = options.createSpanExporter && new KillSpans({
    createExporter: options.createSpanExporter,
    ...(options.spanFailures && { failures: options.spanFailures }),
    ...(options.maxQueue !== undefined && { maxQueue: options.maxQueue }),
    ...(options.maxVictimResources !== undefined && { maxVictimResources: options.maxVictimResources }),
    agentAttributes: options.agentResource.attributes as Attributes,
    logger: options.logger,
    ...outcomes('traces', 'traces-export'),
    onBacklog: () => {
      for (const kill of backlog('traces', (id) => spans?.isQueued(id) === true)) spans?.emit(kill);
    },
  });
  const agentAttributes = options.agentResource.attributes;

  // A kill's counters leave soon after it (metricFlushDelayMs), but an early export runs at most once per
  // metricFlushSpacingMs: in a burst, one after every kill cost a fifth of the receiver's CPU per kill.
  let flushTimer: NodeJS.Timeout | undefined;
  let lastFlushAt = -Infinity;
  const flushMetricsSoon = (): void => {
    const delayMs = Math.max(options.metricFlushDelayMs ?? 100, lastFlushAt + (options.metricFlushSpacingMs ?? 1000) - performance.now());
    flushTimer ??= setTimeout(() => {
      flushTimer = undefined;
      lastFlushAt = performance.now();
      reader?.forceFlush().catch((error: unknown) => options.logger.warn('metric export failed', { error }));
    }, delayMs);
  };

  const loggers = new VictimProviders<OtelLogger>(
    (victim) => new LoggerProvider({ resource: resourceFromAttributes({ ...agentAttributes, ...victim }), processors: [processor] }).getLogger(INSTRUMENTATION_SCOPE),
    options.maxVictimResources,
  );

  emitRecord = (enriched: EnrichedKill): void => {
    loggers.get(enriched.enrichment.resource).emit({
      eventName: EVENT_NAME,
      timestamp: nanosToHrTime(enriched.kill.timeUnixNano),
      observedTimestamp: nanosToHrTime(enriched.kill.observedUnixNano),
      severityNumber: SeverityNumber.WARN,
      severityText: 'WARN',
      body: killBody(enriched),
      attributes: killAttributes(enriched),
      // The record carries its span's trace and span ids, so a backend links one to the other.
      ...(spans && { context: killContext(enriched) }),
    });
  };
  const emit = (enriched: EnrichedKill): void => {
    spans?.emit(enriched);
    emitRecord(enriched);
  };

  // Kills a previous process spooled but never saw delivered go out first, under their own event ids.
  const replayed = spool?.pending() ?? [];
  if (replayed.length > 0) {
    for (const kill of replayed) emit(kill);
    metrics.recordReceiverEvent('spool', 'replayed', replayed.length);
  }

  return {
    exportKill(enriched: EnrichedKill): void {
      try {
        // On disk before it is sent: a kill this process has seen survives its crash.
        if (spool) {
          spool.add(enriched);
          metrics.recordReceiverEvent('spool', 'spooled');
        }
        emit(enriched);
        metrics.recordKill(enriched);
        flushMetricsSoon();
      } catch (error) {
        options.logger.error('could not export an OOM kill', { error, eventId: enriched.kill.eventId });
      }
    },
    recordLost(lost: LostKills, attributes: Attributes = {}): void {
      metrics.recordMissed(lost.count, lost.reason, attributes);
      flushMetricsSoon();
    },
    recordReceiverEvent(stage: string, outcome: string, count = 1): void {
      metrics.recordReceiverEvent(stage, outcome, count);
    },
    recordSourceRestart(source: string): void {
      metrics.recordSourceRestart(source);
    },
    setReceiverState(state: ReceiverState): void {
      metrics.setState(state);
      flushMetricsSoon();
    },
    async forceFlush(): Promise<void> {
      await Promise.allSettled([processor.forceFlush(), reader?.forceFlush(), spans?.processor.forceFlush()]);
    },
    async shutdown(): Promise<void> {
      clearTimeout(flushTimer);
      await Promise.allSettled([processor.shutdown(), meterProvider.shutdown(), spans?.processor.shutdown()]);
      spool?.close();
    },
  };
}

/** The push exporter's own temporality choice, except the heartbeat's (see selectTemporality). */
function withHeartbeatTemporality(exporter: PushMetricExporter): PushMetricExporter {
  const own = exporter.selectAggregationTemporality?.bind(exporter);
  return {
    export: (metrics, done) => exporter.export(metrics, done),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    selectAggregationTemporality: (type: InstrumentType) => selectTemporality(type, own?.(type)),
    ...(exporter.selectAggregation && { selectAggregation: exporter.selectAggregation.bind(exporter) }),
  };
}
