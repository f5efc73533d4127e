// Delivers the counters with the same discipline as the kill records: after a collector outage of any
// length, the next export reaches it within about 2 s of its return, with the full cumulative counts.
//
// The SDK's periodic reader exports once per interval and forgets a failure; a gRPC exporter then waits out
// grpc-js's reconnect backoff (18 s and more after a 30 s outage), so the counters behind every alert lagged
// the logs. Here a failed export is retried with backoff (250 ms doubling to 2 s) on a fresh exporter, so a
// fresh connection. Nothing is lost by sending only the newest collection: the counters are cumulative, so
// each collection holds every count since the start, and a newer one replaces an older one not yet sent.
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, AggregationType } from '@opentelemetry/sdk-metrics';
import type { AggregationOption, InstrumentType, PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ExportFailures } from './export-failures.ts';
import { FreshExporter } from './fresh-exporter.ts';

export interface MetricDeliveryOptions {
  /** Makes the exporter; called again after each failed attempt, for a fresh connection. */
  createExporter(): PushMetricExporter;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Says at level warn, at a bounded rate, that exports keep failing. */
  failures?: ExportFailures;
  /** A failed attempt, before its retry. */
  onRetry?(): void;
}

export class MetricDelivery implements PushMetricExporter {
  readonly #options: MetricDeliveryOptions;
  readonly #exporter: FreshExporter<PushMetricExporter>;
  /** The newest collection not yet delivered. */
  #pending: ResourceMetrics | undefined;
  /** The reader's callbacks, answered after the next attempt: it must not wait through an outage. */
  #waiting: Array<(result: ExportResult) => void> = [];
  #sending = false;
  /** The last attempt failed: retries are under way. */
  #failing = false;
  #wake: (() => void) | undefined;
  #idle: Array<() => void> = [];
  #stopped = false;
  readonly #loop: Promise<void>;

  constructor(options: MetricDeliveryOptions) {
    this.#options = options;
    this.#exporter = new FreshExporter(options.createExporter, {
      ...(options.minBackoffMs !== undefined && { minMs: options.minBackoffMs }),
      ...(options.maxBackoffMs !== undefined && { maxMs: options.maxBackoffMs }),
    });
    this.#loop = this.#run();
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    if (this.#stopped) {
      done({ code: ExportResultCode.FAILED, error: new Error('metric delivery is shut down') });
      return;
    }
    this.#pending = metrics;
    this.#waiting.push(done);
    this.#wake?.();
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    // Cumulative unless the exporter says otherwise (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE).
    return this.#exporter.current.selectAggregationTemporality?.(instrumentType) ?? AggregationTemporality.CUMULATIVE;
  }

  selectAggregation(instrumentType: InstrumentType): AggregationOption {
    return this.#exporter.current.selectAggregation?.(instrumentType) ?? { type: AggregationType.DEFAULT };
  }

  /**
   * Resolves once the newest collection is delivered; at once while the collector is failing (the reader
   * flushes after every kill and must not wait through an outage: the retries go on without it).
   */
  forceFlush(): Promise<void> {
    return this.#failing ? Promise.resolve() : this.#drained(10_000);
  }

  /** Resolves once the newest collection is delivered, or after timeoutMs. */
  #drained(timeoutMs: number): Promise<void> {
    if (this.#pending === undefined && !this.#sending) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#idle.push(() => (clearTimeout(timer), resolve()));
    });
  }

  async shutdown(): Promise<void> {
    await this.#drained(5000);
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    for (const done of this.#waiting.splice(0)) done({ code: ExportResultCode.FAILED, error: new Error('shut down before delivery') });
    await this.#exporter.shutdown();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const metrics = this.#pending;
      if (metrics === undefined) {
        for (const done of this.#idle.splice(0)) done();
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      this.#pending = undefined;
      const answer = this.#waiting.splice(0);
      this.#sending = true;
      const result = await this.#send(metrics);
      this.#sending = false;
      for (const done of answer) done(result);
      this.#failing = result.code !== ExportResultCode.SUCCESS;
      if (result.code === ExportResultCode.SUCCESS) {
        this.#options.failures?.succeeded();
        this.#exporter.succeeded();
        continue;
      }
      this.#options.failures?.failed(result.error);
      this.#options.onRetry?.();
      this.#pending ??= metrics; // a newer collection, if one came meanwhile, holds these counts and more
      await this.#exporter.failed();
    }
    for (const done of this.#idle.splice(0)) done();
  }

  #send(metrics: ResourceMetrics): Promise<ExportResult> {
    return new Promise((resolve) => {
      try {
        this.#exporter.current.export(metrics, resolve);
      } catch (error) {
        resolve({ code: ExportResultCode.FAILED, error: error as Error });
      }
    });
  }
}
