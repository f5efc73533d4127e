// Serves the receiver's metrics for a Prometheus to scrape (OTEL_METRICS_EXPORTER=prometheus), next to or
// instead of OTLP. A MetricReader on the same MeterProvider, so both paths read the same instruments.
//
// Why not @opentelemetry/exporter-prometheus's PrometheusExporter as is: it names series without the unit
// suffix (`oomkill_kill_last_timestamp`, where the Collector's Prometheus exporters, following the
// specification's name translation, give `oomkill_kill_last_timestamp_seconds`), it fixes every
// instrument's temporality to cumulative (the heartbeat needs delta, see selectTemporality), and a port it
// cannot bind is only logged. Its serializer is used as is: `.` to `_`, `_total` for monotonic sums,
// escaping, target_info and the otel_scope_* labels stay exactly the exporter's. The node's label needs no
// withResourceConstantLabels: k8s.node.name is on every data point already (ReceiverMetrics), and copying
// the resource's too would write the label twice, which Prometheus refuses.
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { DataPointType, MetricReader } from '@opentelemetry/sdk-metrics';
import type { MetricData, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Logger } from '../log.ts';
import { selectTemporality } from './receiver-metrics.ts';

export interface PrometheusEndpointOptions {
  /** OTEL_EXPORTER_PROMETHEUS_HOST; the specification's default is localhost. */
  host: string;
  /** OTEL_EXPORTER_PROMETHEUS_PORT (9464 by default); 0 picks a free port, logged once bound. */
  port: number;
  logger: Logger;
}

export class PrometheusEndpoint extends MetricReader {
  readonly #options: PrometheusEndpointOptions;
  readonly #serializer = new PrometheusSerializer();
  readonly #server: Server;

  constructor(options: PrometheusEndpointOptions) {
    super({ aggregationTemporalitySelector: (type) => selectTemporality(type) });
    this.#options = options;
    this.#server = createServer((request, response) => {
      const path = (request.url ?? '/').split('?')[0];
      if (request.method !== 'GET' || path !== '/metrics') {
        response.writeHead(404).end();
        return;
      }
      this.collect().then(
        ({ resourceMetrics, errors }) => {
          for (const error of errors) options.logger.warn('metric collection failed in part', { error });
          response.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
          response.end(this.#serializer.serialize(withUnitSuffixes(resourceMetrics)));
        },
        (error: unknown) => {
          options.logger.warn('metric collection failed', { error });
          response.writeHead(500).end();
        },
      );
    });
  }

  /** Binds the port; rejects with a clear reason (address in use, not permitted) for a startup failure. */
  async listen(): Promise<string> {
    const { host, port } = this.#options;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', (error) => reject(new Error(`cannot serve Prometheus metrics on ${host}:${port}: ${error.message}`, { cause: error })));
      this.#server.listen({ host, port }, resolve);
    });
    const bound = (this.#server.address() as AddressInfo).port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`;
    this.#options.logger.info(`serving metrics for Prometheus at ${url}`, { url });
    return url;
  }

  protected async onForceFlush(): Promise<void> {}

  protected async onShutdown(): Promise<void> {
    if (!this.#server.listening) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/**
 * The specification's unit suffixes (OpenTelemetry to Prometheus compatibility, "Metric Metadata"), for
 * the units this project uses and their common neighbours. Annotations in braces (`{kill}`) add nothing.
 */
const UNIT_WORDS: Record<string, string> = {
  s: 'seconds', ms: 'milliseconds', us: 'microseconds', ns: 'nanoseconds', min: 'minutes', h: 'hours', d: 'days',
  By: 'bytes', KiBy: 'kibibytes', MiBy: 'mebibytes', GiBy: 'gibibytes', KBy: 'kilobytes', MBy: 'megabytes', GBy: 'gigabytes',
  '%': 'percent', Hz: 'hertz', V: 'volts', A: 'amperes', J: 'joules', W: 'watts', g: 'grams', Cel: 'celsius',
};
const PER_UNIT_WORDS: Record<string, string> = { s: 'second', min: 'minute', h: 'hour', d: 'day', w: 'week', mo: 'month', y: 'year' };

/** `s` -> `seconds`, `By/s` -> `bytes_per_second`, `{kill}` -> '', `1` -> `ratio` for gauges only. */
export function unitSuffix(unit: string, gauge: boolean): string {
  if (unit === '1') return gauge ? 'ratio' : '';
  const bare = (part: string): string => part.replace(/\{[^}]*\}/g, '');
  const [top = '', bottom] = unit.split('/').map(bare);
  const word = UNIT_WORDS[top] ?? top;
  if (bottom === undefined || bottom === '') return word;
  const per = `per_${PER_UNIT_WORDS[bottom] ?? bottom}`;
  return word === '' ? per : `${word}_${per}`;
}

/** As the Collector's translator: no suffix for a name that already has it as one of its words. */
function alreadySays(name: string, suffix: string): boolean {
  const words = name.split(/[^A-Za-z0-9]+/);
  return suffix.includes('_') ? words.join('_').endsWith(suffix) : words.includes(suffix);
}

function withUnitSuffixes(resourceMetrics: ResourceMetrics): ResourceMetrics {
  return {
    ...resourceMetrics,
    scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({
      ...scope,
      metrics: scope.metrics.map((metric): MetricData => {
        const gauge = metric.dataPointType === DataPointType.GAUGE || (metric.dataPointType === DataPointType.SUM && !metric.isMonotonic);
        const suffix = unitSuffix(metric.descriptor.unit, gauge);
        const name = metric.descriptor.name;
        if (suffix === '' || alreadySays(name, suffix)) return metric;
        return { ...metric, descriptor: { ...metric.descriptor, name: `${name}_${suffix}` } };
      }),
    })),
  };
}
