// Delivers a kill's log record, and its span, at least once: the OpenTelemetry gRPC exporters do not retry,
// the HTTP ones give up after their timeout, and the SDK's batch processors drop what does not fit their
// queue (see ../shared/KERNEL-NOTES.md), so delivery is ours. One mechanism for both signals: a queue keyed
// by the kill's event id, which the spool acknowledges.
//
// Items are exported in order, one batch at a time. A failure is retried with backoff (250 ms doubling to
// 2 s) on a fresh exporter, because grpc-js's own reconnect backoff would keep failing calls long after the
// collector is back; so delivery resumes within about 2 s of it returning. Only a batch the endpoint refuses
// as malformed (gRPC INVALID_ARGUMENT, HTTP 400) is dropped, logged once per reason and counted: retrying it
// cannot help. Every other failure, a wrong path or protocol, refused credentials, TLS, is a configuration an
// operator can fix: it is retried and said at level warn (ExportFailures), and the kills wait in the spool.
// Memory is bounded: past `maxQueue` items the newest are not held in memory, only in the spool, from which
// they are emitted again once the queue has drained.
import { ExportResultCode } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { LogRecordProcessor, ReadableLogRecord, ReadWriteLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { Attr } from '../attributes.ts';
import type { Logger } from '../log.ts';
import type { ExportFailures } from './export-failures.ts';
import { FreshExporter } from './fresh-exporter.ts';

/** What the delivery needs of an exporter: the SDK's log record and span exporters both fit. */
export interface DeliveryExporter<T> {
  export(items: T[], done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

/** A log record or a span: both carry the kill's event id as an attribute. */
interface Deliverable {
  readonly attributes: Readonly<Record<string, unknown>>;
}

export interface DeliveryOptions<T = ReadableLogRecord> {
  /** Makes the exporter; called again after each failed attempt, for a fresh connection. */
  createExporter(): DeliveryExporter<T>;
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
  /** Says at level warn, at a bounded rate, that exports keep failing. */
  failures?: ExportFailures;
}

/**
 * The endpoint refused the data itself: gRPC INVALID_ARGUMENT (status 3, written out so that an HTTP-only
 * receiver need not load grpc-js) or HTTP 400 Bad Request.
 */
const MALFORMED = new Set<number>([3, 400]);

/** The queue and its delivery loop, whatever the signal. */
class Delivery<T extends Deliverable> {
  readonly #options: DeliveryOptions<T>;
  readonly #queue: T[] = [];
  readonly #queued = new Set<string>();
  readonly #exporter: FreshExporter<DeliveryExporter<T>>;
  #wake: (() => void) | undefined;
  #idle: Array<() => void> = [];
  #overflowed = false;
  #stopped = false;
  #loggedReasons = new Set<string>();
  readonly #loop: Promise<void>;

  constructor(options: DeliveryOptions<T>) {
    this.#options = options;
    this.#exporter = new FreshExporter(options.createExporter, {
      ...(options.minBackoffMs !== undefined && { minMs: options.minBackoffMs }),
      ...(options.maxBackoffMs !== undefined && { maxMs: options.maxBackoffMs }),
    });
    this.#loop = this.#run();
  }

  /** Whether a record with this event id is waiting in memory. */
  isQueued(eventId: string): boolean {
    return this.#queued.has(eventId);
  }

  get queued(): number {
    return this.#queue.length;
  }

  protected enqueue(item: T): void {
    if (this.#stopped) return;
    const id = String(item.attributes[Attr.eventId] ?? '');
    if (this.#queue.length >= (this.#options.maxQueue ?? 2000)) {
      this.#overflowed = true; // kept in the spool; emitted again when there is room
      return;
    }
    this.#queue.push(item);
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
    await this.#exporter.shutdown();
  }

  async #run(): Promise<void> {
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
        this.#options.failures?.succeeded();
        this.#take(batch.length, ids);
        this.#options.onDelivered?.(ids);
        this.#exporter.succeeded();
        continue;
      }
      const code = (result.error as { code?: number } | undefined)?.code;
      if (code !== undefined && MALFORMED.has(code)) {
        const reason = result.error?.message ?? `status ${code}`;
        if (!this.#loggedReasons.has(reason)) {
          this.#loggedReasons.add(reason);
          this.#options.logger.error('the OTLP endpoint rejected OOM kill records as malformed; they are dropped', { reason, records: batch.length });
        }
        this.#take(batch.length, ids);
        this.#options.onRejected?.(ids, reason);
        continue;
      }
      this.#options.failures?.failed(result.error);
      this.#options.onRetry?.(batch.length);
      await this.#exporter.failed();
    }
    for (const done of this.#idle.splice(0)) done();
  }

  #take(count: number, ids: string[]): void {
    this.#queue.splice(0, count);
    for (const id of ids) this.#queued.delete(id);
  }

  #export(batch: T[]): Promise<ExportResult> {
    return new Promise((resolve) => {
      try {
        this.#exporter.current.export(batch, resolve);
      } catch (error) {
        resolve({ code: ExportResultCode.FAILED, error: error as Error });
      }
    });
  }
}

/** Log records: the kills' records, delivered as above. */
export class DeliveryProcessor extends Delivery<ReadableLogRecord> implements LogRecordProcessor {
  onEmit(record: ReadWriteLogRecord): void {
    this.enqueue(record as unknown as ReadableLogRecord);
  }
}

/** Spans: a kill's span, delivered as its log record is. */
export class SpanDeliveryProcessor extends Delivery<ReadableSpan> implements SpanProcessor {
  onStart(_span: Span): void {}
  onEnd(span: ReadableSpan): void {
    this.enqueue(span);
  }
}
