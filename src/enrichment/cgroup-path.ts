// Finds the pod UID, container ID, runtime and QoS class in a cgroup path, for every common layout:
// systemd and cgroupfs drivers, containerd, CRI-O and Docker, cgroup v1 and v2. Pure: it never throws,
// and never returns a malformed id. Paths are read from the leaf side, because a path the kernel program
// had to truncate keeps its leaf end and loses its root end.

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker';
export type QosClass = 'guaranteed' | 'burstable' | 'besteffort';

export interface CgroupIdentity {
  /** The path as given; undefined when the source knew none. */
  path?: string;
  /** The path is under a kubepods hierarchy (or names a pod). */
  isKubernetes: boolean;
  /** Lower-case, dashed 8-4-4-4-12. */
  podUid?: string;
  /** 64 lower-case hex digits. */
  containerId?: string;
  runtime?: ContainerRuntime;
  qosClass?: QosClass;
}

const UID = /(?:^|[-_])pod([0-9a-fA-F]{8}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{4}[-_][0-9a-fA-F]{12})(?:\.slice)?$/;
const HEX64 = /^[0-9a-fA-F]{64}$/;

/** Container scope names, by runtime: `cri-containerd-<id>.scope`, `crio-<id>.scope`, `docker-<id>.scope`. */
const CONTAINER_FORMS: ReadonlyArray<{ pattern: RegExp; runtime: ContainerRuntime | undefined }> = [
  { pattern: /^cri-containerd-([0-9a-fA-F]{64})\.scope$/, runtime: 'containerd' },
  // conmon is CRI-O's monitor process: its cgroup belongs to the container, and is named for it.
  { pattern: /^crio-(?:conmon-)?([0-9a-fA-F]{64})(?:\.scope)?$/, runtime: 'cri-o' },
  { pattern: /^docker-([0-9a-fA-F]{64})\.scope$/, runtime: 'docker' },
  // cgroupfs driver: the bare id; the runtime is not in the name.
  { pattern: /^([0-9a-fA-F]{64})$/, runtime: undefined },
];

export function parseCgroupPath(path: string | undefined): CgroupIdentity {
  if (path === undefined) return { isKubernetes: false };
  // containerd's systemd driver on cgroup v1 names a container "<pod slice>:cri-containerd:<id>": one level
  // that holds two. Split it, so that every layout reads as pod level then container level.
  const parts = path.split('/').filter((p) => p !== '').flatMap((p) => {
    const joined = /^([^:]+\.slice):(cri-containerd|crio|docker):([0-9a-fA-F]{64})$/.exec(p);
    return joined ? [joined[1] as string, `${joined[2]}-${joined[3]}.scope`] : [p];
  });
  const identity: CgroupIdentity = { path, isKubernetes: false };

  // Walk from the leaf: the nearest pod level wins, and the container is the level right below it
  // (or the leaf itself when nothing names a pod, as for a bare `/docker/<id>`).
  let podIndex = -1;
  for (let i = parts.length - 1; i >= 0; i--) {
    const match = UID.exec(parts[i] as string);
    if (match) {
      identity.podUid = (match[1] as string).replaceAll('_', '-').toLowerCase();
      podIndex = i;
      break;
    }
  }
  const containerPart = podIndex >= 0 ? parts[podIndex + 1] : parts.at(-1);
  if (containerPart !== undefined) {
    for (const form of CONTAINER_FORMS) {
      const match = form.pattern.exec(containerPart);
      if (!match) continue;
      const id = (match[1] as string).toLowerCase();
      // A bare 64-hex leaf outside any pod is only a container when a runtime names it (`/docker/<id>`).
      if (form.runtime === undefined && podIndex < 0 && parts.at(-2) !== 'docker') break;
      identity.containerId = id;
      const runtime = form.runtime ?? (podIndex < 0 ? 'docker' : undefined);
      if (runtime !== undefined) identity.runtime = runtime;
      break;
    }
  }

  const kubepods = parts.some((p) => p === 'kubepods' || p.startsWith('kubepods.') || p.startsWith('kubepods-') || p.endsWith('-kubepods.slice'));
  identity.isKubernetes = kubepods || identity.podUid !== undefined;
  if (identity.podUid !== undefined) {
    const before = parts.slice(0, podIndex + 1).join('/');
    identity.qosClass = /(^|[/-])burstable([/.-]|$)/.test(before) ? 'burstable' : /(^|[/-])besteffort([/.-]|$)/.test(before) ? 'besteffort' : 'guaranteed';
    // A truncated path may have lost the levels that name the QoS class: then it is not known.
    if (!kubepods && !/burstable|besteffort/.test(before)) delete identity.qosClass;
  }
  return identity;
}

/** A container status's id, `containerd://<64 hex>` (also `cri-o://`, `docker://`), split into runtime and id. */
export function containerIdFromStatus(status: string | undefined): { runtime: ContainerRuntime; id: string } | undefined {
  const match = /^(containerd|cri-o|docker):\/\/([0-9a-fA-F]{64})$/.exec(status ?? '');
  if (!match || !HEX64.test(match[2] as string)) return undefined;
  return { runtime: match[1] as ContainerRuntime, id: (match[2] as string).toLowerCase() };
}
