// Which workload owns a pod: ReplicaSet -> Deployment, Job -> CronJob, StatefulSet, DaemonSet, or the bare
// pod. Pure: the owners of a ReplicaSet or Job come from a lookup the caller caches.
import { Sem } from '../attributes.ts';
import type { Attributes } from '../event.ts';

export interface OwnerRef { kind: string; name: string; controller?: boolean }
export interface Workload { kind: string; name: string; attributes: Attributes }

/**
 * The owners of a ReplicaSet or Job: an array (possibly empty) when known, undefined when the lookup
 * failed. Only then are names guessed from the naming conventions, as the Collector's k8sattributes
 * processor does (`<deployment>-<pod-template-hash>`, `<cronjob>-<scheduled minute>`).
 */
export type OwnerLookup = (kind: 'ReplicaSet' | 'Job', name: string) => OwnerRef[] | undefined;

const ATTRIBUTE_BY_KIND: Record<string, string> = {
  Deployment: Sem.k8sDeploymentName,
  ReplicaSet: Sem.k8sReplicaSetName,
  StatefulSet: Sem.k8sStatefulSetName,
  DaemonSet: Sem.k8sDaemonSetName,
  Job: Sem.k8sJobName,
  CronJob: Sem.k8sCronJobName,
};

export function resolveWorkload(pod: { name: string; owners: OwnerRef[]; labels?: Record<string, string> }, ownersOf: OwnerLookup): Workload {
  const owner = pod.owners.find((o) => o.controller === true) ?? pod.owners[0];
  if (!owner) return { kind: 'Pod', name: pod.name, attributes: {} };
  const chain: OwnerRef[] = [owner];
  if (owner.kind === 'ReplicaSet' || owner.kind === 'Job') {
    const parents = ownersOf(owner.kind, owner.name);
    const parent = parents?.find((o) => o.controller === true) ?? parents?.[0];
    if (parent) chain.push(parent);
    else if (parents === undefined) {
      const guessed = guessParent(owner, pod.labels ?? {});
      if (guessed) chain.push(guessed);
    }
  }
  const attributes: Attributes = {};
  for (const link of chain) {
    const attribute = ATTRIBUTE_BY_KIND[link.kind];
    if (attribute !== undefined) attributes[attribute] = link.name;
  }
  const top = chain.at(-1) as OwnerRef;
  return { kind: top.kind, name: top.name, attributes };
}

function guessParent(owner: OwnerRef, labels: Record<string, string>): OwnerRef | undefined {
  const hash = labels['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash !== undefined && owner.name.endsWith(`-${hash}`)) {
    return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
  }
  const scheduled = /^(.+)-\d{8,10}$/.exec(owner.name);
  if (owner.kind === 'Job' && scheduled) return { kind: 'CronJob', name: scheduled[1] as string };
  return undefined;
}
