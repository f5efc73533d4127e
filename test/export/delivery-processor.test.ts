// The delivery processor with the real OTLP gRPC exporter and the test receiver misbehaving on purpose.
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { afterEach, describe, expect, it } from 'vitest';
import { Attr } from '../../src/attributes.ts';
import { DeliveryProcessor } from '../../src/export/delivery-processor.ts';
import { silentLogger } from '../../src/log.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver } from '../support/otlp-receiver.ts';

describe('DeliveryProcessor', () => {
  let collector: OtlpReceiver;
  let processor: DeliveryProcessor | undefined;
  afterEach(async () => {
    await processor?.shutdown();
    await collector.stop();
  });

  it('holds at most maxQueue records in memory while the endpoint fails, and asks for the rest again', async () => {
    collector = await startOtlpReceiver();
    collector.setBehaviour('unavailable');
    let connection = 0;
    let backlogs = 0;
    let retried = 0;
    const delivered: string[] = [];
    processor = new DeliveryProcessor({
      createExporter: () => new OTLPLogExporter({ url: collector.endpoint, userAgent: `test ${++connection}` }),
      maxQueue: 100,
      minBackoffMs: 20,
      maxBackoffMs: 50,
      logger: silentLogger,
      onDelivered: (ids) => delivered.push(...ids),
      onRetry: (n) => (retried += n),
      onBacklog: () => backlogs++,
    });
    const logger = new LoggerProvider({ processors: [processor] }).getLogger('test');
    for (let i = 0; i < 1000; i++) logger.emit({ body: `kill ${i}`, attributes: { [Attr.eventId]: `id-${i}` } });
    expect(processor.queued).toBe(100);
    await new Promise((r) => setTimeout(r, 300));
    expect(retried).toBeGreaterThan(0);
    expect(connection).toBeGreaterThan(2); // a fresh exporter, so a fresh connection, per attempt
    expect(collector.logRecords()).toEqual([]);
    collector.setBehaviour('ok');
    await expect.poll(() => delivered.length).toBe(100);
    await expect.poll(() => backlogs).toBe(1);
    expect(delivered).toEqual(Array.from({ length: 100 }, (_, i) => `id-${i}`)); // in order, the oldest first
  });

  it('drops and reports a batch the endpoint rejects for good, and delivers the next', async () => {
    collector = await startOtlpReceiver();
    collector.setBehaviour('invalid-argument');
    const rejected: string[] = [];
    const delivered: string[] = [];
    processor = new DeliveryProcessor({
      createExporter: () => new OTLPLogExporter({ url: collector.endpoint }),
      logger: silentLogger,
      onRejected: (ids) => rejected.push(...ids),
      onDelivered: (ids) => delivered.push(...ids),
    });
    const logger = new LoggerProvider({ processors: [processor] }).getLogger('test');
    logger.emit({ body: 'a', attributes: { [Attr.eventId]: 'a' } });
    await expect.poll(() => rejected).toEqual(['a']);
    collector.setBehaviour('ok');
    logger.emit({ body: 'b', attributes: { [Attr.eventId]: 'b' } });
    await expect.poll(() => delivered).toEqual(['b']);
  });
});
