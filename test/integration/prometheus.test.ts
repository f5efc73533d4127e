// A real Prometheus (Debian's 2.42) scrapes the receiver's own endpoint while real OOM kills happen in pods
// the fake API server names, with the shipped alert rules loaded (OTEL_METRICS_EXPORTER=otlp,prometheus: the
// same metrics also leave over OTLP, so the two paths' labels are compared). What
// is checked here is what an operator's Prometheus holds: the series' names and labels as the Collector's
// Prometheus exporters would give them, exact counts, the last-kill timestamps and the heartbeat; every rule
// evaluates; the kills raise exactly the alerts they call for (state, labels, count, the query that finds
// the pods); the dashboard's panels count each kill once, over the range and interval by interval; every
// dashboard query runs.
//
// The expectations follow the KILLS table: change it, and the expected alerts and panel values follow.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import { ownerRef, pod, startFakeApiServer, workload } from '../support/fake-apiserver.ts';
import type { FakeApiServer } from '../support/fake-apiserver.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver } from '../support/otlp-receiver.ts';
import { dashboardQueries, startPrometheus } from '../support/prometheus.ts';
import type { Prometheus, RuleState, Sample } from '../support/prometheus.ts';
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
  let collector: OtlpReceiver;
  let killsStarted: Date;
  let killsEnded: Date;

  beforeAll(async () => {
    api = await startFakeApiServer();
    collector = await startOtlpReceiver();
    receiver = startReceiver(['run', '--source', 'bpf', '--kubeconfig', api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))), '--pod-wait-ms', '1000'], {
      NODE_NAME: NODE,
      OTEL_METRICS_EXPORTER: 'otlp,prometheus',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
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
    await collector?.stop();
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

  /** Resolves once Prometheus holds every kill in the counters and every rule was evaluated after that (once). */
  let counted: Promise<RuleState[]> | undefined;
  const allCounted = (): Promise<RuleState[]> => (counted ??= (async () => {
    const total = KILLS.reduce((sum, k) => sum + k.kills, 0);
    await prometheus.waitFor(async () => {
      const found = await prometheus.query(`sum(oomkill_kills_total{${ours}})`);
      return (found[0]?.value ?? 0) >= total ? true : undefined;
    }, `${total} kills in oomkill_kills_total`);
    // The counting group runs once a minute and records the minute that ended a minute before: wait for
    // an evaluation a minute after the last kill's sample.
    return prometheus.waitForRuleEvaluation(new Date(Date.now() + 60_000), 150_000);
  })());

  it('evaluates every rule of the shipped rule file without error', async () => {
    const rules = await allCounted();
    expect(rules.length).toBeGreaterThan(0);
    for (const rule of rules) expect({ rule: rule.name, health: rule.health, error: rule.lastError ?? '' }).toEqual({ rule: rule.name, health: 'ok', error: '' });
  }, 200_000);

  it('raises exactly the alerts the kills call for, firing at once, with their counts and the query that finds the pods', async () => {
    const rules = await allCounted();
    const [up] = await prometheus.query(`oomkill_receiver_up{${label(Sem.k8sNodeName)}="${NODE}"}`);
    const degraded = up?.metric[label(Attr.degraded)] === 'true';
    const namespaces = new Set<string>(KILLS.map((k) => k.namespace));
    // Other kills on this machine (other tests' cgroups, outside pods) may raise alerts of their own: ours
    // are those of our namespaces and of our node's receiver.
    const alerts = rules.filter((r) => r.type === 'alerting').flatMap((r) => (r.alerts ?? [])
      .filter((a) => namespaces.has(a.labels[label(Sem.k8sNamespaceName)] as string) || (a.labels[label(Sem.k8sNamespaceName)] === undefined && a.labels[label(Sem.k8sNodeName)] === NODE && r.name.startsWith('OOMKillReceiver')))
      .map((a) => ({ alert: r.name, state: a.state, value: Number(a.value), labels: a.labels })));
    const where = (row: (typeof KILLS)[number]): Record<string, string> => ({
      [label(Sem.k8sNamespaceName)]: row.namespace, [label(Attr.workloadKind)]: 'Deployment', [label(Attr.workloadName)]: row.deployment, [label(Sem.k8sContainerName)]: row.container,
    });
    const expected = [
      ...KILLS.map((row) => ({ alert: 'OOMKillInNamespace', state: 'firing', value: row.kills, labels: { alertname: 'OOMKillInNamespace', severity: 'warning', ...where(row), [label(Sem.k8sNodeName)]: NODE } })),
      ...KILLS.filter((row) => row.kills >= 3).map((row) => ({ alert: 'OOMKillsRepeated', state: 'firing', value: row.kills, labels: { alertname: 'OOMKillsRepeated', severity: 'critical', ...where(row) } })),
      ...KILLS.filter((row) => !row.mainProcess).map((row) => ({ alert: 'OOMKillOfChildProcess', state: 'firing', value: row.kills, labels: { alertname: 'OOMKillOfChildProcess', severity: 'warning', ...where(row), [label(Sem.k8sNodeName)]: NODE } })),
      // Degraded for 10 minutes before it fires: pending here, if this kernel's hooks give less.
      ...(degraded ? [{ alert: 'OOMKillReceiverDegraded', state: 'pending', value: expect.any(Number) as number, labels: { alertname: 'OOMKillReceiverDegraded', severity: 'warning', [label(Sem.k8sNodeName)]: NODE } }] : []),
    ];
    const order = (list: Array<{ alert: string; labels: Record<string, string> }>): string[] => list.map((a) => `${a.alert} ${JSON.stringify(Object.entries(a.labels).sort())}`).sort();
    expect(order(alerts)).toEqual(order(expected));
    for (const want of expected) expect(alerts).toContainEqual(want);
    // The annotation that finds the pods selects the kill records of exactly that workload, container and node.
    const checkout = rules.find((r) => r.name === 'OOMKillInNamespace')?.alerts?.find((a) => a.labels[label(Attr.workloadName)] === 'checkout');
    expect(checkout?.annotations.loki_query).toBe(`{service_name="oomkill-receiver", k8s_namespace_name="shop", k8s_container_name="server"} | oomkill_event_name="oomkill.kill" | oomkill_workload_kind="Deployment" | oomkill_workload_name="checkout" | k8s_node_name="${NODE}"`);
    expect(checkout?.annotations.description).toBe(`3 process(es) of container server of Deployment shop/checkout on node ${NODE} were OOM-killed in the last 5 minutes. The pods: loki_query or log_query.`);
  }, 200_000);

  it('counts each kill exactly once in the dashboard\'s panels: over its range, and interval by interval', async () => {
    await allCounted();
    const end = new Date();
    const over = (range: string, interval: string): Array<{ panel: string; expr: string }> => dashboardQueries(DASHBOARD, { node: NODE, namespace: [...new Set(KILLS.map((k) => k.namespace))].join('|'), __interval: interval, __rate_interval: '1m', __range: range });
    const panel = (queries: Array<{ panel: string; expr: string }>, title: string): string => queries.find((q) => q.panel.startsWith(title))?.expr as string;
    const queries = over('15m', '1m');
    const top = await prometheus.query(panel(queries, 'Top containers'), end);
    expect(top.map((s) => [s.metric[label(Attr.workloadName)], s.metric[label(Sem.k8sContainerName)], s.value]).sort()).toEqual(KILLS.map((k) => [k.deployment, k.container, k.kills]).sort());
    const mainVsChild = await prometheus.query(panel(queries, 'Main process vs child'), end);
    const killsWhere = (main: boolean): number => KILLS.filter((k) => k.mainProcess === main).reduce((sum, k) => sum + k.kills, 0);
    expect(Object.fromEntries(mainVsChild.map((s) => [s.metric[label(Attr.mainProcess)], s.value]))).toEqual({ true: killsWhere(true), false: killsWhere(false) });
    const constraint = await prometheus.query(panel(queries, 'Container limit (memcg)'), end);
    expect(constraint.map((s) => [s.metric[label(Attr.constraint)], s.value])).toEqual([['memcg', killsWhere(true) + killsWhere(false)]]);
    // As Grafana draws the per-interval panel: one instant query per step of the interval, from before the
    // kills to now. Each kill shows in exactly one step.
    const perStep = new Map<string, number>();
    for (let t = killsStarted.getTime() - 60_000; t <= end.getTime() + 60_000; t += 60_000) {
      for (const s of await prometheus.query(panel(queries, 'OOM kills by namespace'), new Date(t))) {
        const namespace = s.metric[label(Sem.k8sNamespaceName)] as string;
        perStep.set(namespace, (perStep.get(namespace) ?? 0) + s.value);
      }
    }
    expect(Object.fromEntries(perStep)).toEqual(Object.fromEntries(KILLS.map((k) => [k.namespace, k.kills])));
  }, 200_000);

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

  it('labels each series as the OTLP path names its attributes, the node included, so the Collector\'s path has the same', async () => {
    await collector.waitForCounter(Metric.kills, KILLS.reduce((sum, k) => sum + k.kills, 0), 10_000, { [Sem.k8sNodeName]: NODE });
    const fromOtlp = (metric: string): string[] => [...new Set(collector.dataPoints(metric)
      .filter((p) => p.attributes[Sem.k8sNodeName] === NODE && KILLS.some((k) => k.namespace === p.attributes[Sem.k8sNamespaceName]))
      .map((p) => JSON.stringify(Object.entries(p.attributes).map(([k, v]) => [label(k), String(v)]).sort())))].sort();
    const fromScrape = async (series: string): Promise<string[]> => (await prometheus.query(`${series}{${ours}}`))
      .map(({ metric: { __name__: _, job: _j, instance: _i, otel_scope_name: _s, ...rest } }) => JSON.stringify(Object.entries(rest).sort())).sort();
    expect(await fromScrape('oomkill_kills_total')).toEqual(fromOtlp(Metric.kills));
    expect(await fromScrape('oomkill_kill_last_timestamp_seconds')).toEqual(fromOtlp(Metric.killLastTimestamp));
    const [heartbeat] = collector.dataPoints(Metric.receiverUp).slice(-1);
    const [scraped] = await prometheus.query(`oomkill_receiver_up{${label(Sem.k8sNodeName)}="${NODE}"}`);
    // Prometheus drops a label whose value is empty; the OTLP attribute is '' there.
    const nonEmpty = Object.entries(heartbeat?.attributes ?? {}).filter(([, v]) => v !== '').map(([k, v]) => [label(k), String(v)]);
    const { __name__: _, job: _j, instance: _i, otel_scope_name: _s, ...labels } = scraped?.metric ?? {};
    expect(Object.entries(labels).sort()).toEqual(nonEmpty.sort());
  });
});
