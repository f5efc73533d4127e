// The enricher used when Kubernetes lookups are off: the victim's Resource holds what its cgroup path
// gave (pod UID, container id, runtime, QoS class), and nothing is partial because nothing was looked up.
import { Attr, Sem } from '../attributes.ts';
import type { Attributes, CgroupIdentity } from '../event.ts';
import type { Enricher } from './enricher.ts';

/**
 * The Resource attributes a cgroup path alone can give; the Kubernetes enricher starts from these.
 * A field the path did not give is left out, never written as an empty string.
 */
export function identityAttributes(identity: CgroupIdentity): Attributes {
  const attributes: Attributes = {};
  if (identity.podUid !== undefined) attributes[Sem.k8sPodUid] = identity.podUid;
  if (identity.containerId !== undefined) attributes[Sem.containerId] = identity.containerId;
  if (identity.runtime !== undefined) attributes[Sem.containerRuntimeName] = identity.runtime;
  if (identity.qosClass !== undefined) attributes[Attr.qosClass] = identity.qosClass;
  return attributes;
}

export function createCgroupEnricher(): Enricher {
  return {
    enrich: async (identity) => ({ resource: identityAttributes(identity) }),
    stop: async () => {},
  };
}
