// The enricher used when Kubernetes lookups are off: the victim's Resource holds what its cgroup path
// gave (pod UID, container id, runtime, QoS class), and nothing is partial because nothing was looked up.
import { Attr, Sem } from '../attributes.ts';
import type { CgroupIdentity } from './cgroup-path.ts';
import type { Attributes, Enricher } from './enricher.ts';

export function identityAttributes(identity: CgroupIdentity): Attributes {
  const a: Attributes = {};
  if (identity.podUid !== undefined) a[Sem.k8sPodUid] = identity.podUid;
  if (identity.containerId !== undefined) a[Sem.containerId] = identity.containerId;
  if (identity.runtime !== undefined) a[Sem.containerRuntime] = identity.runtime;
  if (identity.qosClass !== undefined) a[Attr.qosClass] = identity.qosClass;
  return a;
}

export function createCgroupEnricher(): Enricher {
  return {
    enrich: async (identity) => ({ resource: identityAttributes(identity) }),
    stop: async () => {},
  };
}
