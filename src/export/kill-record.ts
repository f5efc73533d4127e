// Pure translation of an enriched kill into what leaves the process: the log record's body and
// attributes, the victim's Resource attributes, and the counter's attributes. No I/O here.
import { Attr, Sem } from '../attributes.ts';
import type { Attributes, CgroupIdentity, Enrichment, OomKill } from '../event.ts';

/** One kill with everything the enrichment stage learnt about its victim. */
export interface EnrichedKill {
  kill: OomKill;
  identity: CgroupIdentity;
  enrichment: Enrichment;
}

/** Control characters and escape sequences become visible escapes: a process name cannot rewrite a terminal. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

const MiB = 1024 * 1024;
const mib = (bytes: number): string => `${Math.round(bytes / MiB)} MiB`;

/** An integer attribute; ids beyond 2^53 are kept exact as strings rather than rounded. */
const integer = (value: bigint | number): number | string =>
  typeof value === 'number' || (value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= 0n) ? Number(value) : value.toString();

/** Exact: going through a JS number of nanoseconds would lose precision beyond 2^53. */
export function nanosToHrTime(nanos: bigint): [number, number] {
  return [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)];
}

/** One line a person reads first: who died, where, and how close to which limit. */
export function killBody({ kill, identity, enrichment }: EnrichedKill): string {
  const r = enrichment.resource;
  const who = kill.victim.pid !== undefined
    ? `pid ${kill.victim.pid} (${printable(kill.victim.comm?.text ?? '?')})`
    : 'a process (this source does not see pids)';
  const role = kill.victim.isNamespaceInit === true ? ', the container\'s main process,' : '';
  let where: string;
  const podName = r[Sem.k8sPodName];
  const containerName = r[Sem.k8sContainerName];
  if (typeof podName === 'string') {
    where = ` in pod ${printable(`${String(r[Sem.k8sNamespaceName])}/${podName}`)}`;
    if (typeof containerName === 'string') where += ` container ${printable(containerName)}`;
  } else if (identity.podUid !== undefined) {
    where = ` in pod ${identity.podUid}`;
    if (identity.containerId !== undefined) where += ` container ${identity.containerId}`;
  } else {
    where = kill.cgroup.path !== undefined ? ` in cgroup ${printable(kill.cgroup.path)}` : '';
  }
  const figures: string[] = [];
  if (kill.memory.anonRssBytes !== undefined) figures.push(`anon-rss ${mib(kill.memory.anonRssBytes)}`);
  const limit = kill.domain?.limitBytes ?? kill.victimMemcg?.limitBytes;
  if (kill.constraint === 'global') figures.push('node out of memory');
  else if (limit !== undefined) figures.push(`limit ${mib(limit)}`);
  return `OOM kill: ${who}${role}${where}${figures.length > 0 ? `, ${figures.join(', ')}` : ''}`;
}

/** Every captured field, under semantic-convention names where they exist and `oomkill.*` otherwise. */
export function killAttributes({ kill, identity, enrichment }: EnrichedKill): Attributes {
  const a: Attributes = {};
  const set = (key: string, value: string | number | boolean | bigint | undefined): void => {
    if (value === undefined) return;
    a[key] = typeof value === 'bigint' ? integer(value) : value;
  };
  set(Attr.eventId, kill.eventId);
  set(Attr.oomId, kill.oomId);
  set(Attr.source, kill.source);
  set(Attr.hook, kill.hook);
  set(Attr.constraint, kill.constraint);
  set(Attr.constraintInferred, kill.constraintInferred);
  set(Attr.mainProcess, kill.victim.isNamespaceInit);
  set(Sem.processPid, kill.victim.pid);
  set(Sem.threadId, kill.victim.tid);
  set(Attr.namespacePid, kill.victim.namespacePid);
  set(Sem.processExecutableName, kill.victim.executableName?.text);
  set(Attr.executableNameRawHex, kill.victim.executableName?.rawHex);
  set(Attr.comm, kill.victim.comm?.text);
  set(Attr.commRawHex, kill.victim.comm?.rawHex);
  set(Sem.processUserId, kill.victim.uid);
  set(Attr.oomScoreAdj, kill.victim.oomScoreAdj);
  set(Attr.totalVmBytes, kill.memory.totalVmBytes);
  set(Attr.anonRssBytes, kill.memory.anonRssBytes);
  set(Attr.fileRssBytes, kill.memory.fileRssBytes);
  set(Attr.shmemRssBytes, kill.memory.shmemRssBytes);
  set(Attr.swapBytes, kill.memory.swapBytes);
  set(Attr.pageTablesBytes, kill.memory.pageTablesBytes);
  set(Attr.cgroupPath, kill.cgroup.path);
  set(Attr.cgroupPathTruncated, kill.cgroup.pathTruncated);
  set(Attr.cgroupId, kill.cgroup.id);
  set(Attr.cgroupV2, kill.cgroup.v2);
  set(Attr.domainCgroupId, kill.domain?.cgroupId);
  set(Attr.domainCgroupPath, kill.domain?.path);
  set(Attr.domainLimitBytes, kill.domain?.limitBytes);
  set(Attr.domainUsageBytes, kill.domain?.usageBytes);
  set(Attr.memcgLimitBytes, kill.victimMemcg?.limitBytes);
  set(Attr.memcgUsageBytes, kill.victimMemcg?.usageBytes);
  set(Attr.triggerPid, kill.trigger?.pid);
  set(Attr.triggerTid, kill.trigger?.tid);
  set(Attr.triggerComm, kill.trigger?.comm?.text);
  set(Attr.triggerCgroupId, kill.trigger?.cgroupId);
  set(Attr.totalPages, kill.oomControl?.totalPages);
  set(Attr.chosenPoints, kill.oomControl?.chosenPoints);
  set(Attr.qosClass, identity.qosClass);
  set(Attr.workloadKind, enrichment.workload?.kind);
  set(Attr.workloadName, enrichment.workload?.name);
  set(Attr.enrichmentPartial, enrichment.partial);
  return a;
}

/**
 * Where a kill happened, as counter attributes: namespace, container and workload, whatever is known. A
 * cluster has few of each, so the series stay bounded whatever the pods' churn; the pod's name and UID
 * (generated for Deployments and Jobs) stay on the log records. A missed kill gets the same from its
 * cgroup, with no process and no made-up kill record.
 */
export function locationAttributes(enrichment: Enrichment): Attributes {
  const a: Attributes = {};
  for (const key of [Sem.k8sNamespaceName, Sem.k8sContainerName] as const) {
    const value = enrichment.resource[key];
    if (value !== undefined) a[key] = value;
  }
  if (enrichment.workload) {
    a[Attr.workloadKind] = enrichment.workload.kind;
    a[Attr.workloadName] = enrichment.workload.name;
  }
  return a;
}

/** The kill counter's attributes: what an alert groups by, and nothing unbounded (no pod, pid, uid or event id). */
export function killCounterAttributes({ kill, enrichment }: EnrichedKill): Attributes {
  const a: Attributes = { [Attr.source]: kill.source, [Attr.constraint]: kill.constraint, ...locationAttributes(enrichment) };
  if (kill.victim.isNamespaceInit !== undefined) a[Attr.mainProcess] = kill.victim.isNamespaceInit;
  return a;
}
