// Every attribute, metric and event name this project exports, defined once.
// Semantic-convention names where the conventions have one; our own under the `oomkill.` prefix.
// deploy/ (alert rules, dashboard) and otel-config/ name the same things: keep them in step.

/** Our own namespace for what the semantic conventions do not define. */
export const PREFIX = 'oomkill';

export const EVENT_NAME = `${PREFIX}.kill`;
export const INSTRUMENTATION_SCOPE = 'oomkill-receiver';

// Metric names, with the Prometheus names the Collector's exporters and the receiver's own Prometheus
// endpoint give them (OpenTelemetry's name translation: '.' -> '_', unit suffix, `_total` for monotonic sums).
// Every data point also carries k8s.node.name, so both paths have the node's label without target_info.
export const Metric = {
  /** Counter of OOM-killed processes, by where they died; Prometheus: oomkill_kills_total. */
  kills: `${PREFIX}.kills`,
  /** Kills the kernel counted but this receiver never saw one by one; oomkill_missed_kills_total. */
  missedKills: `${PREFIX}.missed_kills`,
  /** Gauge, unit s: Unix time of the newest kill in each oomkill.kills series; oomkill_kill_last_timestamp_seconds. */
  killLastTimestamp: `${PREFIX}.kill.last_timestamp`,
  /** Gauge, unit s: when each oomkill.missed_kills series last grew; oomkill_missed_kill_last_timestamp_seconds. */
  missedKillLastTimestamp: `${PREFIX}.missed_kill.last_timestamp`,
  /** Gauge, 1 while the receiver runs, with its source, hook and degradation; oomkill_receiver_up. */
  receiverUp: `${PREFIX}.receiver.up`,
  /** The receiver's own health: events by stage and outcome; oomkill_receiver_events_total. */
  receiverEvents: `${PREFIX}.receiver.events`,
  /** Restarts of a supervised source (the loader died), by source; oomkill_receiver_source_restarts_total. */
  sourceRestarts: `${PREFIX}.receiver.source_restarts`,
} as const;

/** Semantic-convention resource and record attributes. */
export const Sem = {
  serviceName: 'service.name',
  serviceVersion: 'service.version',
  /** Stable per node: a UUID v5 of the cluster and node names (src/agent-identity.ts). */
  serviceInstanceId: 'service.instance.id',
  hostName: 'host.name',
  /** From configuration (--cluster-name): Kubernetes has no name for its cluster. */
  k8sClusterName: 'k8s.cluster.name',
  /** The kube-system namespace's UID, as the Collector's k8sattributes processor derives it. */
  k8sClusterUid: 'k8s.cluster.uid',
  k8sNodeName: 'k8s.node.name',
  k8sNamespaceName: 'k8s.namespace.name',
  k8sPodName: 'k8s.pod.name',
  k8sPodUid: 'k8s.pod.uid',
  k8sContainerName: 'k8s.container.name',
  k8sContainerRestartCount: 'k8s.container.restart_count',
  k8sDeploymentName: 'k8s.deployment.name',
  k8sReplicaSetName: 'k8s.replicaset.name',
  k8sStatefulSetName: 'k8s.statefulset.name',
  k8sDaemonSetName: 'k8s.daemonset.name',
  k8sJobName: 'k8s.job.name',
  k8sCronJobName: 'k8s.cronjob.name',
  containerId: 'container.id',
  containerRuntimeName: 'container.runtime.name',
  containerImageName: 'container.image.name',
  containerImageTags: 'container.image.tags',
  processPid: 'process.pid',
  /** The basename of the executable (the kernel's mm->exe_file), not comm: only where the source reads it. */
  processExecutableName: 'process.executable.name',
  processUserId: 'process.user.id',
  threadId: 'thread.id',
  errorType: 'error.type',
} as const;

export const podLabelAttribute = (key: string): string => `k8s.pod.label.${key}`;
export const podAnnotationAttribute = (key: string): string => `k8s.pod.annotation.${key}`;

/** Our own attributes. */
export const Attr = {
  eventId: `${PREFIX}.event.id`,
  /**
   * The record's event name copied to an attribute by the sidecar Collector for Loki, which drops the
   * EventName field (the conventions' event.name attribute is deprecated in favour of that field).
   */
  eventName: `${PREFIX}.event.name`,
  oomId: `${PREFIX}.oom.id`,
  source: `${PREFIX}.source`,
  hook: `${PREFIX}.hook`,
  /** memcg | global | cpuset | mempolicy | unknown */
  constraint: `${PREFIX}.constraint`,
  constraintInferred: `${PREFIX}.constraint.inferred`,
  /** The victim was PID 1 of its PID namespace: only then does Kubernetes report OOMKilled. */
  mainProcess: `${PREFIX}.victim.main_process`,
  namespacePid: `${PREFIX}.victim.namespace_pid`,
  /** The kernel's task name (comm, 15 bytes at most): the conventions have no name for it. */
  comm: `${PREFIX}.victim.comm`,
  /** The exact bytes of a name that is not valid UTF-8. */
  commRawHex: `${PREFIX}.victim.comm_raw_hex`,
  executableNameRawHex: `${PREFIX}.victim.executable_name_raw_hex`,
  oomScoreAdj: `${PREFIX}.victim.oom_score_adj`,
  totalVmBytes: `${PREFIX}.victim.total_vm_bytes`,
  anonRssBytes: `${PREFIX}.victim.anon_rss_bytes`,
  fileRssBytes: `${PREFIX}.victim.file_rss_bytes`,
  shmemRssBytes: `${PREFIX}.victim.shmem_rss_bytes`,
  swapBytes: `${PREFIX}.victim.swap_bytes`,
  pageTablesBytes: `${PREFIX}.victim.page_tables_bytes`,
  cgroupPath: `${PREFIX}.cgroup.path`,
  cgroupPathTruncated: `${PREFIX}.cgroup.path_truncated`,
  cgroupId: `${PREFIX}.cgroup.id`,
  cgroupV2: `${PREFIX}.cgroup.v2`,
  qosClass: `${PREFIX}.pod.qos_class`,
  domainCgroupId: `${PREFIX}.domain.cgroup_id`,
  domainCgroupPath: `${PREFIX}.domain.cgroup_path`,
  domainLimitBytes: `${PREFIX}.domain.limit_bytes`,
  domainUsageBytes: `${PREFIX}.domain.usage_bytes`,
  memcgLimitBytes: `${PREFIX}.memcg.limit_bytes`,
  memcgUsageBytes: `${PREFIX}.memcg.usage_bytes`,
  triggerPid: `${PREFIX}.trigger.pid`,
  triggerTid: `${PREFIX}.trigger.tid`,
  triggerComm: `${PREFIX}.trigger.comm`,
  triggerCgroupId: `${PREFIX}.trigger.cgroup_id`,
  totalPages: `${PREFIX}.oom_control.total_pages`,
  chosenPoints: `${PREFIX}.oom_control.chosen_points`,
  /** The Kubernetes names could not all be resolved: the record carries what the cgroup path gave. */
  enrichmentPartial: `${PREFIX}.enrichment.partial`,
  /** The workload kind and name, whatever the kind: one pair to group alerts by. */
  workloadKind: `${PREFIX}.workload.kind`,
  workloadName: `${PREFIX}.workload.name`,
  /** Why kills were missed: ringbuf-full, malformed-frame, reconciliation. */
  missedReason: `${PREFIX}.missed.reason`,
  /** The heartbeat's: does the source give less than this kernel could (true|false), and why. */
  degraded: `${PREFIX}.degraded`,
  /** Short tokens joined with ',' (`fallback-source`, `unpinned`, ...); '' when not degraded. */
  degradedReason: `${PREFIX}.degraded.reason`,
  /** Receiver self-telemetry dimensions. */
  stage: `${PREFIX}.stage`,
  outcome: `${PREFIX}.outcome`,
} as const;
