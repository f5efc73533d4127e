// A fake Kubernetes API server for tests: list and watch (with resourceVersion, bookmarks and 410 Gone),
// single-object GET and the discovery documents kubectl needs, for pods, ReplicaSets, Deployments, Jobs,
// CronJobs, StatefulSets and DaemonSets. One of the two test doubles this project allows, because no
// kube-apiserver can be installed here; `kubectl --server` speaks to it, which shows it speaks the protocol.
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: OwnerReference[]; [k: string]: unknown };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
}
export interface OwnerReference { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }

interface Resource { group: string; version: string; plural: string; kind: string }
const RESOURCES: Resource[] = [
  { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' },
  { group: 'apps', version: 'v1', plural: 'replicasets', kind: 'ReplicaSet' },
  { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet' },
  { group: 'apps', version: 'v1', plural: 'daemonsets', kind: 'DaemonSet' },
  { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' },
  { group: 'batch', version: 'v1', plural: 'cronjobs', kind: 'CronJob' },
];
const byKind = new Map(RESOURCES.map((r) => [r.kind, r]));
const groupVersion = (r: Resource): string => (r.group === '' ? r.version : `${r.group}/${r.version}`);

interface WatchEvent { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject; rv: number }
interface Watcher { resource: Resource; namespace?: string; matches: (o: KubeObject) => boolean; response: ServerResponse; bookmarks: boolean }

export interface FakeApiServer {
  url: string;
  upsert(object: KubeObject): KubeObject;
  remove(kind: string, namespace: string, name: string): void;
  /** Forget history: a watch from an older resourceVersion gets 410 Gone. Ends open watches. */
  compact(): void;
  /** Down: every connection is dropped at once, open watches included. */
  setDown(down: boolean): void;
  setLatency(ms: number): void;
  /** Answers 200 with a body that is not JSON. */
  setGarbage(garbage: boolean): void;
  requests(): string[];
  writeKubeconfig(dir: string): string;
  stop(): Promise<void>;
}

export async function startFakeApiServer(): Promise<FakeApiServer> {
  const store = new Map<string, Map<string, KubeObject>>(RESOURCES.map((r) => [r.kind, new Map()]));
  const history: WatchEvent[] = [];
  const watchers = new Set<Watcher>();
  const sockets = new Set<Socket>();
  const log: string[] = [];
  let rv = 1000;
  let compactedAt = 0;
  let down = false;
  let latencyMs = 0;
  let garbage = false;

  const key = (o: KubeObject): string => `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  const publish = (event: WatchEvent): void => {
    history.push(event);
    for (const w of watchers) {
      if (!w.response.writableEnded && w.resource.kind === event.object.kind && (w.namespace === undefined || w.namespace === event.object.metadata.namespace) && w.matches(event.object)) {
        w.response.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
      }
    }
  };

  const selector = (url: URL): ((o: KubeObject) => boolean) => {
    const fields = (url.searchParams.get('fieldSelector') ?? '').split(',').filter(Boolean).map((f) => f.split('=') as [string, string]);
    const labels = (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((f) => f.split('=') as [string, string]);
    return (o) =>
      fields.every(([k, v]) => (k === 'spec.nodeName' ? o.spec?.nodeName === v : k === 'metadata.name' ? o.metadata.name === v : k === 'metadata.namespace' ? o.metadata.namespace === v : false)) &&
      labels.every(([k, v]) => o.metadata.labels?.[k] === v);
  };

  const send = (response: ServerResponse, status: number, body: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' }).end(garbage ? '{"kind": "PodList", "items": [' : JSON.stringify(body));
  };
  const status = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

  const discovery = (path: string): unknown => {
    if (path === '/version') return { major: '1', minor: '31', gitVersion: 'v1.31.0-fake', platform: 'linux/amd64' };
    if (path === '/api') return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] };
    if (path === '/apis') {
      const groups = [...new Set(RESOURCES.filter((r) => r.group !== '').map((r) => r.group))].map((g) => ({
        name: g, versions: [{ groupVersion: `${g}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${g}/v1`, version: 'v1' },
      }));
      return { kind: 'APIGroupList', apiVersion: 'v1', groups };
    }
    for (const gv of ['v1', 'apps/v1', 'batch/v1']) {
      if (path === (gv === 'v1' ? '/api/v1' : `/apis/${gv}`)) {
        return {
          kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
          resources: RESOURCES.filter((r) => groupVersion(r) === gv).map((r) => ({ name: r.plural, singularName: r.kind.toLowerCase(), namespaced: true, kind: r.kind, verbs: ['get', 'list', 'watch'] })),
        };
      }
    }
    return undefined;
  };

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://fake');
    log.push(`${request.method} ${url.pathname}${url.search}`);
    const found = discovery(url.pathname);
    if (found !== undefined) return send(response, 200, found);

    // /api/v1[/namespaces/ns]/plural[/name] or /apis/group/v1[/namespaces/ns]/plural[/name]
    const match = /^\/(?:api\/v1|apis\/([^/]+)\/v1)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    const resource = match ? RESOURCES.find((r) => r.group === (match[1] ?? '') && r.plural === match[3]) : undefined;
    if (!match || !resource) return send(response, 404, status(404, 'NotFound', `the server could not find the requested resource ${url.pathname}`));
    const [, , namespace, , name] = match;
    const objects = [...(store.get(resource.kind)?.values() ?? [])].filter((o) => namespace === undefined || o.metadata.namespace === namespace);

    if (name !== undefined) {
      const object = objects.find((o) => o.metadata.name === name);
      return object ? send(response, 200, object) : send(response, 404, status(404, 'NotFound', `${resource.plural} "${name}" not found`));
    }
    const matches = selector(url);
    if (url.searchParams.get('watch') !== 'true' && url.searchParams.get('watch') !== '1') {
      // Paged as the real API server pages (limit, continue): every page carries the resourceVersion of the
      // first, and the continue token says where the next starts. Simplified: the pages are cut from the
      // store as it is when each is asked for, not from a snapshot.
      const items = objects.filter(matches);
      const limit = Number(url.searchParams.get('limit') ?? 0);
      const token = url.searchParams.get('continue');
      let start = 0;
      let listRv = rv;
      if (token !== null && token !== '') {
        const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { rv: number; start: number };
        if (parsed.rv < compactedAt) return send(response, 410, status(410, 'Expired', 'the provided continue parameter is too old'));
        start = parsed.start;
        listRv = parsed.rv;
      }
      const end = limit > 0 ? start + limit : items.length;
      const more = end < items.length;
      const metadata = { resourceVersion: String(listRv), ...(more && { continue: Buffer.from(JSON.stringify({ rv: listRv, start: end })).toString('base64url'), remainingItemCount: items.length - end }) };
      return send(response, 200, { kind: `${resource.kind}List`, apiVersion: groupVersion(resource), metadata, items: items.slice(start, end) });
    }

    const from = Number(url.searchParams.get('resourceVersion') || rv);
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    response.flushHeaders(); // as the real API server does: a watch is established before its first event
    if (from < compactedAt) {
      response.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${compactedAt})`) })}\n`);
      return;
    }
    const watcher: Watcher = { resource, ...(namespace !== undefined && { namespace }), matches, response, bookmarks: url.searchParams.get('allowWatchBookmarks') === 'true' };
    for (const event of history) {
      if (event.rv > from && event.object.kind === resource.kind && matches(event.object)) response.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
    }
    watchers.add(watcher);
    const bookmark = setInterval(() => {
      if (watcher.bookmarks && !response.writableEnded) response.write(`${JSON.stringify({ type: 'BOOKMARK', object: { kind: resource.kind, apiVersion: groupVersion(resource), metadata: { resourceVersion: String(rv) } } })}\n`);
    }, 1000);
    const timeout = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => response.end(), timeout * 1000) : undefined;
    const close = (): void => {
      clearInterval(bookmark);
      clearTimeout(timer);
      watchers.delete(watcher);
    };
    response.on('close', close);
  };

  const server = createServer((request, response) => {
    if (down) {
      request.socket.destroy();
      return;
    }
    if (latencyMs > 0) setTimeout(() => handle(request, response), latencyMs);
    else handle(request, response);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  const endWatches = (): void => {
    for (const w of watchers) {
      w.response.end();
      watchers.delete(w);
    }
  };

  return {
    url,
    upsert(object) {
      const kinds = store.get(object.kind);
      if (!kinds || !byKind.has(object.kind)) throw new Error(`fake API server: unknown kind ${object.kind}`);
      const existed = kinds.has(key(object));
      const stored: KubeObject = { ...object, metadata: { ...object.metadata, resourceVersion: String(++rv) } };
      kinds.set(key(stored), stored);
      publish({ type: existed ? 'MODIFIED' : 'ADDED', object: stored, rv });
      return stored;
    },
    remove(kind, namespace, name) {
      const kinds = store.get(kind);
      const object = kinds?.get(`${namespace}/${name}`);
      if (!kinds || !object) return;
      kinds.delete(`${namespace}/${name}`);
      publish({ type: 'DELETED', object: { ...object, metadata: { ...object.metadata, resourceVersion: String(++rv) } }, rv });
    },
    compact() {
      compactedAt = rv + 1;
      history.length = 0;
      endWatches();
    },
    setDown(value) {
      down = value;
      if (value) {
        endWatches();
        for (const s of sockets) s.destroy();
      }
    },
    setLatency: (ms) => (latencyMs = ms),
    setGarbage: (value) => (garbage = value),
    requests: () => [...log],
    writeKubeconfig(dir) {
      const path = join(dir, 'kubeconfig');
      writeFileSync(path, JSON.stringify({
        apiVersion: 'v1', kind: 'Config', 'current-context': 'fake',
        // client-node refuses plain http unless TLS verification is (nominally) off.
        clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        contexts: [{ name: 'fake', context: { cluster: 'fake', user: 'fake', namespace: 'default' } }],
        users: [{ name: 'fake', user: { token: 'fake-token-not-a-secret' } }],
      }));
      return path;
    },
    async stop() {
      endWatches();
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Object factories, shaped like what a real API server returns.

export interface ContainerSpec { name: string; id?: string; image?: string; restartCount?: number; previousId?: string; kind?: 'container' | 'init' | 'ephemeral' }

export function pod(options: { name: string; namespace?: string; uid?: string; nodeName: string; containers: ContainerSpec[]; owner?: OwnerReference; labels?: Record<string, string>; annotations?: Record<string, string> }): KubeObject {
  const statuses = (kind: ContainerSpec['kind']) => options.containers.filter((c) => (c.kind ?? 'container') === kind).map((c) => ({
    name: c.name,
    image: c.image ?? `registry.example/${c.name}:1.2.3`,
    imageID: `registry.example/${c.name}@sha256:${'0'.repeat(64)}`,
    ...(c.id !== undefined && { containerID: `containerd://${c.id}` }),
    restartCount: c.restartCount ?? 0,
    ready: true,
    state: { running: { startedAt: '2026-11-24T00:00:00Z' } },
    ...(c.previousId !== undefined && { lastState: { terminated: { exitCode: 137, reason: 'OOMKilled', containerID: `containerd://${c.previousId}` } } }),
  }));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: options.name, namespace: options.namespace ?? 'default', uid: options.uid ?? randomUUID(),
      ...(options.labels && { labels: options.labels }), ...(options.annotations && { annotations: options.annotations }),
      ...(options.owner && { ownerReferences: [options.owner] }),
    },
    spec: {
      nodeName: options.nodeName,
      containers: options.containers.filter((c) => (c.kind ?? 'container') === 'container').map((c) => ({ name: c.name, image: c.image ?? `registry.example/${c.name}:1.2.3` })),
    },
    status: { phase: 'Running', containerStatuses: statuses('container'), initContainerStatuses: statuses('init'), ephemeralContainerStatuses: statuses('ephemeral') },
  };
}

export const ownerRef = (o: KubeObject): OwnerReference => ({ apiVersion: o.apiVersion, kind: o.kind, name: o.metadata.name, uid: o.metadata.uid, controller: true });

export function workload(kind: string, name: string, namespace = 'default', owner?: KubeObject): KubeObject {
  const resource = byKind.get(kind);
  if (!resource) throw new Error(`unknown kind ${kind}`);
  return { apiVersion: groupVersion(resource), kind, metadata: { name, namespace, uid: randomUUID(), ...(owner && { ownerReferences: [ownerRef(owner)] }) }, spec: {} };
}

/**
 * A pod as a real node's API server returns it, for memory figures that mean something: managed fields
 * of three managers, two containers with environment, probes, resources and mounts, labels, a few
 * annotations, a ReplicaSet owner and the full status (conditions, IPs, both containers' states). About
 * 13 KB of JSON, near what `kubectl get pod -o json` shows for a typical Deployment's pod.
 */
export function realisticPod(options: { name: string; namespace: string; uid?: string; nodeName: string; owner: OwnerReference; containerIds: [string, string]; index: number }): KubeObject {
  const { name, namespace, nodeName, index } = options;
  const app = options.owner.name.replace(/-[a-z0-9]+$/, '');
  const started = '2026-11-24T08:13:52Z';
  const containerNames = ['app', 'proxy'] as const;
  const env = (c: string): Array<{ name: string; value?: string; valueFrom?: Record<string, unknown> }> => [
    ...Array.from({ length: 8 }, (_, i) => ({ name: `${c.toUpperCase()}_SETTING_${i}`, value: `value-${i}-${'x'.repeat(24)}` })),
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
    { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: `${app}-db`, key: 'password' } } },
  ];
  const probe = (path: string) => ({ httpGet: { path, port: 8080, scheme: 'HTTP' }, initialDelaySeconds: 5, periodSeconds: 10, timeoutSeconds: 1, successThreshold: 1, failureThreshold: 3 });
  const container = (c: string, i: number) => ({
    name: c, image: `registry.example.com/team/${app}-${c}:1.${index % 50}.${i}`, imagePullPolicy: 'IfNotPresent',
    args: ['--config=/etc/app/config.yaml', `--listen=:${8080 + i}`, '--log-format=json'],
    ports: [{ name: i === 0 ? 'http' : 'admin', containerPort: 8080 + i, protocol: 'TCP' }],
    env: env(c),
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    livenessProbe: probe('/healthz'), readinessProbe: probe('/readyz'), startupProbe: probe('/startz'),
    volumeMounts: [
      { name: 'config', mountPath: '/etc/app', readOnly: true },
      { name: `kube-api-access-${index.toString(36).padStart(5, '0')}`, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true },
    ],
    terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
    securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
  });
  const fields = (keys: string[]) => Object.fromEntries(keys.map((k) => [k, {}]));
  const containerFields = Object.fromEntries(containerNames.map((c) => [`k:{"name":"${c}"}`, {
    '.': {}, ...fields(['f:args', 'f:image', 'f:imagePullPolicy', 'f:name', 'f:terminationMessagePath', 'f:terminationMessagePolicy']),
    'f:env': Object.fromEntries(env(c).map((e) => [`k:{"name":"${e.name}"}`, { '.': {}, 'f:name': {}, ...(e.value !== undefined ? { 'f:value': {} } : { 'f:valueFrom': { '.': {}, 'f:fieldRef': {} } }) }])),
    'f:livenessProbe': { '.': {}, 'f:failureThreshold': {}, 'f:httpGet': { '.': {}, 'f:path': {}, 'f:port': {}, 'f:scheme': {} }, 'f:periodSeconds': {} },
    'f:readinessProbe': { '.': {}, 'f:failureThreshold': {}, 'f:httpGet': { '.': {}, 'f:path': {}, 'f:port': {}, 'f:scheme': {} }, 'f:periodSeconds': {} },
    'f:resources': { '.': {}, 'f:limits': { '.': {}, 'f:cpu': {}, 'f:memory': {} }, 'f:requests': { '.': {}, 'f:cpu': {}, 'f:memory': {} } },
    'f:volumeMounts': { '.': {}, 'k:{"mountPath":"/etc/app"}': { '.': {}, 'f:mountPath': {}, 'f:name': {}, 'f:readOnly': {} } },
  }]));
  const statusFields = Object.fromEntries(containerNames.map((c) => [`k:{"name":"${c}"}`, fields(['.', 'f:containerID', 'f:image', 'f:imageID', 'f:lastState', 'f:name', 'f:ready', 'f:restartCount', 'f:started', 'f:state'])]));
  const managedFields = [
    { manager: 'kube-controller-manager', operation: 'Update', apiVersion: 'v1', time: started, fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:generateName': {}, 'f:labels': fields(['.', 'f:app.kubernetes.io/name', 'f:app.kubernetes.io/part-of', 'f:pod-template-hash', 'f:team', 'f:version']), 'f:ownerReferences': { '.': {}, [`k:{"uid":"${options.owner.uid}"}`]: {} } }, 'f:spec': { 'f:containers': containerFields, 'f:dnsPolicy': {}, 'f:enableServiceLinks': {}, 'f:restartPolicy': {}, 'f:schedulerName': {}, 'f:securityContext': {}, 'f:terminationGracePeriodSeconds': {}, 'f:volumes': {} } } },
    { manager: 'kubelet', operation: 'Update', apiVersion: 'v1', time: started, fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': fields(['k:{"type":"ContainersReady"}', 'k:{"type":"Initialized"}', 'k:{"type":"PodReadyToStartContainers"}', 'k:{"type":"PodScheduled"}', 'k:{"type":"Ready"}']), 'f:containerStatuses': statusFields, 'f:hostIP': {}, 'f:hostIPs': {}, 'f:phase': {}, 'f:podIP': {}, 'f:podIPs': { '.': {}, [`k:{"ip":"10.244.${index >> 8}.${index & 255}"}`]: {} }, 'f:startTime': {} } } },
    { manager: 'kube-scheduler', operation: 'Update', apiVersion: 'v1', time: started, fieldsType: 'FieldsV1', subresource: 'status', fieldsV1: { 'f:status': { 'f:conditions': { 'k:{"type":"PodScheduled"}': fields(['.', 'f:lastProbeTime', 'f:lastTransitionTime', 'f:status', 'f:type']) } } } },
  ];
  const condition = (type: string) => ({ type, status: 'True', lastProbeTime: null, lastTransitionTime: started });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name, namespace, uid: options.uid ?? randomUUID(), generateName: `${options.owner.name}-`, creationTimestamp: started,
      labels: { 'app.kubernetes.io/name': app, 'app.kubernetes.io/part-of': 'shop', 'pod-template-hash': options.owner.name.split('-').at(-1) ?? '', team: `team-${index % 7}`, version: `1.${index % 50}` },
      annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': '8081', 'checksum/config': 'f'.repeat(64), 'kubectl.kubernetes.io/restartedAt': started },
      ownerReferences: [{ ...options.owner, blockOwnerDeletion: true }],
      managedFields,
    },
    spec: {
      nodeName, serviceAccountName: app, restartPolicy: 'Always', dnsPolicy: 'ClusterFirst', schedulerName: 'default-scheduler', terminationGracePeriodSeconds: 30,
      enableServiceLinks: true, preemptionPolicy: 'PreemptLowerPriority', priority: 0, securityContext: { runAsUser: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } },
      containers: containerNames.map(container),
      volumes: [{ name: 'config', configMap: { name: `${app}-config`, defaultMode: 420 } }, { name: `kube-api-access-${index.toString(36).padStart(5, '0')}`, projected: { defaultMode: 420, sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }, { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } }] } }],
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }],
    },
    status: {
      phase: 'Running', hostIP: '10.0.0.17', hostIPs: [{ ip: '10.0.0.17' }], podIP: `10.244.${index >> 8}.${index & 255}`, podIPs: [{ ip: `10.244.${index >> 8}.${index & 255}` }], startTime: started, qosClass: 'Burstable',
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(condition),
      containerStatuses: containerNames.map((c, i) => ({
        name: c, image: `registry.example.com/team/${app}-${c}:1.${index % 50}.${i}`, imageID: `registry.example.com/team/${app}-${c}@sha256:${'0123456789abcdef'.repeat(4)}`,
        containerID: `containerd://${options.containerIds[i]}`, ready: true, started: true, restartCount: i,
        state: { running: { startedAt: started } },
        lastState: i === 1 ? { terminated: { exitCode: 137, reason: 'OOMKilled', startedAt: started, finishedAt: started, containerID: `containerd://${'e'.repeat(64)}` } } : {},
        volumeMounts: [{ name: 'config', mountPath: '/etc/app', readOnly: true, recursiveReadOnly: 'Disabled' }],
      })),
    },
  };
}
