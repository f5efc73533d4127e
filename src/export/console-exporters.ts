// The embedded default when no OTLP endpoint is configured: each kill printed on stdout as a line a
// person reads, then the full record as one line of JSON. JSON escapes every control character, and
// the body's process name is already escaped, so a hostile name cannot rewrite the terminal.
import { ExportResultCode, hrTimeToMilliseconds } from '@opentelemetry/core';
import type { ExportResult } from '@opentelemetry/core';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { AggregationTemporality, DataPointType } from '@opentelemetry/sdk-metrics';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { safeJson } from '../safe-json.ts';

type Write = (text: string) => void;
const stdout: Write = (text) => process.stdout.write(text);

export class ConsoleKillLogExporter implements LogRecordExporter {
  readonly #write: Write;
  constructor(write: Write = stdout) {
    this.#write = write;
  }

  export(records: ReadableLogRecord[], done: (result: ExportResult) => void): void {
    for (const record of records) {
      const time = new Date(hrTimeToMilliseconds(record.hrTime)).toISOString();
      const detail = {
        eventName: record.eventName,
        resource: record.resource.attributes,
        attributes: record.attributes,
      };
      this.#write(`${time} ${record.severityText ?? ''} ${String(record.body)}\n  ${safeJson(detail)}\n`);
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}

/** Prints each counter series when its value changes: the console's view of what alerts would see. */
export class ConsoleCounterExporter implements PushMetricExporter {
  readonly #write: Write;
  readonly #printed = new Map<string, number>();
  constructor(write: Write = stdout) {
    this.#write = write;
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    for (const scope of metrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        if (metric.dataPointType !== DataPointType.SUM) continue;
        for (const point of metric.dataPoints) {
          const series = `${metric.descriptor.name}${safeJson(point.attributes)}`;
          const value = point.value as number;
          if (this.#printed.get(series) === value) continue;
          this.#printed.set(series, value);
          this.#write(`counter ${series} = ${value}\n`);
        }
      }
    }
    done({ code: ExportResultCode.SUCCESS });
  }

  selectAggregationTemporality(): AggregationTemporality {
    return AggregationTemporality.CUMULATIVE;
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {}
}
