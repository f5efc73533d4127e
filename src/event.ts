// The OOM kill event every source produces, and the decoder of the loader's binary frames.
// The frame layout mirrors bpf/oomkill.h field for field: change both together and bump LAYOUT_VERSION.

export const FRAME_MAGIC = 0x4b4d4f4f; // "OOMK"
export const LAYOUT_VERSION = 1;
export const FRAME_HEADER_SIZE = 16;
export const COMM_LEN = 16;
export const CGROUP_PATH_MAX = 1024;
export const KERNEL_RELEASE_LEN = 72;
export const HELLO_SIZE = 16 + 8 + KERNEL_RELEASE_LEN;
export const STATS_SIZE = 32;
export const KILL_SIZE = 17 * 8 + 7 * 4 + 2 * 2 + 2 + 6 + 2 * COMM_LEN + CGROUP_PATH_MAX;
/** No frame is ever larger than this; a header that claims more is corrupt, not a reason to allocate. */
export const MAX_PAYLOAD = 64 * 1024;

export const FrameType = { hello: 1, kill: 2, stats: 3 } as const;

export const HOOKS = ['none', 'fentry/oom_kill_process', 'kprobe/oom_kill_process', 'tp_btf/mark_victim', 'raw_tp/mark_victim'] as const;
export type Hook = (typeof HOOKS)[number];

export const CONSTRAINTS = ['unknown', 'global', 'cpuset', 'mempolicy', 'memcg'] as const;
/** `global` is the kernel's CONSTRAINT_NONE: the whole node ran out of memory. */
export type Constraint = (typeof CONSTRAINTS)[number];

export const Flag = {
  pathTruncated: 1 << 0,
  namespaceInit: 1 << 1,
  constraintInferred: 1 << 2,
  oomIdInferred: 1 << 3,
  cgroupV2: 1 << 4,
  domainKnown: 1 << 5,
  noMm: 1 << 6,
} as const;

export type SourceName = 'bpf' | 'kmsg' | 'cgroup';

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
  /** Stable across retries and restarts, so that a backend can de-duplicate. */
  eventId: string;
  /** Wall-clock time of the kill, from the kernel's own timestamp. */
  timeUnixNano: bigint;
  /** When this process read it. */
  observedUnixNano: bigint;
  /** Shared by every victim of one OOM invocation: a group kill is one OOM with N victims. */
  oomId?: string;
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
    uid?: number;
    oomScoreAdj?: number;
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
