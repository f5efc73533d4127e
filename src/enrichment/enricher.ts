// The enrichment stage: turns a kill's cgroup-derived identity into the Kubernetes names of its victim.
// An enricher never throws and never holds a kill forever: what it cannot resolve in its bounded
// wait is reported as partial, and the kill is exported with what the cgroup path gave.
import type { CgroupIdentity } from './cgroup-path.ts';

/** Attribute values as OpenTelemetry takes them. */
export type AttributeValue = string | number | boolean | string[];
export type Attributes = Record<string, AttributeValue>;

export interface Enrichment {
  /**
   * Attributes that describe the victim's container, for the Resource of its log records
   * (semantic-convention names from src/attributes.ts: k8s.pod.uid, container.id, k8s.pod.name, ...).
   */
  resource: Attributes;
  /** The owning workload (Deployment, StatefulSet, DaemonSet, CronJob, Job, or the bare Pod). */
  workload?: { kind: string; name: string };
  /**
   * True when the victim is in a pod but its names could not all be resolved in time
   * (pod not in the cache, API server unreachable). Undefined when no Kubernetes lookup applies.
   */
  partial?: boolean;
}

export interface Enricher {
  enrich(identity: CgroupIdentity): Promise<Enrichment>;
  stop(): Promise<void>;
}
