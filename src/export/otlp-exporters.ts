// The OTLP exporters, one per signal, in the protocol the configuration chose. Each protocol's package is
// loaded only when chosen: the gRPC stack alone costs megabytes of heap a node running HTTP should not pay.
// The exporters read the OTEL_EXPORTER_OTLP_* variables themselves (endpoint, headers, timeout, TLS
// certificates, compression): nothing here parses them again.
import type { LogRecordExporter } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter } from '@opentelemetry/sdk-metrics';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import type { OtlpProtocol } from '../config.ts';

/** Makes an exporter: called again for each fresh connection (after a failed export). */
export type ExporterFactory<T> = () => T;

export interface OtlpExporterFactories {
  logs?: ExporterFactory<LogRecordExporter>;
  metrics?: ExporterFactory<PushMetricExporter>;
  traces?: ExporterFactory<SpanExporter>;
}

type Constructor<T> = new (options: { userAgent: string }) => T;

/**
 * One factory per signal that has a protocol. Every exporter made gets its own user agent: grpc-js pools
 * subchannels by target and options, and a pooled subchannel keeps the reconnect backoff of an outage, which
 * would delay delivery long after the collector is back. A distinct option means a fresh connection.
 */
export async function loadOtlpExporters(protocols: { logs?: OtlpProtocol; metrics?: OtlpProtocol; traces?: OtlpProtocol }, userAgent: string): Promise<OtlpExporterFactories> {
  let connections = 0;
  const factory = <T>(Exporter: Constructor<T>): ExporterFactory<T> => () => new Exporter({ userAgent: `${userAgent} (connection ${++connections})` });
  return {
    ...(protocols.logs !== undefined && { logs: factory(await logExporter(protocols.logs)) }),
    ...(protocols.metrics !== undefined && { metrics: factory(await metricExporter(protocols.metrics)) }),
    ...(protocols.traces !== undefined && { traces: factory(await traceExporter(protocols.traces)) }),
  };
}

// Literal specifiers, so that a bundler sees every package that may be loaded.
async function logExporter(protocol: OtlpProtocol): Promise<Constructor<LogRecordExporter>> {
  switch (protocol) {
    case 'grpc': return (await import('@opentelemetry/exporter-logs-otlp-grpc')).OTLPLogExporter;
    case 'http/protobuf': return (await import('@opentelemetry/exporter-logs-otlp-proto')).OTLPLogExporter;
    case 'http/json': return (await import('@opentelemetry/exporter-logs-otlp-http')).OTLPLogExporter;
  }
}

async function metricExporter(protocol: OtlpProtocol): Promise<Constructor<PushMetricExporter>> {
  switch (protocol) {
    case 'grpc': return (await import('@opentelemetry/exporter-metrics-otlp-grpc')).OTLPMetricExporter;
    case 'http/protobuf': return (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter;
    case 'http/json': return (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter;
  }
}

async function traceExporter(protocol: OtlpProtocol): Promise<Constructor<SpanExporter>> {
  switch (protocol) {
    case 'grpc': return (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter;
    case 'http/protobuf': return (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter;
    case 'http/json': return (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter;
  }
}
