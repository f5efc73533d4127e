// More distinct pods than the series limit, each OOM-killed for real, all counted where the alerts look:
// pods of Deployments have generated names, and a counter keyed by pod would spend one series per pod
// until the limit sent new kills to the overflow series, which no alert matches.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import { OVERFLOW_ATTRIBUTES } from '../../src/export/receiver-metrics.ts';
import { ownerRef, pod, startFakeApiServer, workload } from '../support/fake-apiserver.ts';
import type { FakeApiServer } from '../support/fake-apiserver.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedDataPoint } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';
import { withScratchCgroup } from '../support/scratch.ts';

const NODE = 'node-cardinality-test';
const NAMESPACE = 'churn';
/**
 * Kills elsewhere on this shared machine are seen too (the bpf source sees the node) and take a few series
 * of their own (no namespace: memcg or global, main process or not): the limit leaves room for them.
 */
const LIMIT = 8;
const DEPLOYMENTS = ['api', 'web', 'worker'];
const PODS_PER_DEPLOYMENT = 4; // 12 pods, each with its own generated name and UID: more than LIMIT

describeKernel(`more distinct pods than --metric-cardinality-limit ${LIMIT}`, () => {
  let api: FakeApiServer;
  let collector: OtlpReceiver;
  let receiver: ReceiverProcess;

  beforeAll(async () => {
    api = await startFakeApiServer();
    collector = await startOtlpReceiver();
    receiver = startReceiver(['run', '--source', 'bpf', '--kubeconfig', api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))), '--pod-wait-ms', '1000', '--metric-cardinality-limit', String(LIMIT)], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      NODE_NAME: NODE,
    });
    await receiver.waitForLine(/watching the pods of this node/);
    await receiver.waitForLine(/"source: bpf, /);
    for (const name of DEPLOYMENTS) {
      const deployment = api.upsert(workload('Deployment', name, NAMESPACE));
      const rs = api.upsert(workload('ReplicaSet', `${name}-7d9f`, NAMESPACE, deployment));
      for (let i = 0; i < PODS_PER_DEPLOYMENT; i++) {
        await withScratchCgroup('cardinality', { limitMiB: 32 }, async (cgroup) => {
          api.upsert(pod({ name: `${name}-7d9f-${cgroup.podUid.slice(0, 5)}`, namespace: NAMESPACE, uid: cgroup.podUid, nodeName: NODE, owner: ownerRef(rs), containers: [{ name: 'app', id: cgroup.containerId }] }));
          await new Promise((r) => setTimeout(r, 300)); // the watch delivers the pod
          await startHog(cgroup.dir).exited;
          expect(cgroup.oomKills(), 'the kernel\'s own count').toBe(1);
        });
      }
    }
  }, 180_000);

  afterAll(async () => {
    expect(await receiver?.stop()).toBe(0);
    await collector?.stop();
    await api?.stop();
  });

  /** The latest point of each series of `metric` in our namespace, by its attributes. */
  const latestSeries = (metric: string): ReceivedDataPoint[] => {
    const latest = new Map<string, ReceivedDataPoint>();
    for (const p of collector.dataPoints(metric)) {
      if (p.attributes[Sem.k8sNamespaceName] !== NAMESPACE) continue;
      const key = JSON.stringify(Object.entries(p.attributes).sort());
      const seen = latest.get(key);
      if (!seen || seen.timeUnixNano <= p.timeUnixNano) latest.set(key, p);
    }
    return [...latest.values()];
  };

  it('counts every kill in its workload\'s series: one series per Deployment, none per pod, no overflow', async () => {
    const total = DEPLOYMENTS.length * PODS_PER_DEPLOYMENT;
    await collector.waitForCounter(Metric.kills, total, 15_000, { [Sem.k8sNamespaceName]: NAMESPACE });
    const series = latestSeries(Metric.kills);
    expect(series.map((p) => [p.attributes[Attr.workloadName], p.value]).sort()).toEqual(DEPLOYMENTS.map((d) => [d, PODS_PER_DEPLOYMENT]).sort());
    for (const p of series) {
      expect(Object.keys(p.attributes).sort()).toEqual([
        Sem.k8sContainerName, Sem.k8sNamespaceName, Sem.k8sNodeName, Attr.constraint, Attr.source, Attr.mainProcess, Attr.workloadKind, Attr.workloadName,
      ].sort());
      expect(p.attributes[Sem.k8sNodeName]).toBe(NODE);
    }
    const overflow = Object.keys(OVERFLOW_ATTRIBUTES)[0] as string;
    expect(collector.dataPoints(Metric.kills).filter((p) => p.attributes[overflow] === true)).toEqual([]);
    expect(receiver.stderrLines().filter((l) => l.includes('reached its limit'))).toEqual([]);
  });

  it('keeps one last-kill timestamp per workload series, the time of its newest kill', async () => {
    await collector.waitForLogRecords(DEPLOYMENTS.length * PODS_PER_DEPLOYMENT, 10_000, (r) => r.resource[Sem.k8sNamespaceName] === NAMESPACE);
    const kills = latestSeries(Metric.kills);
    const stamps = latestSeries(Metric.killLastTimestamp);
    expect(stamps.map((p) => JSON.stringify(Object.entries(p.attributes).sort())).sort()).toEqual(kills.map((p) => JSON.stringify(Object.entries(p.attributes).sort())).sort());
    // The kill log records carry the kernel's time of each kill: the gauge is the newest of its workload's.
    for (const stamp of stamps) {
      const times = collector.logRecords().filter((r) => r.attributes[Attr.workloadName] === stamp.attributes[Attr.workloadName] && r.resource[Sem.k8sNamespaceName] === NAMESPACE).map((r) => r.timeUnixNano);
      expect(times).toHaveLength(PODS_PER_DEPLOYMENT);
      const newest = times.reduce((a, b) => (a > b ? a : b));
      expect(stamp.value).toBeCloseTo(Number(newest) / 1e9, 3);
    }
  });
});
