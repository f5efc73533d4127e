// The OOM kill event every source produces: one type and one export path for the bpf, kmsg and
// cgroup sources. The bpf source's binary frames are decoded in src/sources/bpf-frames.ts.

/** Indexed by bpf/oomkill.h enum oomkill_hook: where the program that recorded a kill is attached. */
export const HOOKS = [
  'none',
  'fentry/oom_kill_process',
  'kprobe/oom_kill_process',
  'tp_btf/mark_victim',
  'raw_tp/mark_victim',
  'fentry/oom_kill_memcg_member',
  'kprobe/oom_kill_memcg_member',
] as const;
export type Hook = (typeof HOOKS)[number];

/** Indexed by bpf/oomkill.h enum oomkill_constraint (the kernel's enum oom_constraint plus one). */
export const CONSTRAINTS = ['unknown', 'global', 'cpuset', 'mempolicy', 'memcg'] as const;
/** `global` is the kernel's CONSTRAINT_NONE: the whole node ran out of memory. */
export type Constraint = (typeof CONSTRAINTS)[number];

/** The sources, best first: --source auto tries them in this order. */
export const SOURCE_NAMES = ['bpf', 'kmsg', 'cgroup'] as const;
export type SourceName = (typeof SOURCE_NAMES)[number];

/** A process name as the kernel holds it: bytes, not necessarily UTF-8. */
export interface ProcessName {
  /** Decoded as UTF-8 with U+FFFD for invalid bytes: safe to put in any attribute. */
  text: string;
  /** Set only when the bytes were not valid UTF-8, so nothing of the original is lost. */
  rawHex?: string;
}

/**
 * One OOM-killed process. Fields a source cannot know are undefined, never guessed:
 * the cgroup source knows no pid, the kmsg source no trigger cgroup id.
 */
export interface OomKill {
  source: SourceName;
  /**
   * Stable across retries and restarts, so that a backend can de-duplicate. From the bpf source, the same
   * from every observer of the kill: derived from the boot ID, the victim's tgid and its start time.
   */
  eventId: string;
  /** Wall-clock time of the kill, from the kernel's own timestamp. */
  timeUnixNano: bigint;
  /** When this process read it. */
  observedUnixNano: bigint;
  /**
   * Shared by every victim of one OOM invocation: a group kill is one OOM with N victims. From the bpf
   * source, the eventId of the OOM's first (chosen) victim.
   */
  oomId?: string;
  /** When the kernel's OOM invocation began, where the source sees it (a kill's span starts there). */
  oomStartUnixNano?: bigint;
  hook?: Hook;
  constraint: Constraint;
  /** True when the constraint was not seen but inferred (from the memcg limits). */
  constraintInferred: boolean;
  victim: {
    pid?: number;
    tid?: number;
    /** The pid inside its own PID namespace; 1 means the container's main process. */
    namespacePid?: number;
    /** PID 1 of its PID namespace: only such a kill shows as `OOMKilled` in Kubernetes. */
    isNamespaceInit?: boolean;
    comm?: ProcessName;
    /** The basename of the victim's executable (mm->exe_file), read in the kernel; comm is not it. */
    executableName?: ProcessName;
    /** task->start_time of the victim process, in ns since boot: with the boot ID and pid, its identity. */
    startTimeNs?: bigint;
    uid?: number;
    oomScoreAdj?: number;
    /** Killed as a member of a memory.oom.group kill (the OOM's chosen victim is not flagged). */
    groupMember?: boolean;
  };
  memory: {
    totalVmBytes?: number;
    anonRssBytes?: number;
    fileRssBytes?: number;
    shmemRssBytes?: number;
    swapBytes?: number;
    pageTablesBytes?: number;
  };
  cgroup: {
    /** The victim's memory cgroup, from the hierarchy's root, read at the kill. */
    path?: string;
    pathTruncated: boolean;
    id?: bigint;
    v2?: boolean;
  };
  /** The memory cgroup whose limit was hit (for a pod-level limit, the pod's, not the container's). */
  domain?: {
    cgroupId?: bigint;
    path?: string;
    limitBytes?: number;
    usageBytes?: number;
  };
  victimMemcg?: { limitBytes?: number; usageBytes?: number };
  /** The task whose allocation invoked the OOM killer; it may differ from the victim. */
  trigger?: { pid?: number; tid?: number; comm?: ProcessName; cgroupId?: bigint };
  /** oom_control figures, only where the hook sees them. */
  oomControl?: { totalPages: number; chosenPoints: number };
}

// What travels between the stages besides the kill itself: a source's lost-kill reports, the cgroup
// identity read from a kill's path, and what enrichment learnt. Defined here, beside the event, so the
// stage folders meet only through this module and never import each other.

/** Kills that certainly happened but that the source could not deliver one by one. */
export interface LostKills {
  source: SourceName;
  /** How many were lost since the previous report (not a running total). */
  count: number;
  /** Why: `ringbuf-full` (counted in the kernel), `malformed-frame`. */
  reason: string;
}

/** The container runtime named by a cgroup path. */
export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

/** Where a kill happened, as its cgroup path says: parsed in src/enrichment/cgroup-path.ts. */
export interface CgroupIdentity {
  /** The path as given; undefined when the source knew none. */
  path?: string;
  /**
   * The path is under a kubepods hierarchy. A shortened path may have lost its kubepods level, so a
   * pod level or a CRI runtime's container level (`cri-containerd-`, `crio-`) also counts: only
   * the kubelet and the CRI runtimes create those.
   */
  isKubernetes: boolean;
  /** Lower-case, dashed 8-4-4-4-12. */
  podUid?: string;
  /** 64 lower-case hex digits. */
  containerId?: string;
  runtime?: ContainerRuntime;
  /** Undefined when the levels that name it are not in the path (a shortened path). */
  qosClass?: QosClass;
}

/** Attribute values as OpenTelemetry takes them. */
export type AttributeValue = string | number | boolean | string[];
export type Attributes = Record<string, AttributeValue>;

/** What the enrichment stage learnt about a kill's victim. */
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

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');

/** A process name from the kernel's bytes (up to the first NUL): invalid UTF-8 is kept, as hex. */
export function processNameFromBytes(bytes: Uint8Array): ProcessName {
  const nul = bytes.indexOf(0);
  const name = nul === -1 ? bytes : bytes.subarray(0, nul);
  try {
    return { text: strictUtf8.decode(name) };
  } catch {
    return { text: lossyUtf8.decode(name), rawHex: Buffer.from(name).toString('hex') };
  }
}
