// The receiver's metrics through a real MeterProvider and reader: the attributes of contract 1, the node on
// every point, the newest kill time per series, one heartbeat series whatever the source did, and a series
// limit that holds for the receiver's lifetime.
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import type { EnrichedKill } from '../../src/export/kill-record.ts';
import { OVERFLOW_ATTRIBUTES, ReceiverMetrics, selectTemporality } from '../../src/export/receiver-metrics.ts';
import { createLogger } from '../../src/log.ts';

class CollectingReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: (type) => selectTemporality(type) });
  }
  async metrics(): Promise<Map<string, MetricData>> {
    const { resourceMetrics } = await this.collect();
    return new Map(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).map((m) => [m.descriptor.name, m]));
  }
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

function setup(cardinalityLimit?: number): { metrics: ReceiverMetrics; reader: CollectingReader; warnings: string[] } {
  const reader = new CollectingReader();
  const provider = new MeterProvider({ readers: [reader] });
  const warnings: string[] = [];
  const logger = createLogger({ write: (line) => warnings.push((JSON.parse(line) as { msg: string }).msg) });
  const metrics = new ReceiverMetrics(provider.getMeter('test'), { nodeName: 'node-1', ...(cardinalityLimit !== undefined && { cardinalityLimit }), logger });
  return { metrics, reader, warnings };
}

/** A kill in a Deployment's pod, the enrichment as full as it gets: pod name and UID included. */
const kill = (workload: string, timeSeconds: number, pod = `${workload}-6c8f-abcde`): EnrichedKill => ({
  kill: {
    source: 'bpf', eventId: `e-${pod}-${timeSeconds}`, timeUnixNano: BigInt(timeSeconds) * 1_000_000_000n, observedUnixNano: BigInt(timeSeconds) * 1_000_000_000n,
    constraint: 'memcg', constraintInferred: false, victim: { pid: 4242, isNamespaceInit: false }, memory: {}, cgroup: { path: '/kubepods/x', pathTruncated: false },
  },
  identity: { path: '/kubepods/x', isKubernetes: true, podUid: 'uid-1', containerId: 'c-1' },
  enrichment: {
    resource: { [Sem.k8sNamespaceName]: 'shop', [Sem.k8sPodName]: pod, [Sem.k8sPodUid]: 'uid-1', [Sem.k8sContainerName]: 'server', [Sem.containerId]: 'c-1' },
    workload: { kind: 'Deployment', name: workload },
  },
});

const points = (data: MetricData | undefined): Array<{ attributes: Record<string, unknown>; value: unknown }> =>
  (data?.dataPoints ?? []).map((p) => ({ attributes: p.attributes, value: p.value }));

describe('ReceiverMetrics', () => {
  it('counts a kill by where it died, never by pod, pid or UID, with the node on the point', async () => {
    const { metrics, reader } = setup();
    metrics.recordKill(kill('checkout', 1_800_000_000));
    metrics.recordKill(kill('checkout', 1_800_000_005, 'checkout-6c8f-zzzzz')); // another pod, same series
    const [series, ...others] = points((await reader.metrics()).get(Metric.kills));
    expect(others).toEqual([]);
    expect(series).toEqual({
      attributes: {
        [Sem.k8sNodeName]: 'node-1', [Sem.k8sNamespaceName]: 'shop', [Sem.k8sContainerName]: 'server', [Attr.workloadKind]: 'Deployment',
        [Attr.workloadName]: 'checkout', [Attr.constraint]: 'memcg', [Attr.mainProcess]: false, [Attr.source]: 'bpf',
      },
      value: 2,
    });
  });

  it('keeps the newest kill time per series: a late or replayed kill does not move it back', async () => {
    const { metrics, reader } = setup();
    metrics.recordKill(kill('checkout', 1_800_000_010));
    metrics.recordKill(kill('checkout', 1_800_000_002));
    const [stamp] = points((await reader.metrics()).get(Metric.killLastTimestamp));
    expect(stamp?.value).toBe(1_800_000_010);
    expect(stamp?.attributes).toEqual(points((await reader.metrics()).get(Metric.kills))[0]?.attributes);
  });

  it('counts missed kills by where and why, with the time they were found', async () => {
    const { metrics, reader } = setup();
    const before = Date.now() / 1000;
    metrics.recordMissed(3, 'reconciliation', { [Sem.k8sNamespaceName]: 'shop', [Sem.k8sContainerName]: 'server' });
    metrics.recordMissed(1, 'ringbuf-full');
    const collected = await reader.metrics();
    expect(points(collected.get(Metric.missedKills))).toEqual([
      { attributes: { [Sem.k8sNodeName]: 'node-1', [Sem.k8sNamespaceName]: 'shop', [Sem.k8sContainerName]: 'server', [Attr.missedReason]: 'reconciliation' }, value: 3 },
      { attributes: { [Sem.k8sNodeName]: 'node-1', [Attr.missedReason]: 'ringbuf-full' }, value: 1 },
    ]);
    for (const p of points(collected.get(Metric.missedKillLastTimestamp))) expect(p.value).toBeGreaterThanOrEqual(before);
  });

  it('puts the node on every point of every metric', async () => {
    const { metrics, reader } = setup();
    metrics.recordKill(kill('checkout', 1_800_000_000));
    metrics.recordMissed(1, 'reconciliation');
    metrics.recordReceiverEvent('export', 'delivered');
    metrics.recordSourceRestart('bpf');
    metrics.setState({ source: 'bpf', hook: 'tp_btf/mark_victim', degradedReasons: [] });
    const collected = await reader.metrics();
    expect([...collected.keys()].sort()).toEqual(Object.values(Metric).sort());
    for (const [name, data] of collected) for (const p of data.dataPoints) expect(p.attributes[Sem.k8sNodeName], name).toBe('node-1');
  });

  it('reports one heartbeat series, which follows the source when it changes', async () => {
    const { metrics, reader } = setup();
    expect((await reader.metrics()).get(Metric.receiverUp)).toBeUndefined(); // before a source runs: absent
    metrics.setState({ source: 'bpf', hook: 'tp_btf/mark_victim', degradedReasons: [] });
    expect(points((await reader.metrics()).get(Metric.receiverUp))).toEqual([{
      attributes: { [Sem.k8sNodeName]: 'node-1', [Attr.source]: 'bpf', [Attr.hook]: 'tp_btf/mark_victim', [Attr.degraded]: false, [Attr.degradedReason]: '' },
      value: 1,
    }]);
    metrics.setState({ source: 'bpf', hook: 'raw_tp/mark_victim', degradedReasons: ['unpinned', 'victim-only-hook'] });
    expect(points((await reader.metrics()).get(Metric.receiverUp))).toEqual([{
      attributes: { [Sem.k8sNodeName]: 'node-1', [Attr.source]: 'bpf', [Attr.hook]: 'raw_tp/mark_victim', [Attr.degraded]: true, [Attr.degradedReason]: 'unpinned,victim-only-hook' },
      value: 1,
    }]);
  });

  it('holds the series limit for the receiver\'s lifetime: past it, kills go to the overflow series, with one warning', async () => {
    const { metrics, reader, warnings } = setup(4);
    for (const [i, workload] of ['a', 'b', 'c'].entries()) {
      metrics.recordKill(kill(workload, 1_800_000_000 + i));
      await reader.metrics(); // separate collections: the SDK's own limit counts per collection only
    }
    metrics.recordKill(kill('d', 1_800_000_010));
    metrics.recordKill(kill('e', 1_800_000_011));
    metrics.recordKill(kill('a', 1_800_000_012)); // an existing series still counts as itself
    const kills = points((await reader.metrics()).get(Metric.kills));
    expect(kills.map((p) => [p.attributes[Attr.workloadName] ?? 'overflow', p.value])).toEqual([['a', 2], ['b', 1], ['c', 1], ['overflow', 2]]);
    expect(kills.at(-1)?.attributes).toEqual({ ...OVERFLOW_ATTRIBUTES, [Sem.k8sNodeName]: 'node-1' });
    expect(warnings.filter((w) => w.includes('reached its limit of 4 series'))).toHaveLength(1);
  });
});
