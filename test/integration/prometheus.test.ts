// A real Prometheus (Debian's 2.42) scrapes the receiver's own endpoint (OTEL_METRICS_EXPORTER=prometheus)
// while real OOM kills happen in pods the fake API server names, with the shipped alert rules loaded. What
// is checked here is what an operator's Prometheus holds: the series' names and labels as the Collector's
// Prometheus exporters would give them, exact counts, the last-kill timestamps and the heartbeat; every rule
// evaluates and every dashboard query runs.
//
// To add expectations (the alerts each kill should raise, a panel's values): the kills are the KILLS table,
// `prometheus` is ready in every `it`, and `prometheus.rules()` gives each alert's state and labels.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import { ownerRef, pod, startFakeApiServer, workload } from '../support/fake-apiserver.ts';
import type { FakeApiServer } from '../support/fake-apiserver.ts';
import { describeKernel } from '../support/kernel.ts';
import { dashboardQueries, startPrometheus } from '../support/prometheus.ts';
import type { Prometheus, Sample } from '../support/prometheus.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';
import { withScratchCgroup } from '../support/scratch.ts';

const NODE = 'node-prometheus-test';
export const RULES = 'deploy/alerts/oomkill-rules.yaml';
export const DASHBOARD = 'deploy/grafana/oomkill-dashboard.json';

/** Where the kills happen: one Deployment's pod per row, `kills` real OOM kills in its container. */
const KILLS = [
  { namespace: 'shop', deployment: 'checkout', container: 'server', kills: 3, mainProcess: false },
  { namespace: 'batch', deployment: 'report', container: 'worker', kills: 1, mainProcess: true },
] as const;

/** The Prometheus name of an attribute: what both the Collector and the receiver's endpoint make of it. */
const label = (attribute: string): string => attribute.replaceAll('.', '_');

describeKernel('a real Prometheus scraping a receiver that sees real OOM kills', () => {
  let api: FakeApiServer;
  let receiver: ReceiverProcess;
  let prometheus: Prometheus;
  let killsStarted: Date;
  let killsEnded: Date;

  beforeAll(async () => {
    api = await startFakeApiServer();
    receiver = startReceiver(['run', '--source', 'bpf', '--kubeconfig', api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))), '--pod-wait-ms', '1000'], {
      NODE_NAME: NODE,
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: '0',
    });
    const serving = await receiver.waitForLine(/serving metrics for Prometheus at /);
    const target = /http:\/\/([^/]+)\/metrics/.exec(serving)?.[1] as string;
    await receiver.waitForLine(/"source: bpf, /);
    prometheus = await startPrometheus({ targets: [target], ruleFiles: [RULES] });
    await prometheus.waitForScrape(); // the series exist before the first kill, as on a live node

    killsStarted = new Date();
    for (const row of KILLS) {
      await withScratchCgroup('prometheus', { limitMiB: 32 }, async (cgroup) => {
        const deployment = api.upsert(workload('Deployment', row.deployment, row.namespace));
        const rs = api.upsert(workload('ReplicaSet', `${row.deployment}-6c8f`, row.namespace, deployment));
        api.upsert(pod({ name: `${row.deployment}-6c8f-x1`, namespace: row.namespace, uid: cgroup.podUid, nodeName: NODE, owner: ownerRef(rs), containers: [{ name: row.container, id: cgroup.containerId }] }));
        await new Promise((r) => setTimeout(r, 300)); // the watch delivers the pod
        for (let i = 0; i < row.kills; i++) {
          await startHog(cgroup.dir, { mainProcess: row.mainProcess }).exited;
          expect(cgroup.oomKills(), 'the kernel\'s own count').toBe(i + 1);
        }
      });
    }
    killsEnded = new Date();
  }, 120_000);

  afterAll(async () => {
    await prometheus?.stop();
    expect(await receiver?.stop()).toBe(0);
    await api?.stop();
  });

  const ours = `${label(Sem.k8sNodeName)}="${NODE}",${label(Sem.k8sNamespaceName)}=~"${KILLS.map((k) => k.namespace).join('|')}"`;
  const byNamespace = (samples: Sample[]): Record<string, Sample> =>
    Object.fromEntries(samples.map((s) => [s.metric[label(Sem.k8sNamespaceName)] as string, s]));

  it('holds the exact kill count of each container, labelled by where it died and by no pod', async () => {
    const total = KILLS.reduce((sum, k) => sum + k.kills, 0);
    const samples = await prometheus.waitFor(async () => {
      const found = await prometheus.query(`oomkill_kills_total{${ours}}`);
      return found.reduce((sum, s) => sum + s.value, 0) >= total ? found : undefined;
    }, `${total} kills in oomkill_kills_total`);
    const series = byNamespace(samples);
    expect(samples).toHaveLength(KILLS.length);
    for (const row of KILLS) {
      expect(series[row.namespace]?.value, row.namespace).toBe(row.kills);
      expect(series[row.namespace]?.metric).toEqual({
        __name__: 'oomkill_kills_total',
        job: 'oomkill-receiver',
        instance: expect.any(String) as string,
        otel_scope_name: 'oomkill-receiver',
        [label(Sem.k8sNodeName)]: NODE,
        [label(Sem.k8sNamespaceName)]: row.namespace,
        [label(Sem.k8sContainerName)]: row.container,
        [label(Attr.workloadKind)]: 'Deployment',
        [label(Attr.workloadName)]: row.deployment,
        [label(Attr.constraint)]: 'memcg',
        [label(Attr.mainProcess)]: String(row.mainProcess),
        [label(Attr.source)]: 'bpf',
      });
    }
  });

  it('holds the time of the newest kill of each series in oomkill_kill_last_timestamp_seconds', async () => {
    const samples = await prometheus.waitFor(async () => {
      const found = await prometheus.query(`oomkill_kill_last_timestamp_seconds{${ours}}`);
      return found.length === KILLS.length ? found : undefined;
    }, 'a last-kill timestamp per series');
    for (const sample of samples) {
      expect(sample.value * 1000).toBeGreaterThanOrEqual(killsStarted.getTime() - 1000);
      expect(sample.value * 1000).toBeLessThanOrEqual(killsEnded.getTime() + 1000);
    }
    // The same labels as the counter's series, so that the two join one to one.
    const labels = (found: Sample[]): string[] => found.map(({ metric: { __name__: _, ...rest } }) => JSON.stringify(Object.entries(rest).sort())).sort();
    expect(labels(samples)).toEqual(labels(await prometheus.query(`oomkill_kills_total{${ours}}`)));
  });

  it('holds one heartbeat for the node: up, with its source, hook and whether it is degraded', async () => {
    const [up, ...others] = await prometheus.query(`oomkill_receiver_up{${label(Sem.k8sNodeName)}="${NODE}"}`);
    expect(others).toEqual([]);
    expect(up?.value).toBe(1);
    const m = up?.metric ?? {};
    expect(m[label(Attr.source)]).toBe('bpf');
    expect(m[label(Attr.hook)]).toMatch(/^(tp_btf|raw_tp|fentry|kprobe)\/\w+(\+(tp_btf|raw_tp|fentry|kprobe)\/\w+)*$/);
    expect(['true', 'false']).toContain(m[label(Attr.degraded)]);
    // degraded="false" exactly when there is no reason
    expect(m[label(Attr.degradedReason)] === undefined || m[label(Attr.degradedReason)] === '').toBe(m[label(Attr.degraded)] === 'false');
  });

  it('evaluates every rule of the shipped rule file without error', async () => {
    const rules = await prometheus.waitForRuleEvaluation(new Date());
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({ rule: rule.name, health: 'ok', error: '' });
  });

  it('runs every Prometheus query of the dashboard, its variables filled in, without error', async () => {
    const queries = dashboardQueries(DASHBOARD, { node: NODE, namespace: '.*', __interval: '15s', __rate_interval: '1m', __range: '15m' });
    expect(queries.length).toBeGreaterThan(0);
    const failed: string[] = [];
    for (const { panel, expr } of queries) {
      await prometheus.query(expr).catch((error: unknown) => failed.push(`${panel}: ${(error as Error).message}`));
    }
    expect(failed).toEqual([]);
  });

  it('names only series the receiver exports, under the names of contract 1', async () => {
    // Recording rules' series (level:metric:operation) are the rules' own, not the receiver's.
    const names = new Set((await prometheus.query(`{__name__=~"oomkill_[^:]+", ${label(Sem.k8sNodeName)}="${NODE}"}`)).map((s) => s.metric.__name__));
    expect([...names].sort()).toEqual(expect.arrayContaining(['oomkill_kill_last_timestamp_seconds', 'oomkill_kills_total', 'oomkill_receiver_events_total', 'oomkill_receiver_up']));
    for (const name of names) {
      expect([Metric.kills, Metric.missedKills, Metric.killLastTimestamp, Metric.missedKillLastTimestamp, Metric.receiverUp, Metric.receiverEvents, Metric.sourceRestarts]
        .some((m) => name === `${label(m)}_total` || name === `${label(m)}_seconds` || name === label(m)), name).toBe(true);
    }
  });
});
