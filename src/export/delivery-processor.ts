// Delivers log records at least once: the OpenTelemetry gRPC exporter does not retry, and the SDK's
// batch processor drops what does not fit its queue (see ../shared/KERNEL-NOTES.md), so delivery is ours.
//
// Records are exported in order, one batch at a time. A retryable failure (UNAVAILABLE,
// RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, ...) is retried with backoff (250 ms doubling to 2 s) on a fresh
// exporter, because grpc-js's own reconnect backoff would keep failing calls long after the collector is
// back; so delivery resumes within about 2 s of it returning. A non-retryable failure (INVALID_ARGUMENT,
// UNIMPLEMENTED) is logged once per reason and the batch is dropped and counted. Memory is bounded: past
// `maxQueue` records the newest are not held in memory, only in the spool, from which they are emitted
// again once the queue has drained.
import { status } from '@grpc/grpc-js';
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import { Attr } from '../attributes.ts';
import type { Logger } from '../log.ts';

export interface DeliveryOptions {
  /** Makes the exporter; called again after each failed attempt, for a fresh connection. */
  createExporter(): LogRecordExporter;
  /** Records per export (default 512). */
  batchSize?: number;
  /** Records held in memory (default 2000); beyond, they wait in the spool. */
  maxQueue?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger: Logger;
  /** Delivered: their event ids (the spool acknowledges them). */
  onDelivered?(eventIds: string[]): void;
  /** Rejected by the backend for good: their event ids. */
  onRejected?(eventIds: string[], reason: string): void;
  onRetry?(count: number): void;
  /** The queue drained after records were left to the spool: emit them again. */
  onBacklog?(): void;
}

const NOT_RETRYABLE = new Set<number>([status.INVALID_ARGUMENT, status.UNIMPLEMENTED]);

export class DeliveryProcessor implements LogRecordProcessor {
  readonly #options: DeliveryOptions;
  readonly #queue: ReadableLogRecord[] = [];
  readonly #queued = new Set<string>();
  #exporter: LogRecordExporter;
  #wake: (() => void) | undefined;
  #idle: Array<() => void> = [];
  #overflowed = false;
  #stopped = false;
  #loggedReasons = new Set<string>();
  readonly #loop: Promise<void>;

  constructor(options: DeliveryOptions) {
    this.#options = options;
    this.#exporter = options.createExporter();
    this.#loop = this.#run();
  }

  /** Whether a record with this event id is waiting in memory. */
  isQueued(eventId: string): boolean {
    return this.#queued.has(eventId);
  }

  get queued(): number {
    return this.#queue.length;
  }

  onEmit(record: ReadWriteLogRecord): void {
    if (this.#stopped) return;
    const id = String(record.attributes[Attr.eventId] ?? '');
    if (this.#queue.length >= (this.#options.maxQueue ?? 2000)) {
      this.#overflowed = true; // kept in the spool; emitted again when there is room
      return;
    }
    this.#queue.push(record as unknown as ReadableLogRecord);
    this.#queued.add(id);
    this.#wake?.();
  }

  /** Resolves when everything queued has been delivered or rejected, or after timeoutMs. */
  forceFlush(options: { timeoutMillis?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMillis ?? 10_000;
    if (this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.#idle.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async shutdown(): Promise<void> {
    await this.forceFlush({ timeoutMillis: 5000 });
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    await this.#exporter.shutdown().catch(() => {});
  }

  async #run(): Promise<void> {
    let backoff = this.#options.minBackoffMs ?? 250;
    while (!this.#stopped) {
      if (this.#queue.length === 0) {
        for (const done of this.#idle.splice(0)) done();
        if (this.#overflowed) {
          this.#overflowed = false;
          this.#options.onBacklog?.();
          if (this.#queue.length > 0) continue;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      const batch = this.#queue.slice(0, this.#options.batchSize ?? 512);
      const ids = batch.map((r) => String(r.attributes[Attr.eventId] ?? ''));
      const result = await this.#export(batch);
      if (result.code === ExportResultCode.SUCCESS) {
        this.#take(batch.length, ids);
        this.#options.onDelivered?.(ids);
        backoff = this.#options.minBackoffMs ?? 250;
        continue;
      }
      const code = (result.error as { code?: number } | undefined)?.code;
      if (code !== undefined && NOT_RETRYABLE.has(code)) {
        const reason = result.error?.message ?? `gRPC status ${code}`;
        if (!this.#loggedReasons.has(reason)) {
          this.#loggedReasons.add(reason);
          this.#options.logger.error('the OTLP endpoint rejected OOM kill records; they are dropped', { reason, records: batch.length });
        }
        this.#take(batch.length, ids);
        this.#options.onRejected?.(ids, reason);
        continue;
      }
      this.#options.onRetry?.(batch.length);
      await new Promise((resolve) => setTimeout(resolve, backoff));
      backoff = Math.min(backoff * 2, this.#options.maxBackoffMs ?? 2000);
      // A fresh exporter, so a fresh channel: grpc-js would otherwise wait out its own reconnect backoff.
      const stale = this.#exporter;
      this.#exporter = this.#options.createExporter();
      void stale.shutdown().catch(() => {});
    }
    for (const done of this.#idle.splice(0)) done();
  }

  #take(count: number, ids: string[]): void {
    this.#queue.splice(0, count);
    for (const id of ids) this.#queued.delete(id);
  }

  #export(batch: ReadableLogRecord[]): Promise<ExportResult> {
    return new Promise((resolve) => {
      try {
        this.#exporter.export(batch, resolve);
      } catch (error) {
        resolve({ code: ExportResultCode.FAILED, error: error as Error });
      }
    });
  }
}
