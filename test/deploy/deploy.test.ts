// Everything under deploy/ and otel-config/ is checked as the tools that consume it would: kustomize
// builds it, the Kubernetes schema accepts every manifest, promtool checks and unit-tests the alert rules
// on series shaped as the receiver exports them, and the Collector pipelines name only declared components.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { PROMETHEUS_RULE_PATH, prometheusRule, RULES_PATH } from '../../scripts/prometheus-rule.ts';
import { hasSchema, validateManifest } from '../support/k8s-schema.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string): string => readFileSync(`${ROOT}/${path}`, 'utf8');
const built = (): Array<Record<string, unknown>> =>
  parseAllDocuments(execFileSync('kubectl', ['kustomize', `${ROOT}/deploy`], { encoding: 'utf8' })).map((d) => d.toJSON() as Record<string, unknown>);
/** Prometheus names of what src/attributes.ts exports: dots become underscores, counters get _total. */
const prom = (name: string): string => name.replaceAll('.', '_');

describe('deploy/', () => {
  it('builds with kustomize into the namespace, RBAC, DaemonSet, Collector config and PrometheusRule', () => {
    expect(built().map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'Namespace', 'PrometheusRule', 'ServiceAccount']);
  });

  it('validates every manifest against the Kubernetes schema', () => {
    const objects = built().filter((o) => hasSchema(String(o.apiVersion), String(o.kind)));
    expect(objects.length).toBe(6); // all but the PrometheusRule, a CRD
    expect(objects.flatMap(validateManifest)).toEqual([]);
  });

  it('has a schema check that catches a typo', () => {
    const daemonset = built().find((o) => o.kind === 'DaemonSet') as { spec: { template: { spec: { containers: Array<Record<string, unknown>> } } } };
    daemonset.spec.template.spec.containers[0]!.securityContxt = {};
    expect(validateManifest(daemonset as unknown as Record<string, unknown>)).toEqual(['DaemonSet.spec.template.spec.containers[0].securityContxt: unknown field for V1Container']);
  });

  it('runs the receiver unprivileged, with the loader\'s capabilities only, on every node', () => {
    const ds = built().find((o) => o.kind === 'DaemonSet') as any;
    const pod = ds.spec.template.spec;
    const receiver = pod.containers.find((c: any) => c.name === 'receiver');
    expect(receiver.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'], add: expect.arrayContaining(['BPF', 'PERFMON']) } });
    expect(receiver.securityContext.privileged).toBeUndefined();
    expect(pod.hostPID).toBeUndefined();
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(receiver.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(receiver.image).toBe(`ghcr.io/oomkill-receiver/oomkill-receiver:${JSON.parse(read('package.json')).version}`);
    expect(pod.volumes.map((v: any) => v.hostPath?.path).filter(Boolean).sort()).toEqual(['/dev/kmsg', '/sys/fs/bpf', '/sys/fs/cgroup', '/sys/kernel/btf', '/var/lib/oomkill-receiver/queue', '/var/lib/oomkill-receiver/state']);
    expect(receiver.env).toEqual(expect.arrayContaining([{ name: 'OOMKILL_SPOOL_DIR', value: '/var/lib/oomkill-receiver/spool' }, { name: 'OOMKILL_PIN_DIR', value: '/sys/fs/bpf/oomkill' }]));
  });

  it('grants exactly what the pod cache reads', () => {
    const role = built().find((o) => o.kind === 'ClusterRole') as any;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get'] },
    ]);
  });
});

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    expect(execFileSync('promtool', ['check', 'rules', RULES_PATH], { encoding: 'utf8' })).toMatch(/SUCCESS: 5 rules found/);
  });

  it('pass promtool test rules: each alert fires and stays quiet on exported series', () => {
    expect(execFileSync('promtool', ['test', 'rules', 'oomkill-rules.test.yaml'], { cwd: `${ROOT}/deploy/alerts`, encoding: 'utf8' })).toMatch(/SUCCESS/);
  });

  it('are the same in the PrometheusRule manifest', () => {
    expect(readFileSync(PROMETHEUS_RULE_PATH, 'utf8')).toBe(prometheusRule(readFileSync(RULES_PATH, 'utf8')));
  });

  it('use only series and labels the receiver exports', () => {
    const labels = new Set([Sem.k8sNamespaceName, Sem.k8sPodName, Sem.k8sContainerName, Sem.k8sNodeName, Attr.workloadKind, Attr.workloadName, Attr.constraint, Attr.mainProcess, Attr.source, Attr.missedReason].map(prom));
    const metrics = new Set([Metric.kills, Metric.missedKills].map((m) => `${prom(m)}_total`));
    const text = read('deploy/alerts/oomkill-rules.yaml') + read('deploy/alerts/oomkill-rules.test.yaml');
    for (const [, name] of text.matchAll(/\b(oomkill_[a-z_]+_total)\b/g)) expect(metrics).toContain(name);
    for (const [, label] of text.matchAll(/\b((?:k8s|oomkill)_[a-z0-9_]+)\s*(?:=|!=|=~)\s*"/g)) expect(labels).toContain(label);
  });
});

describe('Collector configs', () => {
  // The sidecar's pipelines take their exporters from environment variables: check each documented choice.
  const scenarios: Array<Record<string, string>> = [
    {},
    { OOMKILL_LOGS_EXPORTERS: '[otlphttp/loki]', OOMKILL_METRICS_EXPORTERS: '[prometheusremotewrite]' },
    { OOMKILL_LOGS_EXPORTERS: '[debug]', OOMKILL_METRICS_EXPORTERS: '[debug]' },
  ];
  const expand = (text: string, env: Record<string, string>): string =>
    text.replace(/\$\{env:([A-Z_]+)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => env[name] ?? fallback ?? '');

  for (const file of ['otel-config/collector-sidecar.yaml', 'otel-config/collector-gateway.yaml']) {
    it(`${file}: every pipeline component is declared, and every declared component is used`, () => {
      const used = new Set<string>();
      for (const env of file.includes('sidecar') ? scenarios : [{}]) {
        const config = parse(expand(read(file), env)) as Record<string, any>;
        for (const extension of config.service.extensions) {
          expect(Object.keys(config.extensions), `extension ${extension}`).toContain(extension);
          used.add(`extensions/${extension}`);
        }
        for (const [name, pipeline] of Object.entries<any>(config.service.pipelines)) {
          for (const section of ['receivers', 'processors', 'exporters']) {
            for (const component of pipeline[section] ?? []) {
              expect(Object.keys(config[section] ?? {}), `${name} ${section}`).toContain(component);
              used.add(`${section}/${component}`);
            }
          }
        }
      }
      const config = parse(expand(read(file), {})) as Record<string, any>;
      for (const section of ['receivers', 'processors', 'exporters', 'extensions']) {
        for (const component of Object.keys(config[section] ?? {})) {
          if (section === 'extensions' && component.startsWith('file_storage')) continue; // used by the queues
          expect(used, `${section}/${component} is declared but never used`).toContain(`${section}/${component}`);
        }
      }
    });
  }

  it('receives on localhost only in the sidecar, and queues on disk', () => {
    const config = parse(expand(read('otel-config/collector-sidecar.yaml'), {})) as any;
    expect(config.receivers.otlp.protocols.grpc.endpoint).toBe('localhost:4317');
    expect(config.exporters['otlp/gateway'].sending_queue.storage).toBe('file_storage/queue');
  });
});

describe('Grafana dashboard', () => {
  it('parses, and queries only the exported series and labels', () => {
    const dashboard = JSON.parse(read('deploy/grafana/oomkill-dashboard.json')) as { panels: Array<{ title: string; type: string; targets: Array<{ expr: string }> }> };
    const labels = new Set([Sem.k8sNamespaceName, Sem.k8sPodName, Sem.k8sContainerName, Sem.k8sNodeName, Attr.workloadKind, Attr.workloadName, Attr.constraint, Attr.mainProcess, Attr.missedReason, Sem.serviceName].map(prom));
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(7);
    for (const expr of exprs) {
      for (const [, name] of expr.matchAll(/\b(oomkill_[a-z_]+_total)\b/g)) expect([`${prom(Metric.kills)}_total`, `${prom(Metric.missedKills)}_total`]).toContain(name);
      const grouped = [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => (m[1] as string).split(',').map((l) => l.trim()));
      const matched = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...(m[1] as string).matchAll(/([a-z0-9_]+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1] as string));
      for (const label of [...grouped, ...matched]) expect(labels, `${label} in ${expr}`).toContain(label);
    }
    expect(dashboard.panels.map((p) => p.type)).toContain('logs');
  });
});
