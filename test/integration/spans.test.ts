// A span per real kill (opt-in with OTEL_TRACES_EXPORTER=otlp), linked from its log record, delivered like
// the records: nothing lost across a collector outage.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Attr, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';
import { scratchCgroups } from '../support/scratch.ts';

describeKernel('a span per kill', () => {
  const scratch = scratchCgroups('spans');
  let cgroup: ScratchCgroup | undefined;
  let collector: OtlpReceiver | undefined;
  let receiver: ReceiverProcess | undefined;
  afterEach(async () => {
    await receiver?.stop();
    await collector?.stop();
    cgroup = collector = receiver = undefined;
  });
  const inCgroup = (r: { attributes: Record<string, unknown> }): boolean => r.attributes[Attr.cgroupPath] === cgroup?.path;

  it('exports one span per kill with the record\'s Resource and attributes; the record carries its trace and span ids', async () => {
    collector = await startOtlpReceiver();
    receiver = startReceiver(['run', '--source', 'bpf', '--reconcile-interval-ms', '0'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_TRACES_EXPORTER: 'otlp',
    });
    await receiver.waitForLine(/"source: bpf, /, 60_000);
    cgroup = await scratch({ limitMiB: 32 });
    // One hog after the other, further apart than the loader's grouping window: two OOMs. (Two hogs at once
    // can be one trigger killing twice within the window, which the inferred grouping of mark_victim-only
    // hooks, as on this machine, takes for one OOM.)
    const hogs = [];
    for (let i = 0; i < 2; i++) {
      const hog = startHog(cgroup.dir);
      hogs.push(hog);
      await hog.exited;
      await new Promise((r) => setTimeout(r, 300));
    }
    const records = await collector.waitForLogRecords(2, 10_000, inCgroup);
    const spans = await collector.waitForSpans(2, 10_000, inCgroup);
    await new Promise((r) => setTimeout(r, 500)); // a duplicate would show now
    expect(collector.spans().filter(inCgroup)).toHaveLength(2);
    for (const hog of hogs) {
      const record = records.find((r) => r.attributes[Sem.processPid] === hog.pid);
      const span = spans.find((s) => s.attributes[Sem.processPid] === hog.pid);
      expect(record).toBeDefined();
      expect(span).toMatchObject({
        traceId: record?.traceId,
        spanId: record?.spanId,
        parentSpanId: '',
        resource: record?.resource,
        attributes: { ...record?.attributes, [Sem.errorType]: 'oom_kill' },
        status: { code: 2, message: record?.body },
        endTimeUnixNano: record?.timeUnixNano,
      });
      expect(span?.traceId).toMatch(/^(?!0{32})[0-9a-f]{32}$/);
      expect(span?.spanId).toMatch(/^(?!0{16})[0-9a-f]{16}$/);
      expect(span?.startTimeUnixNano).toBeLessThanOrEqual(span?.endTimeUnixNano ?? 0n);
    }
    // Two OOMs (one hog each): two traces.
    expect(new Set(spans.map((s) => s.traceId)).size).toBe(2);
  }, 120_000);

  it('loses no span across a collector outage, and sends each once', async () => {
    collector = await startOtlpReceiver();
    const port = collector.port;
    receiver = startReceiver(['run', '--source', 'bpf', '--reconcile-interval-ms', '0', '--spool-dir', mkdtempSync(join(tmpdir(), 'spool-'))], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_TRACES_EXPORTER: 'otlp',
    });
    await receiver.waitForLine(/"source: bpf, /, 60_000);
    cgroup = await scratch({ limitMiB: 32 });
    await collector.stop();
    for (let i = 0; i < 10; i++) await startHog(cgroup.dir).exited;
    await new Promise((r) => setTimeout(r, 15_000));
    collector = await startOtlpReceiver({ port });
    const back = Date.now();
    const spans = await collector.waitForSpans(10, 5000, inCgroup);
    expect(Date.now() - back).toBeLessThan(5000);
    await collector.waitForLogRecords(10, 5000, inCgroup);
    await new Promise((r) => setTimeout(r, 1000)); // a duplicate would show now
    expect(new Set(collector.spans().filter(inCgroup).map((s) => s.spanId)).size).toBe(10);
    expect(collector.spans().filter(inCgroup)).toHaveLength(10);
    expect(spans.every((s) => s.endTimeUnixNano < BigInt(back) * 1_000_000n)).toBe(true); // kernel times kept
    await receiver.waitForLine(/"OTLP traces export to .* failed/, 1000);
  }, 120_000);
});
