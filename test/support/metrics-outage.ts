// A collector outage of a given length, and the counters after it: the next metric export must reach the
// collector within 5 s of its return, with every kill of the outage counted. Shared by the outage tests,
// which sit in files of their own so that vitest runs them in parallel (they are wall time, not CPU).
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Attr, Metric } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import { startOtlpReceiver } from './otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from './otlp-receiver.ts';
import { startReceiver } from './receiver-process.ts';
import type { ReceiverProcess } from './receiver-process.ts';
import { scratchCgroups } from './scratch.ts';

/** Call inside a describeKernel. */
export function itDeliversCountersAfterAnOutage(outageMs: number, name: string): void {
  const scratch = scratchCgroups(`metrics-outage-${outageMs}`);
  let collector: OtlpReceiver | undefined;
  let receiver: ReceiverProcess | undefined;
  afterEach(async () => {
    await receiver?.stop();
    await collector?.stop();
    collector = receiver = undefined;
  });

  it(`delivers the full counts within 5 s of the collector's return after ${name}`, async () => {
    collector = await startOtlpReceiver();
    const port = collector.port;
    receiver = startReceiver(['run', '--source', 'bpf', '--reconcile-interval-ms', '0', '--spool-dir', mkdtempSync(join(tmpdir(), 'spool-'))], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      // Far longer than any wait below: only the delivery's own retries can bring the counts back in time.
      OTEL_METRIC_EXPORT_INTERVAL: '3600000',
    });
    await receiver.waitForLine(/"source: bpf, /, 60_000);
    const cgroup = await scratch({ limitMiB: 32 });
    // The counter's series has no pod here (no Kubernetes): it is the node's memcg kills, other tests' included.
    const series = { [Attr.source]: 'bpf', [Attr.constraint]: 'memcg', [Attr.mainProcess]: false };
    await startHog(cgroup.dir).exited;
    const before = await collector.waitForCounter(Metric.kills, 1, 10_000, series);

    await collector.stop();
    const outageStart = Date.now();
    for (let i = 0; i < 3; i++) await startHog(cgroup.dir).exited;
    await new Promise((r) => setTimeout(r, Math.max(0, outageMs - (Date.now() - outageStart))));

    collector = await startOtlpReceiver({ port });
    const back = Date.now();
    const after = await collector.waitForCounter(Metric.kills, before + 3, 5000, series).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; the receiver said:\n${receiver?.stderrLines().slice(-15).join('\n')}`, { cause: error });
    });
    expect(Date.now() - back).toBeLessThan(5000);
    expect(after).toBeGreaterThanOrEqual(before + 3);
    // Nothing lost: the counter holds exactly the kills whose records the receiver exported in that series.
    const counted = (r: ReceivedLogRecord): boolean => Object.entries(series).every(([k, v]) => r.attributes[k] === v);
    const kinds = (): number => new Set(collector?.logRecords().filter(counted).map((r) => r.attributes[Attr.eventId])).size;
    await expect.poll(() => collector?.counterTotal(Metric.kills, series), { timeout: 10_000 }).toBeGreaterThanOrEqual(before + 3);
    await expect.poll(() => kinds(), { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
    await receiver.waitForLine(/"OTLP metrics export to .* failed/, 1000);
    await receiver.waitForLine(/"OTLP metrics export to .* works again/, 5000);
  }, outageMs + 120_000);
}
