// The pods of this node, kept by a client-node informer and indexed by pod UID and by container ID, so a
// kill can be named without an API call. Deleted pods stay as tombstones for a while: a kill often races
// the pod's deletion or the container's restart. The owners of ReplicaSets and Jobs are fetched once per
// owner and cached, never per kill.
//
// Memory: a pod as the API server sends it is 10-15 KB of JSON (managed fields, the whole spec, env,
// probes, conditions), and a node may run hundreds. Each pod is cut down to what the attributes need
// (CachedPod) as it arrives, from the list and from the watch, before anything keeps it; and the list
// comes in pages, so no whole-node list is ever parsed at once.
import { ListWatch } from '@kubernetes/client-node';
// For main.ts, which loads this module only in Kubernetes mode: a static import lets the bundler keep
// only the parts of client-node used (KubeConfig, ListWatch), where import('@kubernetes/client-node')
// would keep every generated API and model.
export { KubeConfig } from '@kubernetes/client-node';
import type { KubeConfig, KubernetesListObject, V1Pod, Watch } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { containerIdFromStatus } from './cgroup-path.ts';
import { kubeGet, KubeWatch } from './kube-http.ts';
import type { KubeGet } from './kube-http.ts';
import type { OwnerRef } from './workload.ts';

/** What the attributes need of a container's status. */
export interface CachedContainerStatus {
  name: string;
  containerID?: string;
  image?: string;
  restartCount: number;
  lastState?: { terminated?: { containerID?: string } };
}

/** What the attributes need of a pod: a V1Pod is one, so tests may pass either. */
export interface CachedPod {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; controller?: boolean }>;
  };
  status?: {
    containerStatuses?: CachedContainerStatus[];
    initContainerStatuses?: CachedContainerStatus[];
    ephemeralContainerStatuses?: CachedContainerStatus[];
  };
}

/** Pods per list request: a page of realistic pods is about 1.3 MB of JSON, parsed and cut down at once. */
const LIST_PAGE = 100;

export interface PodCacheOptions {
  kubeConfig: KubeConfig;
  /** Only this node's pods are watched (field selector spec.nodeName). */
  nodeName: string;
  /** How long a deleted pod stays resolvable (default 300 000 ms; 0: not at all). */
  tombstoneTtlMs?: number;
  /** Annotation keys kept per pod (default: all); the receiver keeps only those it exports. */
  annotations?: readonly string[];
  /** Restart backoff after the informer fails: from min (default 1 s) doubling to max (default 30 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  logger: Logger;
  /** Each failure of the API server, for the receiver's own metrics. */
  onFailure?(what: 'pods' | 'owners'): void;
}

export interface ContainerRef {
  pod: CachedPod;
  containerName: string;
  /** False for a container ID from before a restart (lastState). */
  current: boolean;
}

export interface PodCache {
  byUid(uid: string): CachedPod | undefined;
  byContainerId(id: string): ContainerRef | undefined;
  /** The pods have been listed and the watch is up: a pod missing now is new, not unknown. */
  isHealthy(): boolean;
  /** Resolves true as soon as the pod (or container) is known, false after timeoutMs. */
  waitFor(key: { podUid?: string; containerId?: string }, timeoutMs: number): Promise<boolean>;
  /** Owners of a ReplicaSet or Job: cached; undefined when they cannot be fetched. */
  owners(kind: 'ReplicaSet' | 'Job', namespace: string, name: string): Promise<OwnerRef[] | undefined>;
  stop(): Promise<void>;
}

/** The statuses of every container of a pod: regular, init and ephemeral. */
export function containerStatuses(pod: CachedPod): CachedContainerStatus[] {
  return [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.ephemeralContainerStatuses ?? [])];
}

/** A pod cut down to what CachedPod names; everything else (managed fields, spec, conditions) is dropped. */
export function cutDownPod(pod: CachedPod, annotations?: readonly string[]): CachedPod {
  const meta = pod.metadata ?? {};
  const statuses = (list: CachedContainerStatus[] | undefined): CachedContainerStatus[] | undefined => list?.map((s) => {
    const previous = s.lastState?.terminated?.containerID;
    return {
      name: s.name,
      ...(s.containerID !== undefined && { containerID: s.containerID }),
      ...(s.image !== undefined && { image: s.image }),
      restartCount: s.restartCount,
      ...(previous !== undefined && { lastState: { terminated: { containerID: previous } } }),
    };
  });
  let kept = meta.annotations;
  if (kept !== undefined && annotations !== undefined) {
    kept = Object.fromEntries(annotations.filter((key) => kept?.[key] !== undefined).map((key) => [key, kept?.[key] as string]));
  }
  const status = pod.status;
  return {
    metadata: {
      ...(meta.name !== undefined && { name: meta.name }),
      ...(meta.namespace !== undefined && { namespace: meta.namespace }),
      ...(meta.uid !== undefined && { uid: meta.uid }),
      ...(meta.resourceVersion !== undefined && { resourceVersion: meta.resourceVersion }),
      ...(meta.labels !== undefined && { labels: meta.labels }),
      ...(kept !== undefined && Object.keys(kept).length > 0 && { annotations: kept }),
      ...(meta.ownerReferences !== undefined && { ownerReferences: meta.ownerReferences.map((o) => ({ kind: o.kind, name: o.name, ...(o.controller !== undefined && { controller: o.controller }) })) }),
    },
    ...(status && {
      status: {
        ...(status.containerStatuses && { containerStatuses: statuses(status.containerStatuses) }),
        ...(status.initContainerStatuses && { initContainerStatuses: statuses(status.initContainerStatuses) }),
        ...(status.ephemeralContainerStatuses && { ephemeralContainerStatuses: statuses(status.ephemeralContainerStatuses) }),
      },
    }),
  };
}

/** Every pod of the selector, page by page, each cut down as its page arrives. */
async function listPods(get: KubeGet, fieldSelector: string, annotations: readonly string[] | undefined): Promise<{ metadata: { resourceVersion?: string }; items: CachedPod[] }> {
  const items: CachedPod[] = [];
  let resourceVersion: string | undefined;
  let next: string | undefined;
  do {
    const page = await get('/api/v1/pods', { fieldSelector, limit: LIST_PAGE, continue: next }) as { metadata?: { resourceVersion?: string; continue?: string }; items?: CachedPod[] };
    for (const pod of page.items ?? []) items.push(cutDownPod(pod, annotations));
    resourceVersion ??= page.metadata?.resourceVersion;
    next = page.metadata?.continue || undefined;
  } while (next !== undefined);
  return { metadata: { ...(resourceVersion !== undefined && { resourceVersion }) }, items };
}

interface Tombstoned { pod: CachedPod; deletedAt?: number }
const OWNER_TTL_MS = 10 * 60_000;

export function startPodCache(options: PodCacheOptions): PodCache {
  const { kubeConfig, logger } = options;
  const ttl = options.tombstoneTtlMs ?? 300_000;
  const get = kubeGet(kubeConfig);
  const fieldSelector = `spec.nodeName=${options.nodeName}`;

  const pods = new Map<string, Tombstoned>();
  const containers = new Map<string, { uid: string; name: string; current: boolean }>();
  const waiters = new Set<{ key: { podUid?: string; containerId?: string }; done: (found: boolean) => void }>();
  const ownerCache = new Map<string, { owners: OwnerRef[] | undefined; at: number }>();
  let healthy = false;
  let failing = false;
  let stopped = false;
  let backoff = options.minBackoffMs ?? 1000;
  let restartTimer: NodeJS.Timeout | undefined;

  const index = (pod: CachedPod): void => {
    const uid = pod.metadata?.uid;
    if (!uid) return;
    pods.set(uid, { pod });
    for (const status of containerStatuses(pod)) {
      const current = containerIdFromStatus(status.containerID);
      if (current) containers.set(current.id, { uid, name: status.name, current: true });
      // A restarted container's previous ID: a kill of the old container may arrive after the restart.
      const previous = containerIdFromStatus(status.lastState?.terminated?.containerID);
      if (previous) containers.set(previous.id, { uid, name: status.name, current: false });
    }
    for (const waiter of waiters) {
      if (lookup(waiter.key)) {
        waiters.delete(waiter);
        waiter.done(true);
      }
    }
  };
  const lookup = (key: { podUid?: string; containerId?: string }): boolean =>
    (key.containerId !== undefined && containers.has(key.containerId)) || (key.podUid !== undefined && pods.has(key.podUid));

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [uid, entry] of pods) {
      if (entry.deletedAt !== undefined && now - entry.deletedAt > ttl) pods.delete(uid);
    }
    for (const [id, ref] of containers) if (!pods.has(ref.uid)) containers.delete(id);
  }, Math.max(1000, Math.min(ttl, 60_000)));
  sweep.unref();

  // The informer holds cut-down pods; its type says V1Pod, of which CachedPod is a part.
  const watch = new KubeWatch(kubeConfig, { transform: (pod) => cutDownPod(pod as CachedPod, options.annotations) });
  const list = async (): Promise<KubernetesListObject<V1Pod>> => await listPods(get, fieldSelector, options.annotations) as KubernetesListObject<V1Pod>;
  const informer = new ListWatch<V1Pod>('/api/v1/pods', watch as unknown as Watch, list, false, undefined, fieldSelector);
  informer.on('add', index);
  informer.on('update', index);
  informer.on('delete', (pod) => {
    const uid = pod.metadata?.uid;
    if (uid === undefined) return;
    if (ttl === 0) pods.delete(uid);
    else pods.set(uid, { pod, deletedAt: Date.now() });
  });
  informer.on('error', (error: unknown) => {
    healthy = false;
    options.onFailure?.('pods');
    // Logged once per outage, not once per retry.
    if (!failing) logger.warn('Kubernetes API: the pod watch failed; kills are exported with the cgroup-derived IDs until it recovers', { error: describe(error) });
    failing = true;
    if (stopped) return;
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => void connect(), backoff);
    backoff = Math.min(backoff * 2, options.maxBackoffMs ?? 30_000);
  });

  const connect = async (): Promise<void> => {
    let failed = false;
    const onError = (): void => {
      failed = true;
    };
    informer.on('error', onError);
    await informer.start().catch(() => {});
    informer.off('error', onError);
    if (failed || stopped) return;
    healthy = true;
    backoff = options.minBackoffMs ?? 1000;
    if (failing) logger.info('Kubernetes API: the pod watch recovered', { pods: pods.size });
    else logger.info('Kubernetes API: watching the pods of this node', { node: options.nodeName, pods: pods.size });
    failing = false;
  };
  void connect();

  return {
    byUid: (uid) => pods.get(uid)?.pod,
    byContainerId(id) {
      const ref = containers.get(id);
      const pod = ref ? pods.get(ref.uid)?.pod : undefined;
      return ref && pod ? { pod, containerName: ref.name, current: ref.current } : undefined;
    },
    isHealthy: () => healthy,
    waitFor(key, timeoutMs) {
      if (lookup(key)) return Promise.resolve(true);
      return new Promise((resolve) => {
        const waiter = { key, done: (found: boolean) => (clearTimeout(timer), resolve(found)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          resolve(false);
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    async owners(kind, namespace, name) {
      const cacheKey = `${kind}/${namespace}/${name}`;
      const cached = ownerCache.get(cacheKey);
      if (cached && Date.now() - cached.at < OWNER_TTL_MS) return cached.owners;
      try {
        const path = kind === 'ReplicaSet' ? `/apis/apps/v1/namespaces/${namespace}/replicasets/${name}` : `/apis/batch/v1/namespaces/${namespace}/jobs/${name}`;
        const object = await get(path) as CachedPod;
        const owners = (object.metadata?.ownerReferences ?? []).map((o) => ({ kind: o.kind, name: o.name, controller: o.controller === true }));
        ownerCache.set(cacheKey, { owners, at: Date.now() });
        return owners;
      } catch (error) {
        // A 404 is an answer (the owner is gone, e.g. an old ReplicaSet): no owners. Anything else is unknown.
        const notFound = (error as { code?: number }).code === 404;
        if (!notFound) options.onFailure?.('owners');
        if (notFound) ownerCache.set(cacheKey, { owners: [], at: Date.now() });
        return notFound ? [] : undefined;
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      clearInterval(sweep);
      for (const waiter of waiters) waiter.done(false);
      waiters.clear();
      await informer.stop();
    },
  };
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === 'object' && error !== null) return JSON.stringify(error).slice(0, 300);
  return String(error);
}
