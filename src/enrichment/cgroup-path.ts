// Finds the pod UID, container ID, runtime and QoS class in a cgroup path, for every common layout:
// systemd and cgroupfs drivers, containerd, CRI-O and Docker, cgroup v1 and v2, kind and k3s nestings.
// Pure: it never throws, and never returns a malformed id. Paths are read from the leaf side, because a
// path the kernel program had to shorten keeps its leaf end and loses its root end (whole levels, or
// bytes: then its first level is the tail of a name).

import type { CgroupIdentity, ContainerRuntime, QosClass } from '../event.ts';

/**
 * The kubelet names a pod's level `pod<uid>` (cgroupfs driver) or `<parent slice>-pod<uid with _>.slice`
 * (systemd driver, e.g. `kubepods-burstable-pod<uid>.slice`). Group 1 is the parent slice's name.
 */
const POD_LEVEL = /^(?:(.*)-)?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?$/i;

/** `kubepods`, `kubepods.slice`, `kubepods-burstable.slice`, kind's `kubelet-kubepods.slice`, ... */
const KUBEPODS_LEVEL = /(?:^|-)kubepods(?:[-.]|$)/;

/**
 * containerd's systemd driver on cgroup v1 names a container `<pod slice>:cri-containerd:<id>`: one level
 * that holds two. A shortened path may have cut into the slice's name, or all of it.
 */
const SLICE_PREFIX_NAME = /^([^:]*):(cri-containerd|crio|docker):([0-9a-f]{64})$/i;

interface ContainerForm {
  pattern: RegExp;
  /** Undefined for the cgroupfs driver's bare id: the runtime is not in the name. */
  runtime: ContainerRuntime | undefined;
  /** Only the kubelet's CRI runtimes make these names. */
  cri: boolean;
  /**
   * False for CRI-O's conmon, the monitor that holds the container's stdio and exit code. Its level is
   * named after the container but sits beside it: a conmon killed is not the container killed (Kubernetes
   * will not say OOMKilled), so no container id is claimed; its pod, charged for its memory, still is.
   */
  isContainer: boolean;
}

const CONTAINER_FORMS: readonly ContainerForm[] = [
  { pattern: /^cri-containerd-([0-9a-f]{64})\.scope$/i, runtime: 'containerd', cri: true, isContainer: true },
  // With the cgroupfs driver CRI-O leaves out the `.scope`.
  { pattern: /^crio-conmon-([0-9a-f]{64})(?:\.scope)?$/i, runtime: 'cri-o', cri: true, isContainer: false },
  { pattern: /^crio-([0-9a-f]{64})(?:\.scope)?$/i, runtime: 'cri-o', cri: true, isContainer: true },
  { pattern: /^docker-([0-9a-f]{64})\.scope$/i, runtime: 'docker', cri: false, isContainer: true },
  { pattern: /^([0-9a-f]{64})$/i, runtime: undefined, cri: false, isContainer: true },
];

const QOS_BY_PARENT: Readonly<Record<string, QosClass>> = { kubepods: 'guaranteed', burstable: 'burstable', besteffort: 'besteffort' };

export function parseCgroupPath(path: string | undefined): CgroupIdentity {
  if (typeof path !== 'string') return { isKubernetes: false };
  const identity: CgroupIdentity = { path, isKubernetes: false };
  const levels = splitLevels(path);

  // The nearest pod level to the leaf wins; the container is the level right below it. Levels deeper
  // still are the container's own sub-cgroups (a systemd inside the container makes `init.scope`).
  let podIndex = -1;
  let pod: RegExpExecArray | null = null;
  for (let i = levels.length - 1; i >= 0 && pod === null; i--) {
    pod = POD_LEVEL.exec(levels[i] as string);
    if (pod !== null) podIndex = i;
  }
  if (pod !== null) {
    identity.podUid = (pod[2] as string).replaceAll('_', '-').toLowerCase();
    const qos = qosOfPod(pod[1], levels[podIndex - 1]);
    if (qos !== undefined) identity.qosClass = qos;
  }

  // Outside a pod only the leaf can be a container, and a bare id only under Docker's `/docker/<id>`:
  // elsewhere a 64-hex name is anybody's.
  const containerLevel = podIndex >= 0 ? levels[podIndex + 1] : levels.at(-1);
  const container = containerLevel === undefined ? undefined : matchContainer(containerLevel);
  let cri = false;
  if (container !== undefined && (podIndex >= 0 || container.form.runtime !== undefined || levels.at(-2) === 'docker')) {
    const runtime = container.form.runtime ?? (podIndex < 0 ? 'docker' : undefined);
    if (container.form.isContainer) identity.containerId = container.id;
    if (runtime !== undefined) identity.runtime = runtime;
    cri = container.form.cri;
  }

  identity.isKubernetes = pod !== null || cri || levels.some((level) => KUBEPODS_LEVEL.test(level));
  return identity;
}

/** The path's levels, with the v1 `slice:prefix:id` level split into its pod slice and container scope. */
function splitLevels(path: string): string[] {
  return path.split('/').flatMap((level): string[] => {
    if (level === '') return [];
    const joined = SLICE_PREFIX_NAME.exec(level);
    if (joined === null) return [level];
    const container = `${joined[2]}-${joined[3]}.scope`;
    return joined[1] === '' ? [container] : [joined[1] as string, container];
  });
}

/**
 * The systemd driver names the QoS class in the pod's own level (`kubepods-burstable-pod...`, and
 * `kubepods-pod...` for guaranteed); the cgroupfs driver in its parent (`burstable/pod...`,
 * `kubepods/pod...`). A level cut short by truncation names nothing.
 */
function qosOfPod(systemdParent: string | undefined, parentLevel: string | undefined): QosClass | undefined {
  const word = systemdParent !== undefined ? systemdParent.slice(systemdParent.lastIndexOf('-') + 1) : parentLevel;
  return word !== undefined && Object.hasOwn(QOS_BY_PARENT, word) ? QOS_BY_PARENT[word] : undefined;
}

function matchContainer(level: string): { form: ContainerForm; id: string } | undefined {
  for (const form of CONTAINER_FORMS) {
    const match = form.pattern.exec(level);
    if (match !== null) return { form, id: (match[1] as string).toLowerCase() };
  }
  return undefined;
}

/** A container status's id, `containerd://<64 hex>` (also `cri-o://`, `docker://`), split into runtime and id. */
export function containerIdFromStatus(status: string | undefined): { runtime: ContainerRuntime; id: string } | undefined {
  if (typeof status !== 'string') return undefined;
  const match = /^(containerd|cri-o|docker):\/\/([0-9a-fA-F]{64})$/.exec(status);
  if (match === null) return undefined;
  return { runtime: match[1] as ContainerRuntime, id: (match[2] as string).toLowerCase() };
}
