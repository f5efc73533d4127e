// A span per kill, through the real exporter pipeline to the test receiver: ids derived from the kill,
// one trace per OOM, the log record linked to its span.
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-grpc';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { afterEach, describe, expect, it } from 'vitest';
import { Attr, Sem } from '../../src/attributes.ts';
import { parseCgroupPath } from '../../src/enrichment/cgroup-path.ts';
import type { OomKill } from '../../src/event.ts';
import { ConsoleCounterExporter } from '../../src/export/console-exporters.ts';
import type { KillExporter } from '../../src/export/kill-exporter.ts';
import type { EnrichedKill } from '../../src/export/kill-record.ts';
import { killSpanId, killTraceId } from '../../src/export/kill-span.ts';
import { createOtelExporter } from '../../src/export/otel-exporter.ts';
import { silentLogger } from '../../src/log.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver } from '../support/otlp-receiver.ts';

const OOM = 'a1b2c3d4e5f60718293a4b5c6d7e8f90';
const kill = (eventId: string, pid: number, overrides: Partial<OomKill> = {}): EnrichedKill => {
  const path = '/kubepods/burstable/pod0f0e0d0c-0b0a-0908-0706-050403020100/8e43ef8b4b1e4e4c3cbb6f1cb1cb2d3e8e43ef8b4b1e4e4c3cbb6f1cb1cb2d3e';
  return {
    kill: {
      source: 'bpf',
      eventId,
      oomId: OOM,
      timeUnixNano: 1_700_000_000_123_456_789n + BigInt(pid),
      observedUnixNano: 1_700_000_000_200_000_000n,
      constraint: 'memcg',
      constraintInferred: false,
      victim: { pid, tid: pid, comm: { text: 'worker' }, isNamespaceInit: false },
      memory: { anonRssBytes: 64 << 20 },
      cgroup: { path, pathTruncated: false },
      ...overrides,
    },
    identity: parseCgroupPath(path),
    enrichment: { resource: { [Sem.k8sPodUid]: '0f0e0d0c-0b0a-0908-0706-050403020100', [Sem.k8sContainerName]: 'app' } },
  };
};

describe('a span per kill', () => {
  let collector: OtlpReceiver;
  let exporter: KillExporter | undefined;
  afterEach(async () => {
    await exporter?.shutdown();
    await collector.stop();
  });
  const start = async (): Promise<KillExporter> => {
    collector = await startOtlpReceiver();
    return (exporter = createOtelExporter({
      agentResource: resourceFromAttributes({ [Sem.serviceName]: 'oomkill-receiver' }),
      createLogExporter: () => new OTLPLogExporter({ url: collector.endpoint }),
      createSpanExporter: () => new OTLPTraceExporter({ url: collector.endpoint }),
      metricExporter: new ConsoleCounterExporter(() => {}),
      logger: silentLogger,
    }));
  };

  it('puts every kill of one OOM (a group kill) in one trace, each with its own span, linked from its record', async () => {
    const out = await start();
    const group = [kill('11'.repeat(16), 101), kill('22'.repeat(16), 102), kill('33'.repeat(16), 103)];
    const other = kill('44'.repeat(16), 104, { oomId: '44'.repeat(16) });
    for (const k of [...group, other]) out.exportKill(k);
    const spans = await collector.waitForSpans(4);
    const records = await collector.waitForLogRecords(4);
    const ofGroup = spans.filter((s) => s.traceId === OOM);
    expect(ofGroup.map((s) => s.attributes[Sem.processPid]).sort()).toEqual([101, 102, 103]);
    expect(new Set(ofGroup.map((s) => s.spanId)).size).toBe(3);
    expect(spans.find((s) => s.attributes[Sem.processPid] === 104)?.traceId).toBe('44'.repeat(16));
    for (const span of spans) {
      const record = records.find((r) => r.attributes[Attr.eventId] === span.attributes[Attr.eventId]);
      expect({ traceId: record?.traceId, spanId: record?.spanId }).toEqual({ traceId: span.traceId, spanId: span.spanId });
      expect(span).toMatchObject({ name: 'OOM kill app', kind: 1, parentSpanId: '', status: { code: 2, message: record?.body } });
      expect(span.attributes).toEqual({ ...record?.attributes, [Sem.errorType]: 'oom_kill' });
      expect(span.resource).toEqual(record?.resource);
      expect(span.endTimeUnixNano).toBe(record?.timeUnixNano);
      expect(span.startTimeUnixNano).toBe(span.endTimeUnixNano); // no OOM start known: the kill's instant
    }
  });

  it('starts at the OOM invocation when the source saw it', async () => {
    const out = await start();
    const k = kill('55'.repeat(16), 105, { oomStartUnixNano: 1_700_000_000_000_000_000n });
    out.exportKill(k);
    const [span] = await collector.waitForSpans(1);
    expect(span?.startTimeUnixNano).toBe(1_700_000_000_000_000_000n);
    expect(span?.endTimeUnixNano).toBe(k.kill.timeUnixNano);
  });

  it('derives the same ids from the same kill wherever it is seen, and valid ids from any source\'s ids', () => {
    const a = kill('66'.repeat(16), 106);
    const b = kill('66'.repeat(16), 106);
    expect([killTraceId(a), killSpanId(a)]).toEqual([killTraceId(b), killSpanId(b)]);
    expect(killSpanId(a)).toMatch(/^[0-9a-f]{16}$/);
    const kmsg = kill('boot:kmsg:123:456', 107, { source: 'kmsg', oomId: 'boot:oom:123' });
    const kmsgSibling = kill('boot:kmsg:123:457', 108, { source: 'kmsg', oomId: 'boot:oom:123' });
    expect(killTraceId(kmsg)).toMatch(/^[0-9a-f]{32}$/);
    expect(killTraceId(kmsg)).toBe(killTraceId(kmsgSibling));
    expect(killSpanId(kmsg)).not.toBe(killSpanId(kmsgSibling));
    const { oomId: _none, ...alone } = kill('boot:cgroup:/x:1', 109, { source: 'cgroup' }).kill;
    expect(killTraceId({ ...kill('x', 1), kill: alone as OomKill })).toMatch(/^[0-9a-f]{32}$/);
  });
});
