// The receiver's own identity, the Resource every record, span and metric carries beside the victim's:
// who sent it (service.*), from which node and cluster. Pure: the cluster UID is read elsewhere.
import { createHash } from 'node:crypto';
import { Sem } from './attributes.ts';
import type { Attributes } from './event.ts';

/** The namespace the semantic conventions give for a service.instance.id derived from an inherent id. */
export const SERVICE_INSTANCE_NAMESPACE = '4d63009a-8d0f-11ee-aad7-4c796ed8e320';

/** An RFC 4122 (9562) version 5 UUID: SHA-1 over the namespace's bytes and the name. */
export function uuidV5(namespace: string, name: string): string {
  const bytes = createHash('sha1').update(Buffer.from(namespace.replaceAll('-', ''), 'hex')).update(name, 'utf8').digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Stable per node, as the conventions advise when stability is wanted: a UUID v5 of the cluster and node
 * names. A DaemonSet pod's own name or UID would give the node a new instance at every rollout.
 */
export function serviceInstanceId(nodeName: string, clusterName?: string): string {
  return uuidV5(SERVICE_INSTANCE_NAMESPACE, clusterName !== undefined ? `${clusterName}.${nodeName}` : nodeName);
}

export function agentAttributes(options: { version: string; nodeName: string; clusterName?: string; clusterUid?: string }): Attributes {
  return {
    [Sem.serviceName]: 'oomkill-receiver',
    [Sem.serviceVersion]: options.version,
    [Sem.serviceInstanceId]: serviceInstanceId(options.nodeName, options.clusterName),
    // In a pod, hostname() is the pod's name, which changes at every rollout; the node is the host.
    [Sem.hostName]: options.nodeName,
    [Sem.k8sNodeName]: options.nodeName,
    ...(options.clusterName !== undefined && { [Sem.k8sClusterName]: options.clusterName }),
    ...(options.clusterUid !== undefined && { [Sem.k8sClusterUid]: options.clusterUid }),
  };
}
