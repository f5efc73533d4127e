// Everything under deploy/ and otel-config/ is checked as the tools that consume it would: the Kubernetes
// schemas accept every manifest, kustomize builds it, the receiver's own config parser accepts the
// DaemonSet's environment, promtool checks and unit-tests the alert rules on series shaped as the receiver
// exports them, the Collector pipelines name only declared components, and the dashboard's queries count
// kills right when promtool evaluates them.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { Attr, EVENT_NAME, Metric, Sem } from '../../src/attributes.ts';
import { loadConfig, SETTINGS } from '../../src/config.ts';
import { PROMETHEUS_RULE_PATH, prometheusRule, RULES_PATH } from '../../scripts/prometheus-rule.ts';
import { hasSchema, validateManifest } from '../support/k8s-schema.ts';

type Manifest = Record<string, any>;

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const packageVersion = (JSON.parse(read('package.json')) as { version: string }).version;
/** Prometheus names of what src/attributes.ts exports (OpenTelemetry's translation: dots become underscores,
 * a unit `s` adds _seconds, monotonic sums add _total), the same through the Collector and a direct scrape. */
const prom = (name: string): string => name.replaceAll('.', '_');
const counter = (name: string): string => `${prom(name)}_total`;
const seconds = (name: string): string => `${prom(name)}_seconds`;
const EXPORTED_COUNTERS = [Metric.kills, Metric.missedKills, Metric.receiverEvents, Metric.sourceRestarts].map(counter);
const EXPORTED_SERIES = [...EXPORTED_COUNTERS, seconds(Metric.killLastTimestamp), seconds(Metric.missedKillLastTimestamp), prom(Metric.receiverUp)];
/** Every label the receiver's series can carry: bounded by design, no pod name or UID (contract 1). */
const EXPORTED_LABELS = new Set(
  [Sem.k8sNodeName, Sem.k8sNamespaceName, Sem.k8sContainerName, Attr.workloadKind, Attr.workloadName, Attr.constraint, Attr.mainProcess,
    Attr.source, Attr.hook, Attr.degraded, Attr.degradedReason, Attr.missedReason, Attr.stage, Attr.outcome].map(prom),
);
/** Series from elsewhere the rules read: kube-state-metrics' list of nodes, for a receiver absent on one. */
const EXTERNAL_SERIES = ['kube_node_info'];

// ---- What `kubectl apply -k deploy/` applies, read from the sources ----------------------------------

interface PatchTarget { group?: string; kind: string; name: string }
interface Kustomization {
  resources?: string[];
  configMapGenerator?: Array<{ name: string; files: string[] }>;
  images?: Array<{ name: string; newTag: string }>;
  patches?: Array<{ target: PatchTarget; patch: string }>;
}

/** Applies a kustomization's JSON 6902 patches (the `add` and `replace` operations it uses) to its objects. */
function applyPatches(objects: Array<{ file: string; object: Manifest }>, patches: Kustomization['patches'] = []): void {
  for (const { target, patch } of patches) {
    const matching = objects.filter(({ object }) => object.kind === target.kind && object.metadata?.name === target.name
      && (target.group === undefined || String(object.apiVersion).startsWith(`${target.group}/`)));
    if (matching.length === 0) throw new Error(`patch target ${target.kind}/${target.name} matches nothing`);
    for (const { object } of matching) {
      for (const op of parse(patch) as Array<{ op: string; path: string; value: unknown }>) {
        if (op.op !== 'add' && op.op !== 'replace') throw new Error(`unsupported patch op ${op.op}`);
        const keys = op.path.split('/').slice(1).map((k) => k.replaceAll('~1', '/').replaceAll('~0', '~'));
        const last = keys.pop() as string;
        let parent: Manifest = object;
        for (const key of keys) parent = (parent[key] ??= {}) as Manifest;
        if (!Array.isArray(parent)) parent[last] = op.value;
        else if (last === '-') parent.push(op.value);
        else parent.splice(Number(last), op.op === 'add' ? 0 : 1, op.value);
      }
    }
  }
}
const kustomization = (dir: string): Kustomization => parse(read(join(dir, 'kustomization.yaml'))) as Kustomization;

/** The ConfigMaps a kustomization (or component) generates from its files. */
const generatedConfigMaps = (dir: string, k: Kustomization): Array<{ file: string; object: Manifest }> => (k.configMapGenerator ?? []).map((generator) => ({
  file: join(dir, 'kustomization.yaml'),
  object: {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: generator.name },
    data: Object.fromEntries(generator.files.map((entry) => {
      const [key, path] = entry.includes('=') ? entry.split('=') as [string, string] : [entry, entry];
      return [key, read(join(dir, path))];
    })),
  },
}));

/** The objects a kustomization's resources hold: files parsed, directories followed, ConfigMaps generated. */
function kustomizedObjects(dir: string): Array<{ file: string; object: Manifest }> {
  const k = kustomization(dir);
  const objects = [
    ...(k.resources ?? []).flatMap((resource) => {
      const path = join(dir, resource);
      if (statSync(join(ROOT, path)).isDirectory()) return kustomizedObjects(path);
      return parseAllDocuments(read(path)).map((d) => ({ file: path, object: d.toJSON() as Manifest }));
    }),
    ...generatedConfigMaps(dir, k),
  ];
  applyPatches(objects, k.patches);
  return objects;
}

/** The objects with a component enabled (`components: [name]`): its ConfigMaps added, its patches applied. */
function withComponent(base: Array<{ file: string; object: Manifest }>, dir: string): Array<{ file: string; object: Manifest }> {
  const k = kustomization(dir);
  const objects = [...structuredClone(base), ...generatedConfigMaps(dir, k)];
  applyPatches(objects, k.patches);
  return objects;
}

const GATEWAY_AUTH = 'deploy/gateway-auth';
const objects = kustomizedObjects('deploy');
const find = (kind: string, name: string): Manifest => {
  const found = objects.find((o) => o.object.kind === kind && o.object.metadata?.name === name)?.object;
  if (!found) throw new Error(`no ${kind} ${name} in deploy/`);
  return found;
};
const daemonset = find('DaemonSet', 'oomkill-receiver');
const pod = daemonset.spec.template.spec;
const container = (name: string): Manifest => pod.containers.find((c: Manifest) => c.name === name);
const receiver = container('receiver');
const sidecar = container('collector');
const gateway = find('Deployment', 'oomkill-gateway');
const envOf = (c: Manifest): Record<string, string> => Object.fromEntries((c.env ?? []).filter((e: Manifest) => 'value' in e).map((e: Manifest) => [e.name, e.value]));

/** kubernetes-models: the API's OpenAPI schemas with required fields, enums and patterns (not unknown fields). */
async function validateWithModels(object: Manifest): Promise<string[]> {
  const { apiVersion, kind } = object as { apiVersion: string; kind: string };
  const module = apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`
    : `kubernetes-models/${apiVersion}/${kind}`;
  const Model = ((await import(module)) as Record<string, new (o: Manifest) => { validate(): void }>)[kind];
  if (!Model) return [`${kind}: no schema for ${apiVersion}`];
  try {
    new Model(object).validate();
    return [];
  } catch (error) {
    return [`${kind} ${object.metadata?.name}: ${(error as Error).message}`];
  }
}

describe('deploy/ manifests', () => {
  it('list every manifest file in deploy/ in the kustomization, and every listed file exists', () => {
    const manifestFiles = (dir: string): string[] => readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return manifestFiles(path);
      return /\.ya?ml$/.test(entry.name) && entry.name !== 'kustomization.yaml' ? [path] : [];
    });
    // The plain rules file and its unit tests are Prometheus files, not Kubernetes objects.
    // The gateway-auth component's Collector configs are files of its own kustomization.
    const notKubernetes = new Set(['deploy/alerts/oomkill-rules.yaml', 'deploy/alerts/oomkill-rules.test.yaml',
      ...(kustomization(GATEWAY_AUTH).configMapGenerator ?? []).flatMap((g) => g.files.map((entry) => join(GATEWAY_AUTH, entry.split('=').at(-1) as string)))]);
    const listed = new Set(objects.map((o) => o.file));
    expect(manifestFiles('deploy').filter((f) => !notKubernetes.has(f)).sort()).toEqual([...listed].filter((f) => f.startsWith('deploy/') && !f.endsWith('kustomization.yaml')).sort());
    for (const [dir, k] of [['deploy', kustomization('deploy')], ['otel-config', kustomization('otel-config')]] as const) {
      for (const resource of k.resources ?? []) expect(existsSync(join(ROOT, dir, resource)), `${dir}/${resource}`).toBe(true);
    }
  });

  it('hold the namespace, RBAC, the receiver DaemonSet and its priority quota, the gateway and its NetworkPolicy, both Collector configs and the PrometheusRule', () => {
    expect(objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`).sort()).toEqual([
      'ClusterRole/oomkill-receiver', 'ClusterRoleBinding/oomkill-receiver', 'ConfigMap/oomkill-collector', 'ConfigMap/oomkill-gateway',
      'DaemonSet/oomkill-receiver', 'Deployment/oomkill-gateway', 'Namespace/oomkill-receiver', 'NetworkPolicy/oomkill-gateway',
      'PrometheusRule/oomkill-receiver', 'ResourceQuota/oomkill-receiver-node-critical', 'Service/oomkill-gateway', 'ServiceAccount/oomkill-receiver',
    ]);
  });

  it('validate against the Kubernetes schemas: no unknown field, every required field, every enum', async () => {
    const kubernetes = objects.filter((o) => hasSchema(String(o.object.apiVersion), String(o.object.kind)));
    expect(kubernetes.length).toBe(objects.length - 1); // all but the PrometheusRule, a CRD
    expect(kubernetes.flatMap((o) => validateManifest(o.object))).toEqual([]);
    expect((await Promise.all(objects.map((o) => validateWithModels(o.object)))).flat()).toEqual([]);
  });

  it('are checked by validators that catch a typo, a missing field and a wrong value', async () => {
    const broken = structuredClone(daemonset);
    broken.spec.template.spec.containers[0].securityContxt = {};
    delete broken.spec.template.spec.containers[1].name;
    broken.spec.template.spec.volumes[0].hostPath.type = 'Folder';
    expect(validateManifest(broken)).toEqual(['DaemonSet.spec.template.spec.containers[0].securityContxt: unknown field for V1Container']);
    const [modelErrors] = await validateWithModels(broken) as [string];
    expect(modelErrors).toMatch(/containers\/1 must have required property name.*volumes\/0\/hostPath\/type must be equal to one of the allowed values/);
    const rule = structuredClone(find('PrometheusRule', 'oomkill-receiver'));
    rule.spec.groups[0].rules[3].for = 'five minutes';
    expect(await validateWithModels(rule)).toEqual([expect.stringMatching(/rules\/3\/for must match pattern/)]);
  });

  it('run the receiver unprivileged, with only the loader\'s capabilities, on every node', () => {
    expect(receiver.securityContext).toEqual({
      runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, readOnlyRootFilesystem: true,
      // File capabilities are granted on exec only without no_new_privs.
      allowPrivilegeEscalation: true,
      capabilities: { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_RESOURCE'] },
      // SELinux (untested here): only spc_t may use bpf() under container-selinux.
      seLinuxOptions: { type: 'spc_t' },
    });
    // AppArmor: the runtime's default profile, asked for explicitly; nothing runs unconfined.
    expect(pod.securityContext).toEqual({ appArmorProfile: { type: 'RuntimeDefault' } });
    for (const c of [...pod.initContainers, ...pod.containers]) expect(c.securityContext.appArmorProfile, c.name).toBeUndefined();
    expect(pod.hostPID).toBeUndefined();
    expect(pod.hostNetwork).toBeUndefined();
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.priorityClassName).toBe('system-node-critical');
    expect(receiver.env).toContainEqual({ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    for (const c of [...pod.containers, ...gateway.spec.template.spec.containers].filter((c: Manifest) => c !== receiver)) {
      expect(c.securityContext, c.name).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.securityContext.capabilities.add, c.name).toBeUndefined();
    }
  });

  it('mount the host paths the receiver reads and the state it keeps, and no others', () => {
    const hostPaths = Object.fromEntries(pod.volumes.filter((v: Manifest) => v.hostPath).map((v: Manifest) => [v.name, v.hostPath.path]));
    expect(Object.values(hostPaths).sort()).toEqual(['/dev/kmsg', '/sys/fs/bpf/oomkill', '/sys/fs/cgroup', '/sys/kernel/btf', '/var/lib/oomkill-receiver/queue', '/var/lib/oomkill-receiver/state']);
    const mounts = Object.fromEntries(receiver.volumeMounts.map((m: Manifest) => [hostPaths[m.name] ?? m.name, { at: m.mountPath, readOnly: m.readOnly === true }]));
    expect(mounts).toEqual({
      '/sys/kernel/btf': { at: '/sys/kernel/btf', readOnly: true },
      // Pins the program and ring buffer: a directory of bpffs as the mount's root, so that uid 65532 need
      // not search /sys/fs/bpf (mode 0700), and outside /sys/fs, where AppArmor's default denies writes.
      '/sys/fs/bpf/oomkill': { at: '/run/oomkill-receiver/pins', readOnly: false },
      '/dev/kmsg': { at: '/dev/kmsg', readOnly: true },
      '/sys/fs/cgroup': { at: '/sys/fs/cgroup', readOnly: true },
      '/var/lib/oomkill-receiver/state': { at: '/var/lib/oomkill-receiver', readOnly: false },
      tmp: { at: '/tmp', readOnly: false },
    });
  });

  it('give each unprivileged container the host directories it writes, owned by its own user', () => {
    const [init] = pod.initContainers as [Manifest];
    const script = init.command.join(' ');
    const mountOf = (c: Manifest, volume: string): string => c.volumeMounts.find((m: Manifest) => m.name === volume).mountPath;
    const owns = (uid: number, path: string): void => expect(script).toMatch(new RegExp(`chown ${uid}:${uid} [^&]*${path.replaceAll('/', '\\/')}(\\s|$)`));
    owns(receiver.securityContext.runAsUser, `${mountOf(init, 'state')}/spool`);
    owns(receiver.securityContext.runAsUser, mountOf(init, 'pins'));
    // Under AppArmor's runtime default nothing may be created or changed under /sys/fs (but cgroup).
    for (const c of [...pod.initContainers, ...pod.containers]) {
      for (const m of c.volumeMounts.filter((m: Manifest) => !m.readOnly)) expect(m.mountPath, `${c.name} ${m.name}`).not.toMatch(/^\/sys\//);
    }
    expect(init.securityContext.capabilities).toEqual({ drop: ['ALL'], add: ['CHOWN', 'FOWNER'] });
    owns(sidecar.securityContext.runAsUser, mountOf(init, 'queue'));
    expect(mountOf(sidecar, 'queue')).toBe(parse(read('otel-config/collector-sidecar.yaml')).extensions['file_storage/queue'].directory);
  });

  it('configure the receiver with settings its config parser accepts, and probe what it serves', () => {
    const env = envOf(receiver);
    const known = new Set(Object.values(SETTINGS).flatMap((s) => ('env' in s ? [s.env] : [])));
    for (const name of Object.keys(env).filter((n) => n.startsWith('OOMKILL_'))) expect(known, name).toContain(name);
    const config = loadConfig(receiver.args, { ...env, NODE_NAME: 'node-1', KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' });
    expect(config).toMatchObject({ command: 'run', source: 'auto', nodeName: 'node-1', kubernetes: { enabled: true }, export: { mode: 'otlp' } });
    expect(config.export.spoolDir?.startsWith('/var/lib/oomkill-receiver/')).toBe(true);
    expect(config.bpf.pinDir).toBe(receiver.volumeMounts.find((m: Manifest) => m.name === 'pins').mountPath);
    const port = receiver.ports.find((p: Manifest) => p.name === 'health').containerPort;
    expect(config.health?.port).toBe(port);
    expect(receiver.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'health' });
    expect(receiver.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'health' });
    // The SDK sends to the sidecar's OTLP receiver.
    const otlp = parse(read('otel-config/collector-sidecar.yaml')).receivers.otlp.protocols.grpc.endpoint as string;
    expect(env.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://${otlp}`);
    expect(env.OTEL_SERVICE_NAME).toBe('oomkill-receiver');
  });

  it('pin each image\'s version once, the receiver\'s to package.json\'s', () => {
    const images = [...pod.initContainers, ...pod.containers, ...gateway.spec.template.spec.containers].map((c: Manifest) => c.image as string);
    for (const image of images) expect(image, 'the tag is set in kustomization.yaml').not.toMatch(/:/);
    expect(kustomization('deploy').images).toEqual([
      { name: 'ghcr.io/oomkill-receiver/oomkill-receiver', newTag: packageVersion },
      { name: 'otel/opentelemetry-collector-contrib', newTag: expect.stringMatching(/^0\.\d+\.\d+$/) },
    ]);
  });

  it('mount each Collector\'s own config and Secret, and route the sidecars to the gateway\'s Service', () => {
    const configOf = (spec: Manifest): string => spec.volumes.find((v: Manifest) => v.configMap).configMap.name;
    expect(configOf(pod)).toBe('oomkill-collector');
    expect(configOf(gateway.spec.template.spec)).toBe('oomkill-gateway');
    for (const [c, file, secret] of [[sidecar, 'collector-sidecar.yaml', 'oomkill-receiver-backends'], [gateway.spec.template.spec.containers[0], 'collector-gateway.yaml', 'oomkill-gateway-backends']] as const) {
      expect(c.args).toEqual(['--config=/conf/collector.yaml']);
      expect(c.envFrom).toEqual([{ secretRef: { name: secret, optional: true } }]);
      expect(read(`otel-config/${file}`)).toContain(`Secret ${secret}`);
    }
    const service = find('Service', 'oomkill-gateway');
    const defaultGateway = /\$\{env:OTLP_GATEWAY_ENDPOINT:-([^}]*)\}/.exec(read('otel-config/collector-sidecar.yaml'))?.[1];
    expect(defaultGateway).toBe(`${service.metadata.name}:${service.spec.ports[0].port}`);
    expect(service.spec.selector).toEqual(gateway.spec.template.metadata.labels);
  });

  it('grant exactly what the pod cache and the cluster UID read', () => {
    expect(find('ClusterRole', 'oomkill-receiver').rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] },
      { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get'] },
      { apiGroups: ['batch'], resources: ['jobs'], verbs: ['get'] },
      { apiGroups: [''], resources: ['namespaces'], resourceNames: ['kube-system'], verbs: ['get'] },
    ]);
    expect(find('ClusterRoleBinding', 'oomkill-receiver').subjects).toEqual([{ kind: 'ServiceAccount', name: pod.serviceAccountName, namespace: 'oomkill-receiver' }]);
  });
});

describe('deploy/ manifests: what a cluster admits and who may write', () => {
  it('admit to the gateway\'s OTLP port only the DaemonSet\'s pods, and nothing else to the gateway', () => {
    const policy = find('NetworkPolicy', 'oomkill-gateway');
    expect(policy.spec.podSelector.matchLabels).toEqual(gateway.spec.template.metadata.labels);
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    // One rule: from pods with the DaemonSet's labels in this namespace (no namespaceSelector), to the OTLP port.
    expect(policy.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: daemonset.spec.template.metadata.labels } }], ports: [{ protocol: 'TCP', port: 'otlp-grpc' }] }]);
    const otlp = gateway.spec.template.spec.containers[0].ports.find((p: Manifest) => p.name === 'otlp-grpc');
    expect(otlp.containerPort).toBe(Number(/:(\d+)$/.exec(parse(read('otel-config/collector-gateway.yaml')).receivers.otlp.protocols.grpc.endpoint)?.[1]));
    // The gateway's labels are not the DaemonSet's: the policy does not admit the gateway's own replicas.
    expect(gateway.spec.template.metadata.labels).not.toEqual(daemonset.spec.template.metadata.labels);
  });

  it('carry the ResourceQuota GKE needs to admit the DaemonSet\'s priority class outside kube-system, far above one pod per node', () => {
    const quota = find('ResourceQuota', 'oomkill-receiver-node-critical');
    expect(quota.spec.scopeSelector.matchExpressions).toEqual([{ scopeName: 'PriorityClass', operator: 'In', values: [pod.priorityClassName] }]);
    expect(quota.spec.hard.pods).toBe('100k');
  });
});

describe('deploy/gateway-auth: TLS and a bearer token between the sidecars and the gateway, as a component', () => {
  const enabled = withComponent(objects, GATEWAY_AUTH);
  const get = (kind: string, name: string): Manifest => enabled.find((o) => o.object.kind === kind && o.object.metadata?.name === name)?.object as Manifest;
  const authedGateway = get('Deployment', 'oomkill-gateway').spec.template.spec;
  const authedPod = get('DaemonSet', 'oomkill-receiver').spec.template.spec;
  const gatewayCollector = authedGateway.containers[0] as Manifest;
  const sidecarCollector = authedPod.containers.find((c: Manifest) => c.name === 'collector') as Manifest;
  /** The Collector's merge of its --config files: maps merged key by key, anything else replaced. */
  const merge = (base: unknown, over: unknown): unknown => {
    if (typeof base !== 'object' || base === null || Array.isArray(base) || typeof over !== 'object' || over === null || Array.isArray(over)) return over;
    const out: Manifest = { ...(base as Manifest) };
    for (const [key, value] of Object.entries(over as Manifest)) out[key] = key in out ? merge(out[key], value) : value;
    return out;
  };
  /** A container's effective Collector config: each --config file, from the ConfigMap mounted where it points. */
  const effectiveConfig = (spec: Manifest, container: Manifest): Manifest => (container.args as string[]).map((arg) => {
    const path = arg.replace('--config=', '');
    const mount = container.volumeMounts.find((m: Manifest) => path.startsWith(`${m.mountPath}/`));
    const volume = spec.volumes.find((v: Manifest) => v.name === mount.name);
    return parse(expand(get('ConfigMap', volume.configMap.name).data[path.slice(mount.mountPath.length + 1)], {})) as Manifest;
  }).reduce((a, b) => merge(a, b) as Manifest);
  /** The Secret key a container sees at a file path. */
  const secretAt = (spec: Manifest, container: Manifest, path: string): string => {
    const mount = container.volumeMounts.find((m: Manifest) => path.startsWith(`${m.mountPath}/`));
    const secret = spec.volumes.find((v: Manifest) => v.name === mount?.name)?.secret;
    if (!secret) return `no Secret at ${path}`;
    const file = path.slice(mount.mountPath.length + 1);
    const key = (secret.items as Array<{ key: string; path: string }> | undefined)?.find((i) => i.path === file)?.key ?? file;
    return `${secret.secretName}/${key}`;
  };

  it('is off by default, and named where it is switched on', () => {
    expect(read('deploy/kustomization.yaml')).toMatch(/^# components:\n#\s+- gateway-auth$/m);
    expect(kustomization(GATEWAY_AUTH)).toMatchObject({ kind: 'Component' });
  });

  it('patches valid objects: the Kubernetes schemas accept them, the patched container is the sidecar Collector', async () => {
    expect(enabled.flatMap((o) => (hasSchema(String(o.object.apiVersion), String(o.object.kind)) ? validateManifest(o.object) : []))).toEqual([]);
    expect((await Promise.all(enabled.map((o) => validateWithModels(o.object)))).flat()).toEqual([]);
    expect(authedPod.containers[1].name).toBe('collector');
    expect(gatewayCollector.args).toEqual(['--config=/conf/collector.yaml', '--config=/conf-auth/collector.yaml']);
    expect(sidecarCollector.args).toEqual(['--config=/conf/collector.yaml', '--config=/conf-auth/collector.yaml']);
  });

  it('makes the gateway serve TLS from the certificate Secret and admit only the token', () => {
    const config = effectiveConfig(authedGateway, gatewayCollector);
    const grpc = config.receivers.otlp.protocols.grpc;
    expect(grpc.endpoint).toBe('0.0.0.0:4317');
    expect(secretAt(authedGateway, gatewayCollector, grpc.tls.cert_file)).toBe('oomkill-gateway-tls/tls.crt');
    expect(secretAt(authedGateway, gatewayCollector, grpc.tls.key_file)).toBe('oomkill-gateway-tls/tls.key');
    const authenticator = grpc.auth.authenticator as string;
    expect(authenticator.startsWith('bearertokenauth/')).toBe(true);
    expect(secretAt(authedGateway, gatewayCollector, config.extensions[authenticator].filename)).toBe('oomkill-gateway-token/token');
    // The extensions list replaces the base's: it keeps every one of them and adds the authenticator.
    const base = parse(expand(read('otel-config/collector-gateway.yaml'), {})) as Manifest;
    expect(config.service.extensions).toEqual([...base.service.extensions, authenticator]);
  });

  it('makes the sidecars verify the gateway against the CA and send the same token', () => {
    const config = effectiveConfig(authedPod, sidecarCollector);
    const exporter = config.exporters['otlp/gateway'];
    expect(exporter.endpoint).toBe('oomkill-gateway:4317');
    expect(exporter.tls.insecure).toBe(false);
    expect(secretAt(authedPod, sidecarCollector, exporter.tls.ca_file)).toBe('oomkill-gateway-tls/ca.crt');
    const text = read(`${GATEWAY_AUTH}/sidecar-auth.yaml`);
    const variable = /authorization: Bearer \$\{env:([A-Z_]+)\}/.exec(text)?.[1];
    expect(sidecarCollector.env).toContainEqual({ name: variable, valueFrom: { secretKeyRef: { name: 'oomkill-gateway-token', key: 'token' } } });
    // The gateway's own Secret stays where it was; the sidecars read the certificate's CA only.
    expect(authedPod.volumes.find((v: Manifest) => v.secret?.secretName === 'oomkill-gateway-tls').secret.items).toEqual([{ key: 'ca.crt', path: 'ca.crt' }]);
  });

  it('is documented with the Secrets it needs', () => {
    const readme = read('deploy/README.md');
    for (const name of ['oomkill-gateway-tls', 'oomkill-gateway-token', 'gateway-auth', 'tls.crt', 'tls.key', 'ca.crt', 'NetworkPolicy']) expect(readme, name).toContain(name);
  });
});

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
describe.skipIf(!kubectl)('kubectl kustomize deploy/ (skipped where kubectl is not installed)', () => {
  const built = (): Manifest[] => parseAllDocuments(execFileSync('kubectl', ['kustomize', join(ROOT, 'deploy')], { encoding: 'utf8' })).map((d) => d.toJSON() as Manifest);

  it('builds the same objects, all in the namespace, with versioned images and the generated ConfigMaps mounted', () => {
    const result = built();
    expect(result.map((o) => `${o.kind}/${o.metadata.name.replace(/-[a-z0-9]{10}$/, '')}`).sort()).toEqual(objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`).sort());
    for (const o of result.filter((o) => !o.kind.startsWith('Cluster') && o.kind !== 'Namespace')) expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('oomkill-receiver');
    const configMaps = new Set(result.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name));
    for (const workload of result.filter((o) => o.kind === 'DaemonSet' || o.kind === 'Deployment')) {
      const spec = workload.spec.template.spec;
      for (const c of [...(spec.initContainers ?? []), ...spec.containers]) expect(c.image, c.name).toMatch(/:\d+\.\d+\.\d+$/);
      for (const v of spec.volumes.filter((v: Manifest) => v.configMap)) expect(configMaps).toContain(v.configMap.name);
    }
    expect(result.flatMap((o) => (hasSchema(o.apiVersion, o.kind) ? validateManifest(o) : []))).toEqual([]);
    expect(result.find((o) => o.kind === 'PrometheusRule')?.metadata.labels.release).toBe('kube-prometheus-stack');
  });

  it('builds with the gateway-auth component switched on as deploy/kustomization.yaml says, as the test above models it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oomkill-kustomize-'));
    try {
      cpSync(join(ROOT, 'deploy'), join(dir, 'deploy'), { recursive: true });
      cpSync(join(ROOT, 'otel-config'), join(dir, 'otel-config'), { recursive: true });
      const file = join(dir, 'deploy/kustomization.yaml');
      writeFileSync(file, readFileSync(file, 'utf8').replace(/^# components:\n#(\s+- gateway-auth)$/m, 'components:\n$1'));
      const result = parseAllDocuments(execFileSync('kubectl', ['kustomize', join(dir, 'deploy')], { encoding: 'utf8' })).map((d) => d.toJSON() as Manifest);
      const modelled = withComponent(objects, GATEWAY_AUTH);
      const unhash = (name: string): string => name.replace(/-[a-z0-9]{10}$/, '');
      for (const kind of ['Deployment', 'DaemonSet']) {
        const built = result.find((o) => o.kind === kind)?.spec.template.spec as Manifest;
        const expected = modelled.find((o) => o.object.kind === kind)?.object.spec.template.spec as Manifest;
        const collector = (spec: Manifest): Manifest => spec.containers.find((c: Manifest) => c.name === 'collector');
        expect(collector(built).args, kind).toEqual(collector(expected).args);
        expect(collector(built).env, kind).toEqual(collector(expected).env);
        expect(collector(built).volumeMounts, kind).toEqual(collector(expected).volumeMounts);
        const volumes = (spec: Manifest): Manifest[] => spec.volumes.map((v: Manifest) => (v.configMap ? { ...v, configMap: { name: unhash(v.configMap.name) } } : v));
        expect(volumes(built), kind).toEqual(volumes(expected));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- Alert rules ------------------------------------------------------------------------------------

interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
const rules = (parse(read('deploy/alerts/oomkill-rules.yaml')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert);
/** The labels an alert groups by, and so carries. */
const groupedBy = (rule: Rule): string[] => (/by \(([^)]*)\)/.exec(rule.expr)?.[1] ?? '').split(',').map((l) => l.trim()).filter(Boolean);

describe('alert rules', () => {
  it('pass promtool check rules', () => {
    expect(execFileSync('promtool', ['check', 'rules', RULES_PATH], { encoding: 'utf8' })).toMatch(new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('pass promtool test rules: each alert fires and stays quiet on exported series, across gaps and restarts', () => {
    const result = spawnSync('promtool', ['test', 'rules', 'oomkill-rules.test.yaml'], { cwd: join(ROOT, 'deploy/alerts'), encoding: 'utf8' });
    expect(result.stdout + result.stderr).toMatch(/SUCCESS/);
    expect(result.status).toBe(0);
  });

  it('have unit tests for every alert, each firing and staying quiet, and for every case issue 13 names', () => {
    const tests = (parse(read('deploy/alerts/oomkill-rules.test.yaml')) as { tests: Array<{ name: string; alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }> }).tests;
    const cases = tests.flatMap((t) => t.alert_rule_test);
    for (const { alert } of alerts) {
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length > 0), `${alert} fires`).toBe(true);
      expect(cases.some((c) => c.alertname === alert && c.exp_alerts.length === 0), `${alert} stays quiet`).toBe(true);
    }
    const names = tests.map((t) => t.name).join('\n');
    for (const topic of [/outage \(longer than every window\)/, /receiver restart, then a kill 1, 5, 7 and 12 minutes later/, /first kill in a new container/, /node .* comes back/,
      /burst/, /repeated kills/, /child-process kills/, /global OOMs/, /missed kills/, /without a heartbeat for 10 minutes/, /no heartbeat from any node/, /degraded for 10 minutes .* still at 15/]) {
      expect(names).toMatch(topic);
    }
  });

  it('alert on kills by when they happened (the last-kill gauges), so no earlier sample is needed', () => {
    for (const rule of rules.filter((r) => r.record?.includes(':last'))) expect(rule.expr, rule.record).toMatch(/and \(time\(\) - oomkill_(missed_)?kill_last_timestamp_seconds < \d+\)/);
    for (const rule of alerts.filter((r) => /oomkill_(missed_)?kills[:_]/.test(r.expr))) {
      expect(rule.expr, rule.alert).toMatch(/oomkill_(missed_)?kills:last\d+m/);
      expect(rule.for, rule.alert).toBeUndefined();
    }
  });

  it('say where a kill happened, down to workload, container and node, and how to find the pods from the kill records', () => {
    const service = envOf(receiver).OTEL_SERVICE_NAME;
    const attribute = new Map([Sem.k8sNodeName, Sem.k8sNamespaceName, Sem.k8sContainerName, Attr.workloadKind, Attr.workloadName].map((a) => [prom(a), a]));
    const killAlerts = alerts.filter((r) => r.expr.includes('oomkill_kills:'));
    expect(killAlerts.map((r) => r.alert)).toEqual(['OOMKillInNamespace', 'OOMKillsRepeated', 'OOMKillOfChildProcess', 'NodeOOMKill']);
    for (const rule of alerts.filter((r) => /oomkill_(missed_)?kills:/.test(r.expr))) {
      for (const annotation of ['summary', 'description']) {
        for (const label of [Sem.k8sNamespaceName, Attr.workloadName, Sem.k8sContainerName]) expect(rule.annotations?.[annotation], `${rule.alert} ${annotation}`).toContain(`$labels.${prom(label)}`);
      }
      expect(groupedBy(rule), rule.alert).not.toContain(prom(Sem.k8sPodName));
    }
    for (const rule of killAlerts) {
      const loki = rule.annotations?.loki_query ?? '';
      const generic = rule.annotations?.log_query ?? '';
      // As otel-config sends the records to Loki: the resource attributes Loki indexes by default select the
      // streams, the record's event name (which the sidecar copies to an attribute) and the rest filter.
      expect(loki, rule.alert).toMatch(new RegExp(`^\\{${prom(Sem.serviceName)}="${service}", ${prom(Sem.k8sNamespaceName)}="[^"]*", ${prom(Sem.k8sContainerName)}="[^"]*"\\} \\| ${prom(Attr.eventName)}="${EVENT_NAME}"`));
      expect(generic, rule.alert).toMatch(new RegExp(`^${Attr.eventName}="${EVENT_NAME}" `));
      expect(generic, rule.alert).toContain(Sem.k8sPodName);
      // Every label the alert carries selects the records, in both forms.
      for (const label of groupedBy(rule)) {
        expect(loki, `${rule.alert} ${label}`).toContain(`${label}="{{ $labels.${label} }}"`);
        expect(generic, `${rule.alert} ${label}`).toContain(`${attribute.get(label)}="{{ $labels.${label} }}"`);
      }
    }
    // Missed kills have no record: the receivers' own log on the node, and the candidate pods.
    const missed = alerts.find((r) => r.alert === 'OOMKillsMissed') as Rule;
    const selector = Object.entries(daemonset.spec.selector.matchLabels as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(',');
    expect(missed.annotations?.receiver_logs).toContain(`-l ${selector} --field-selector spec.nodeName={{ $labels.k8s_node_name }}`);
    expect(missed.annotations?.pods).toContain('--field-selector spec.nodeName={{ $labels.k8s_node_name }}');
  });

  it('watch the heartbeat: a node without a receiver, none anywhere, a receiver degraded for 10 minutes (issue 13; so also at 15, issue 11)', () => {
    const byName = (name: string): Rule => alerts.find((r) => r.alert === name) as Rule;
    expect(byName('OOMKillReceiverAbsent').expr).toMatch(/kube_node_info[\s\S]*unless on \(k8s_node_name\)[\s\S]*max_over_time\(oomkill_receiver_up\[10m\]\)/);
    expect(byName('OOMKillReceiversAbsent').expr).toBe('absent_over_time(oomkill_receiver_up[10m])');
    expect(byName('OOMKillReceiverDegraded').for).toBe('10m');
    for (const name of ['OOMKillReceiverAbsent', 'OOMKillReceiverDegraded']) expect(byName(name).annotations?.summary).toContain('$labels.k8s_node_name');
  });

  it('are the same in the PrometheusRule manifest', () => {
    expect(readFileSync(PROMETHEUS_RULE_PATH, 'utf8')).toBe(prometheusRule(readFileSync(RULES_PATH, 'utf8')));
  });

  it('use only series and labels the receiver exports', () => {
    const known = new Set([...EXPORTED_SERIES, ...EXTERNAL_SERIES]);
    for (const rule of rules) {
      for (const [, name] of rule.expr.matchAll(/\b((?:oomkill|kube)_[a-z0-9_]+)\b(?![:\w])/g)) {
        if (!EXPORTED_LABELS.has(name as string)) expect(known, `${name} in ${rule.alert ?? rule.record}`).toContain(name);
      }
    }
    const tests = read('deploy/alerts/oomkill-rules.test.yaml');
    for (const [, name] of tests.matchAll(/series: '([a-z_]+)\{/g)) expect(known).toContain(name);
    // Loki's queries select records by their attributes, not series: they are checked with the kill alerts.
    const text = (read('deploy/alerts/oomkill-rules.yaml') + tests).split('\n').filter((line) => !line.includes('loki_query:')).join('\n');
    for (const [, label] of text.matchAll(/\b((?:k8s|oomkill)_[a-z0-9_]+)\s*(?:=|!=|=~)\s*"/g)) expect(EXPORTED_LABELS).toContain(label);
    for (const [, label] of text.matchAll(/\$labels\.([a-z0-9_]+)/g)) expect(EXPORTED_LABELS).toContain(label);
  });
});

// ---- Collector configs -------------------------------------------------------------------------------

const expand = (text: string, env: Record<string, string>): string =>
  text.replace(/\$\{env:([A-Z_]+)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => env[name] ?? fallback ?? '');
/** The variables a config's header documents, `#   NAME  what it is`. */
const documented = (text: string): Map<string, string> => new Map([...text.matchAll(/^#\s+([A-Z][A-Z0-9_]+)\s+(.*)$/gm)].map((m) => [m[1] as string, m[2] as string]));

describe('Collector configs', () => {
  for (const file of ['otel-config/collector-sidecar.yaml', 'otel-config/collector-gateway.yaml']) {
    const text = read(file);
    const docs = documented(text);
    // Each documented choice of exporters: the default and every alternative the header names.
    const scenarios: Array<Record<string, string>> = [{}];
    for (const [name, doc] of docs) {
      const choice = /^YAML list, default \[([^\]]*)\]; also (.*)$/.exec(doc);
      if (!choice) continue;
      for (const exporter of (choice[2] as string).split(',').map((e) => e.trim())) scenarios.push({ [name]: `[${exporter}]` });
    }

    it(`${file}: every env variable it reads is documented in its header, and every documented one is read`, () => {
      const read = new Set([...text.matchAll(/\$\{env:([A-Z_]+)/g)].map((m) => m[1] as string));
      expect([...read].sort()).toEqual([...docs.keys()].sort());
    });

    it(`${file}: every pipeline component is declared, and every declared component is used by a documented choice`, () => {
      expect(scenarios.length).toBeGreaterThan(2);
      const used = new Set<string>();
      for (const env of scenarios) {
        const config = parse(expand(text, env)) as Manifest;
        for (const extension of config.service.extensions) {
          expect(Object.keys(config.extensions), `extension ${extension}`).toContain(extension);
          used.add(`extensions/${extension}`);
        }
        for (const [name, pipeline] of Object.entries<Manifest>(config.service.pipelines)) {
          expect(pipeline.receivers?.length, `${name} receivers`).toBeGreaterThan(0);
          expect(pipeline.exporters?.length, `${name} exporters`).toBeGreaterThan(0);
          for (const section of ['receivers', 'processors', 'exporters']) {
            for (const component of pipeline[section] ?? []) {
              expect(Object.keys(config[section] ?? {}), `${JSON.stringify(env)}: ${name} ${section}`).toContain(component);
              used.add(`${section}/${component}`);
            }
          }
          // memory_limiter first, batch last: the Collector's documented order.
          expect(pipeline.processors[0], name).toBe('memory_limiter');
          expect(pipeline.processors.at(-1), name).toBe('batch');
        }
        // A queue's storage is an extension the service starts.
        for (const [name, exporter] of Object.entries<Manifest>(config.exporters)) {
          const storage = exporter.sending_queue?.storage as string | undefined;
          if (storage) expect(config.service.extensions, `${name} queue`).toContain(storage);
        }
      }
      const config = parse(expand(text, {})) as Manifest;
      for (const section of ['receivers', 'processors', 'exporters', 'extensions']) {
        for (const component of Object.keys(config[section] ?? {})) expect(used, `${section}/${component} is declared but never used`).toContain(`${section}/${component}`);
      }
    });

    it(`${file}: queues every OTLP export on disk and keeps retrying`, () => {
      const config = parse(expand(text, {})) as Manifest;
      for (const [name, exporter] of Object.entries<Manifest>(config.exporters).filter(([n]) => n.startsWith('otlp'))) {
        expect(exporter.sending_queue?.storage, name).toBe('file_storage/queue');
        expect(exporter.retry_on_failure, name).toEqual({ enabled: true, max_elapsed_time: 0 });
      }
      expect(config.exporters.prometheusremotewrite.resource_to_telemetry_conversion).toEqual({ enabled: true });
    });
  }

  it('sidecar: receives on localhost only, and gives Loki the kill records\' event name as an attribute', () => {
    const config = parse(expand(read('otel-config/collector-sidecar.yaml'), {})) as Manifest;
    expect(Object.values<Manifest>(config.receivers.otlp.protocols).map((p) => p.endpoint)).toEqual(['localhost:4317']);
    const statements = config.processors['transform/event-name'].log_statements.flatMap((s: Manifest) => s.statements);
    expect(statements).toEqual([`set(log.attributes["${Attr.eventName}"], log.event_name) where log.event_name != ""`]);
  });
});

// ---- Grafana dashboard -------------------------------------------------------------------------------

interface Panel { title: string; type: string; datasource: { uid: string }; targets: Array<{ expr: string; datasource: { uid: string } }> }
const dashboard = JSON.parse(read('deploy/grafana/oomkill-dashboard.json')) as { panels: Panel[]; templating: { list: Array<{ name: string; type: string; query: unknown }> } };
const promQueries = dashboard.panels.filter((p) => p.type !== 'logs').flatMap((p) => p.targets.map((t) => ({ title: p.title, expr: t.expr })));

describe('Grafana dashboard', () => {
  it('takes its data sources from variables', () => {
    expect(dashboard.templating.list.filter((v) => v.type === 'datasource').map((v) => [v.name, v.query])).toEqual([['prometheus', 'prometheus'], ['loki', 'loki']]);
    for (const panel of dashboard.panels) {
      const uid = panel.type === 'logs' ? '${loki}' : '${prometheus}';
      expect(panel.datasource.uid, panel.title).toBe(uid);
      for (const target of panel.targets) expect(target.datasource.uid, panel.title).toBe(uid);
    }
  });

  it('shows kills by namespace and workload, top containers, main vs child, memcg vs global, missed kills, and the kill records', () => {
    const grouped = (expr: string): string => /^(?:topk\(\d+, )?sum by \(([^)]*)\)/.exec(expr)?.[1] ?? '';
    expect(promQueries.map((q) => grouped(q.expr))).toEqual(expect.arrayContaining([
      prom(Sem.k8sNamespaceName),
      [Sem.k8sNamespaceName, Attr.workloadKind, Attr.workloadName].map(prom).join(', '),
      [Sem.k8sNamespaceName, Attr.workloadKind, Attr.workloadName, Sem.k8sContainerName].map(prom).join(', '),
      prom(Attr.mainProcess),
      prom(Attr.constraint),
    ]));
    expect(promQueries.some((q) => q.expr.includes('oomkill_missed_kills:new'))).toBe(true);
    expect(promQueries.some((q) => q.expr.includes(prom(Metric.receiverUp)))).toBe(true);
    expect(dashboard.panels.filter((p) => p.type === 'logs')).toHaveLength(1);
  });

  it('queries only the exported series and labels', () => {
    const variables = new Set(dashboard.templating.list.map((v) => v.name));
    for (const { title, expr } of promQueries) {
      for (const [, name] of expr.matchAll(/\b(oomkill_[a-z_]+)\b(?![:\w])/g)) if (!EXPORTED_LABELS.has(name as string)) expect(EXPORTED_SERIES, title).toContain(name);
      const grouped = [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => (m[1] as string).split(',').map((l) => l.trim()));
      const matched = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...(m[1] as string).matchAll(/([a-z0-9_]+)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1] as string));
      for (const label of [...grouped, ...matched]) expect(EXPORTED_LABELS, `${label} in ${title}`).toContain(label);
      for (const [, variable] of expr.matchAll(/\$([a-z]\w*)/g)) expect(variables, title).toContain(variable);
    }
  });

  it('counts kills exactly: promtool evaluates its queries, with the shipped rules, on exported series through births, a gap, a restart and a burst', () => {
    // Variables as Grafana renders them for a 30-minute range seen at its end. Grafana's steps fall between
    // rule evaluations (Prometheus offsets each group's), hence the evaluations at :30 below.
    const render = (expr: string): string => expr.replaceAll('$__range', '30m').replaceAll('$__interval', '1m').replaceAll('$__rate_interval', '2m').replaceAll('$node', '.*').replaceAll('$namespace', '.*');
    /** One value per minute from minute 0 to 45: `points` maps a minute to the value from then on (undefined: no sample). */
    const perMinute = (points: Record<number, number | undefined>): string => Array.from({ length: 46 }, (_, minute) => {
      const from = Object.keys(points).map(Number).filter((m) => m <= minute).sort((x, y) => y - x)[0];
      const value = from === undefined ? undefined : points[from];
      return value === undefined ? '_' : String(value);
    }).join(' ');
    const labels = (extra: string): string => `job="oomkill-receiver",service_name="oomkill-receiver",host_name="node-1",k8s_node_name="node-1",oomkill_source="bpf",${extra}`;
    /** A kill series as the receiver exports it: the counter, and the gauge with the time of its newest kill. */
    const kills = (extra: string, total: Record<number, number | undefined>, newest: Record<number, number | undefined>): Array<{ series: string; values: string }> => [
      { series: `${counter(Metric.kills)}{${labels(extra)}}`, values: perMinute(total) },
      { series: `${seconds(Metric.killLastTimestamp)}{${labels(extra)}}`, values: perMinute(newest) },
    ];
    const workload = (container: string, kind = 'Deployment', name = container): string => `k8s_namespace_name="shop",k8s_container_name="${container}",oomkill_workload_kind="${kind}",oomkill_workload_name="${name}"`;
    const input = [
      // Born at its first kill 12 minutes in, inside the range, two more later: 3.
      ...kills(`${workload('cart')},oomkill_constraint="memcg",oomkill_victim_main_process="false"`, { 12: 1, 14: 2, 15: 3 }, { 12: 720, 14: 840, 15: 900 }),
      // Three kills before the range began, one inside it: 1.
      ...kills(`${workload('cart')},oomkill_constraint="memcg",oomkill_victim_main_process="true"`, { 0: 3, 30: 4 }, { 0: 0, 30: 1800 }),
      // Two kills long ago; an outage from 15 to 25 minutes (the old kills come back: 0); the receiver
      // restarts and its counter starts again at a kill at 38 minutes: 1.
      ...kills(`${workload('checkout')},oomkill_constraint="memcg",oomkill_victim_main_process="true"`, { 0: 2, 15: undefined, 26: 2, 36: undefined, 38: 1 }, { 0: 0, 15: undefined, 26: 0, 36: undefined, 38: 2280 }),
      // A burst: born at 5 kills in one sample: 5.
      ...kills(`${workload('render', 'StatefulSet', 'render')},oomkill_constraint="memcg",oomkill_victim_main_process="true"`, { 20: 5 }, { 20: 1200 }),
      // A global kill outside pods, born in the range: 1.
      ...kills('oomkill_constraint="global"', { 35: 1 }, { 35: 2100 }),
      // Missed kills found by reconciliation: 2.
      { series: `${counter(Metric.missedKills)}{${labels('oomkill_missed_reason="reconciliation"')}}`, values: perMinute({ 5: 2 }) },
      { series: `${seconds(Metric.missedKillLastTimestamp)}{${labels('oomkill_missed_reason="reconciliation"')}}`, values: perMinute({ 5: 300 }) },
    ];
    const byTitle = (title: string): string => {
      const query = promQueries.find((q) => q.title.startsWith(title));
      if (!query) throw new Error(`no panel ${title}`);
      return render(query.expr);
    };
    const cart = '{k8s_container_name="cart",k8s_namespace_name="shop",oomkill_workload_kind="Deployment",oomkill_workload_name="cart"}';
    const checkout = '{k8s_container_name="checkout",k8s_namespace_name="shop",oomkill_workload_kind="Deployment",oomkill_workload_name="checkout"}';
    const render_ = '{k8s_container_name="render",k8s_namespace_name="shop",oomkill_workload_kind="StatefulSet",oomkill_workload_name="render"}';
    const tests = {
      tests: [{
        interval: '1m',
        input_series: input,
        promql_expr_test: [
          { expr: byTitle('Top containers'), eval_time: '40m30s', exp_samples: [{ labels: cart, value: 4 }, { labels: checkout, value: 1 }, { labels: render_, value: 5 }, { labels: '{}', value: 1 }] },
          { expr: byTitle('Main process vs child'), eval_time: '40m30s', exp_samples: [{ labels: '{oomkill_victim_main_process="false"}', value: 3 }, { labels: '{oomkill_victim_main_process="true"}', value: 7 }, { labels: '{}', value: 1 }] },
          { expr: byTitle('Container limit (memcg) vs node-wide (global)'), eval_time: '40m30s', exp_samples: [{ labels: '{oomkill_constraint="memcg"}', value: 10 }, { labels: '{oomkill_constraint="global"}', value: 1 }] },
          // Per 1-minute interval: each kill once, recorded in the evaluation a minute after its sample.
          { expr: byTitle('OOM kills by namespace'), eval_time: '13m30s', exp_samples: [{ labels: '{k8s_namespace_name="shop"}', value: 1 }] },
          { expr: byTitle('OOM kills by namespace'), eval_time: '14m30s', exp_samples: [] },
          { expr: byTitle('OOM kills by namespace'), eval_time: '21m30s', exp_samples: [{ labels: '{k8s_namespace_name="shop"}', value: 5 }] },
          { expr: byTitle('OOM kills by namespace'), eval_time: '27m30s', exp_samples: [] },
          { expr: byTitle('OOM kills by namespace'), eval_time: '36m30s', exp_samples: [{ labels: '{}', value: 1 }] },
          { expr: byTitle('OOM kills by namespace'), eval_time: '39m30s', exp_samples: [{ labels: '{k8s_namespace_name="shop"}', value: 1 }] },
          { expr: byTitle('OOM kills by workload'), eval_time: '16m30s', exp_samples: [{ labels: '{k8s_namespace_name="shop",oomkill_workload_kind="Deployment",oomkill_workload_name="cart"}', value: 1 }] },
          { expr: byTitle('Kills the kernel counted'), eval_time: '6m30s', exp_samples: [{ labels: '{k8s_node_name="node-1",oomkill_missed_reason="reconciliation"}', value: 2 }] },
          { expr: byTitle('Kills the kernel counted'), eval_time: '7m30s', exp_samples: [] },
        ],
      }],
    };
    const dir = mkdtempSync(join(tmpdir(), 'oomkill-dashboard-'));
    try {
      writeFileSync(join(dir, 'test.yaml'), stringify({ rule_files: [RULES_PATH], evaluation_interval: '1m', ...tests }));
      const result = spawnSync('promtool', ['test', 'rules', 'test.yaml'], { cwd: dir, encoding: 'utf8' });
      expect(result.stdout + result.stderr).toMatch(/SUCCESS/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('counts from the recording rules that record each kill once, with no increase() over a panel\'s interval', () => {
    const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
    for (const { title, expr } of promQueries) {
      expect(expr, title).not.toMatch(/increase\(/);
      for (const [, name] of expr.matchAll(/\b(oomkill_[a-z_]+:[a-z0-9_]+)/g)) expect(recorded, title).toContain(name);
      if (/oomkill_(missed_)?kills/.test(expr)) expect(expr, title).toMatch(/sum_over_time\(oomkill_(missed_)?kills:new\{[^}]*\}\[\$__(interval|range)\]\)/);
    }
    // Each evaluation of oomkill_kills:new looks at (t - 2m, t - 1m]: the step between its offsets is its
    // group's interval, so each kill falls in exactly one evaluation.
    const group = (parse(read('deploy/alerts/oomkill-rules.yaml')) as { groups: Array<{ interval?: string; rules: Rule[] }> }).groups.find((g) => g.rules.some((r) => r.record === 'oomkill_kills:new'));
    expect(group?.interval).toBe('1m');
    for (const rule of group?.rules ?? []) expect(new Set([...rule.expr.matchAll(/offset (\w+)/g)].map((m) => m[1]))).toEqual(new Set(['1m', '2m']));
  });

  it('reads the kill records from Loki by the receiver\'s service name and the event name the sidecar copies', () => {
    const [logs] = dashboard.panels.filter((p) => p.type === 'logs') as [Panel];
    const [query] = logs.targets.map((t) => t.expr) as [string];
    // Resource attributes Loki indexes by default may select streams; record attributes are filters.
    expect(query).toMatch(new RegExp(`^\\{${prom(Sem.serviceName)}="${envOf(receiver).OTEL_SERVICE_NAME}"[,}]`));
    expect(query).toContain(`| ${prom(Attr.eventName)}="${EVENT_NAME}"`);
    expect(query).toContain(`| ${prom(Sem.k8sNodeName)}=~"$node"`);
  });
});

// ---- Dockerfile --------------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  const runtime = stages.at(-1) as string;
  const script = read('scripts/build-image-tree.sh');
  const setcap = (text: string): string[] => (/setcap ([a-z_,]+)\+p /.exec(text)?.[1] ?? '').split(',').sort();

  it('builds with scripts/build-image-tree.sh, the one definition of the build steps', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(dockerfile).toMatch(/^RUN .*scripts\/build-image-tree\.sh \/image$/m);
    expect(runtime).toMatch(/^COPY --from=build \/image \/app$/m);
    for (const stage of stages) expect(stage).toMatch(/^node:24-bookworm-slim/);
  });

  it('ships Node and the loader\'s runtime libraries only, no compilers', () => {
    const packages = [...runtime.matchAll(/apt-get install -y --no-install-recommends ([^\n&\\]+)/g)].flatMap((m) => (m[1] as string).trim().split(/\s+/));
    expect(packages.sort()).toEqual(['libbpf1', 'libcap2-bin', 'libelf1', 'zlib1g']);
  });

  it('gives the loader the capabilities the DaemonSet adds, and runs as the DaemonSet\'s user', () => {
    const added = (receiver.securityContext.capabilities.add as string[]).map((c) => `cap_${c.toLowerCase()}`).sort();
    expect(setcap(runtime)).toEqual(added);
    expect(setcap(script)).toEqual(added);
    expect(runtime).toMatch(new RegExp(`^USER ${receiver.securityContext.runAsUser}:${receiver.securityContext.runAsGroup}$`, 'm'));
    // V8 flags may sit between node and the script (the image's one place for them; bench/ reads them there).
    expect(runtime).toMatch(/^ENTRYPOINT \["node", (?:"--[a-z-]+(?:=[^"]*)?", )*"\/app\/bin\/oomkill-receiver"\]$/m);
    expect(receiver.args).toEqual(['run']);
  });
});

describe('deploy/README.md', () => {
  const readme = read('deploy/README.md');

  it('documents every alert, every Collector variable and every exported series', () => {
    const names = rules.map((r) => r.alert ?? r.record);
    const variables = ['otel-config/collector-sidecar.yaml', 'otel-config/collector-gateway.yaml'].flatMap((f) => [...documented(read(f)).keys()]);
    for (const name of [...names, ...variables, ...EXPORTED_SERIES]) expect(readme, name).toContain(`${name}`);
  });

  it('names the label kube-prometheus-stack selects rules by, set once, in the kustomization', () => {
    const release = find('PrometheusRule', 'oomkill-receiver').metadata.labels.release as string;
    expect(release).toBe('kube-prometheus-stack');
    expect(read('deploy/alerts/prometheus-rule.yaml')).not.toMatch(/\brelease:/);
    expect(kustomization('deploy').patches?.map((p) => p.target.kind)).toContain('PrometheusRule');
    expect(readme).toContain(`\`release: ${release}\``);
    expect(readme).toContain('ruleSelector');
  });

  it('gives the Secret names and image the manifests use', () => {
    for (const c of [sidecar, gateway.spec.template.spec.containers[0]]) expect(readme).toContain(c.envFrom[0].secretRef.name);
    expect(readme).toContain(`ghcr.io/oomkill-receiver/oomkill-receiver:${packageVersion}`);
  });
});
