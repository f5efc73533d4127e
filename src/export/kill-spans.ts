// A span per kill, through the OpenTelemetry tracing SDK: trace views (Jaeger and the like) store spans
// only, so without one a kill is not there at all. Opt-in (OTEL_TRACES_EXPORTER=otlp or a traces endpoint).
//
// Like the log records, a span's Resource is the victim's (agent identity + the container's attributes),
// fixed per TracerProvider, so there is a provider per distinct victim Resource, bounded, all sharing one
// delivery processor: the same delivery as the records (retry on a fresh connection, spool, nothing lost
// across an outage). The ids are the kill's own (kill-span.ts), handed to the SDK through its IdGenerator.
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import type { Context, Tracer } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AlwaysOnSampler, TracerProvider } from '@opentelemetry/sdk-trace';
import type { IdGenerator, ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { INSTRUMENTATION_SCOPE, Sem } from '../attributes.ts';
import type { Attributes } from '../event.ts';
import type { Logger } from '../log.ts';
import { SpanDeliveryProcessor } from './delivery-processor.ts';
import type { DeliveryOptions } from './delivery-processor.ts';
import type { ExportFailures } from './export-failures.ts';
import { killAttributes, killBody, nanosToHrTime } from './kill-record.ts';
import type { EnrichedKill } from './kill-record.ts';
import { VictimProviders } from './victim-providers.ts';
import { KILL_ERROR_TYPE, killSpanId, killSpanName, killSpanStartUnixNano, killTraceId } from './kill-span.ts';

export interface KillSpansOptions extends Pick<DeliveryOptions<ReadableSpan>, 'onDelivered' | 'onRejected' | 'onRetry' | 'onBacklog' | 'maxQueue'> {
  /** Makes the span exporter (again after each failed attempt: a fresh connection). */
  createExporter(): SpanExporter;
  failures?: ExportFailures;
  /** The agent's own identity, under the victim's attributes in each span's Resource. */
  agentAttributes: Attributes;
  /** Distinct victim Resources kept (default 256). */
  maxVictimResources?: number;
  logger: Logger;
}

/** The context a kill's log record is emitted in, so that it carries the kill's trace and span ids. */
export function killContext(enriched: EnrichedKill): Context {
  return trace.setSpanContext(ROOT_CONTEXT, { traceId: killTraceId(enriched), spanId: killSpanId(enriched), traceFlags: TraceFlags.SAMPLED });
}

/** Hands the SDK the ids of the span about to start: startSpan is synchronous, so nothing comes between. */
class KillIds implements IdGenerator {
  next: { traceId: string; spanId: string } | undefined;
  generateTraceId(): string {
    return this.#take().traceId;
  }
  generateSpanId(): string {
    return this.#take().spanId;
  }
  #take(): { traceId: string; spanId: string } {
    if (this.next === undefined) throw new Error('a kill span was started without its ids');
    return this.next;
  }
}

export class KillSpans {
  readonly processor: SpanDeliveryProcessor;
  readonly #ids = new KillIds();
  readonly #tracers: VictimProviders<Tracer>;

  constructor(options: KillSpansOptions) {
    this.#tracers = new VictimProviders((victim) => new TracerProvider({
      resource: resourceFromAttributes({ ...options.agentAttributes, ...victim }),
      idGenerator: this.#ids,
      sampler: new AlwaysOnSampler(),
      spanProcessors: [this.processor],
    }).getTracer(INSTRUMENTATION_SCOPE), options.maxVictimResources);
    this.processor = new SpanDeliveryProcessor({
      createExporter: options.createExporter,
      logger: options.logger,
      ...(options.failures && { failures: options.failures }),
      ...(options.maxQueue !== undefined && { maxQueue: options.maxQueue }),
      ...(options.onDelivered && { onDelivered: options.onDelivered }),
      ...(options.onRejected && { onRejected: options.onRejected }),
      ...(options.onRetry && { onRetry: options.onRetry }),
      ...(options.onBacklog && { onBacklog: options.onBacklog }),
    });
  }

  /** Records the kill's span, ended at the kill, and hands it to the delivery. */
  emit(enriched: EnrichedKill): void {
    this.#ids.next = { traceId: killTraceId(enriched), spanId: killSpanId(enriched) };
    try {
      const span = this.#tracers.get(enriched.enrichment.resource).startSpan(killSpanName(enriched), {
        kind: SpanKind.INTERNAL,
        startTime: nanosToHrTime(killSpanStartUnixNano(enriched)),
        attributes: { ...killAttributes(enriched), [Sem.errorType]: KILL_ERROR_TYPE },
        root: true,
      });
      // The victim's run ended in error: trace views show it as failed, with what happened.
      span.setStatus({ code: SpanStatusCode.ERROR, message: killBody(enriched) });
      span.end(nanosToHrTime(enriched.kill.timeUnixNano));
    } finally {
      this.#ids.next = undefined;
    }
  }

  isQueued(eventId: string): boolean {
    return this.processor.isQueued(eventId);
  }
}
