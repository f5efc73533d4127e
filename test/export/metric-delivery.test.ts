// The metric delivery with the real OTLP gRPC exporter and the test receiver misbehaving on purpose.
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { MetricDelivery } from '../../src/export/metric-delivery.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver } from '../support/otlp-receiver.ts';

describe('MetricDelivery', () => {
  let collector: OtlpReceiver;
  let provider: MeterProvider | undefined;
  afterEach(async () => {
    await provider?.shutdown();
    await collector.stop();
  });

  it('retries a failed export on fresh connections until it is delivered, with the newest cumulative counts', async () => {
    collector = await startOtlpReceiver();
    collector.setBehaviour('unavailable');
    let connections = 0;
    let retries = 0;
    const delivery = new MetricDelivery({
      createExporter: () => new OTLPMetricExporter({ url: collector.endpoint, userAgent: `test ${++connections}` }),
      minBackoffMs: 20,
      maxBackoffMs: 50,
      onRetry: () => retries++,
    });
    // An interval far longer than the test: only the delivery's own retries can bring the counts.
    const reader = new PeriodicExportingMetricReader({ exporter: delivery, exportIntervalMillis: 3_600_000 });
    provider = new MeterProvider({ readers: [reader] });
    const counter = provider.getMeter('test').createCounter('kills');
    counter.add(1);
    await reader.forceFlush();
    counter.add(2);
    await reader.forceFlush(); // answered at once, though nothing was delivered
    await new Promise((r) => setTimeout(r, 300));
    expect(retries).toBeGreaterThan(2);
    expect(connections).toBeGreaterThan(2);
    expect(collector.dataPoints('kills')).toEqual([]);
    collector.setBehaviour('ok');
    expect(await collector.waitForCounter('kills', 3, 2000)).toBe(3);
    expect(collector.exportCalls().metrics - retries).toBeLessThanOrEqual(2); // no export after delivery but the ones asked for
  });
});
