// The enrichment stage: turns a kill's cgroup-derived identity into the Kubernetes names of its victim.
// An enricher never throws and never holds a kill forever: what it cannot resolve in its bounded
// wait is reported as partial, and the kill is exported with what the cgroup path gave.
import type { CgroupIdentity, Enrichment } from '../event.ts';

export interface Enricher {
  enrich(identity: CgroupIdentity): Promise<Enrichment>;
  stop(): Promise<void>;
}
