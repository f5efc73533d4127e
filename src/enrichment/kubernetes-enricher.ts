// Names a kill's victim from the pod cache: namespace, pod, container, image, restart count, workload,
// and the configured labels and annotations. A pod the cache does not know yet is waited for, briefly;
// with the API server unreachable nothing waits. Whatever is missing, the kill leaves with the IDs its
// cgroup path gave and `oomkill.enrichment.partial` set: never dropped, never held.

import { podAnnotationAttribute, podLabelAttribute, Sem } from '../attributes.ts';
import type { CgroupIdentity, Enrichment } from '../event.ts';
import { identityAttributes } from './cgroup-enricher.ts';
import { containerIdFromStatus } from './cgroup-path.ts';
import type { Enricher } from './enricher.ts';
import { containerStatuses } from './pod-cache.ts';
import type { CachedPod, PodCache } from './pod-cache.ts';
import { resolveWorkload } from './workload.ts';
import type { OwnerRef } from './workload.ts';

export interface KubernetesEnricherOptions {
  cache: PodCache;
  /** How long a kill waits for a pod the cache does not know yet (default 2000 ms). */
  podWaitMs?: number;
  /** How long the owner lookup may take before the workload is guessed from names (default 1000 ms). */
  ownerWaitMs?: number;
  podLabels?: readonly string[];
  podAnnotations?: readonly string[];
}

export function createKubernetesEnricher(options: KubernetesEnricherOptions): Enricher {
  const { cache } = options;
  const find = (identity: CgroupIdentity): { pod: CachedPod; containerName?: string } | undefined => {
    const byContainer = identity.containerId !== undefined ? cache.byContainerId(identity.containerId) : undefined;
    if (byContainer) return { pod: byContainer.pod, containerName: byContainer.containerName };
    const pod = identity.podUid !== undefined ? cache.byUid(identity.podUid) : undefined;
    return pod ? { pod } : undefined;
  };

  return {
    async enrich(identity: CgroupIdentity): Promise<Enrichment> {
      const resource = identityAttributes(identity);
      if (!identity.isKubernetes || (identity.podUid === undefined && identity.containerId === undefined)) return { resource };
      let found = find(identity);
      if (!found && cache.isHealthy()) {
        const key = { ...(identity.podUid !== undefined && { podUid: identity.podUid }), ...(identity.containerId !== undefined && { containerId: identity.containerId }) };
        await cache.waitFor(key, options.podWaitMs ?? 2000);
        found = find(identity);
      }
      if (!found) return { resource, partial: true };

      const { pod } = found;
      const meta = pod.metadata ?? {};
      Object.assign(resource, {
        [Sem.k8sNamespaceName]: meta.namespace ?? '',
        [Sem.k8sPodName]: meta.name ?? '',
        [Sem.k8sPodUid]: meta.uid ?? identity.podUid ?? '',
      });
      const status = containerStatuses(pod).find((s) => s.name === found.containerName);
      if (found.containerName !== undefined) resource[Sem.k8sContainerName] = found.containerName;
      if (status) {
        resource[Sem.k8sContainerRestartCount] = status.restartCount;
        const image = splitImage(status.image);
        resource[Sem.containerImageName] = image.name;
        if (image.tag !== undefined) resource[Sem.containerImageTags] = [image.tag];
        const runtime = containerIdFromStatus(status.containerID)?.runtime;
        if (runtime !== undefined) resource[Sem.containerRuntimeName] = runtime;
      }
      for (const key of options.podLabels ?? []) {
        const value = meta.labels?.[key];
        if (value !== undefined) resource[podLabelAttribute(key)] = value;
      }
      for (const key of options.podAnnotations ?? []) {
        const value = meta.annotations?.[key];
        if (value !== undefined) resource[podAnnotationAttribute(key)] = value;
      }

      const podOwners: OwnerRef[] = (meta.ownerReferences ?? []).map((o) => ({ kind: o.kind, name: o.name, controller: o.controller === true }));
      const fetched = new Map<string, OwnerRef[] | undefined>();
      const controller = podOwners.find((o) => o.controller) ?? podOwners[0];
      if (controller && (controller.kind === 'ReplicaSet' || controller.kind === 'Job')) {
        const lookup = cache.owners(controller.kind, meta.namespace ?? '', controller.name);
        const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), options.ownerWaitMs ?? 1000).unref());
        fetched.set(`${controller.kind}/${controller.name}`, await Promise.race([lookup, timeout]));
      }
      const workload = resolveWorkload({ name: meta.name ?? '', owners: podOwners, ...(meta.labels && { labels: meta.labels }) }, (kind, name) => fetched.get(`${kind}/${name}`));
      Object.assign(resource, workload.attributes);
      return { resource, workload: { kind: workload.kind, name: workload.name }, partial: found.containerName === undefined && identity.containerId !== undefined };
    },
    stop: () => cache.stop(),
  };
}

/** `registry:5000/team/app:1.2@sha256:...` -> name `registry:5000/team/app`, tag `1.2`. */
export function splitImage(image: string | undefined): { name: string; tag?: string } {
  const withoutDigest = (image ?? '').split('@')[0] as string;
  const slash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.lastIndexOf(':');
  if (colon > slash) return { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) };
  return { name: withoutDigest };
}
