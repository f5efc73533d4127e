import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { containerIdFromStatus, parseCgroupPath } from '../../src/enrichment/cgroup-path.ts';
import type { CgroupIdentity } from '../../src/event.ts';

const ID = '3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817aabbccdd';
/** The kind or k3d node's own Docker container, around the kubelet's hierarchy. */
const NODE = 'a'.repeat(64);
const UID = '0f3c2a4b-1d2e-4f5a-8b9c-0a1b2c3d4e5f';
const OTHER_UID = '11111111-2222-4333-8444-555555555555';
const U_ = UID.replaceAll('-', '_');

type Row = [shape: string, path: string, expected: Omit<CgroupIdentity, 'path'>];

const BURSTABLE_CONTAINERD = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`;

const ROWS: Row[] = [
  // systemd driver (cgroup v1 and v2 look the same)
  ['systemd, containerd, burstable', BURSTABLE_CONTAINERD, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['systemd, containerd, besteffort', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'besteffort' }],
  ['systemd, containerd, guaranteed (directly under kubepods.slice)', `/kubepods.slice/kubepods-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'guaranteed' }],
  ['systemd, CRI-O, burstable', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/crio-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'cri-o', qosClass: 'burstable' }],
  ['systemd, CRI-O, guaranteed', `/kubepods.slice/kubepods-pod${U_}.slice/crio-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'cri-o', qosClass: 'guaranteed' }],
  ['systemd, CRI-O conmon: the pod, not the container', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/crio-conmon-${ID}.scope`, { isKubernetes: true, podUid: UID, runtime: 'cri-o', qosClass: 'burstable' }],
  ['systemd, Docker (dockershim, cri-dockerd)', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/docker-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'docker', qosClass: 'besteffort' }],
  ['systemd, upper-case pod uid and id', `/kubepods.slice/kubepods-pod${U_.toUpperCase()}.slice/cri-containerd-${ID.toUpperCase()}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'guaranteed' }],
  ['systemd, a sub-cgroup inside the container (v2, systemd in the container)', `${BURSTABLE_CONTAINERD}/init.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  // cgroupfs driver: the runtime is not in the name
  ['cgroupfs, containerd, burstable', `/kubepods/burstable/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'burstable' }],
  ['cgroupfs, containerd, besteffort (k3s default)', `/kubepods/besteffort/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'besteffort' }],
  ['cgroupfs, guaranteed (directly under kubepods)', `/kubepods/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'guaranteed' }],
  ['cgroupfs, trailing slash', `/kubepods/burstable/pod${UID}/${ID}/`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'burstable' }],
  ['cgroupfs, doubled slashes', `//kubepods//burstable//pod${UID}//${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'burstable' }],
  ['cgroupfs, CRI-O (no .scope)', `/kubepods/burstable/pod${UID}/crio-${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'cri-o', qosClass: 'burstable' }],
  ['cgroupfs, CRI-O conmon', `/kubepods/burstable/pod${UID}/crio-conmon-${ID}`, { isKubernetes: true, podUid: UID, runtime: 'cri-o', qosClass: 'burstable' }],
  ['cgroupfs, upper-case hex', `/kubepods/pod${UID.toUpperCase()}/${ID.toUpperCase()}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'guaranteed' }],
  ['cgroupfs, pod uid written with _', `/kubepods/besteffort/pod${U_}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'besteffort' }],
  // containerd's systemd driver on cgroup v1: "slice:prefix:name"
  ['v1 slice:cri-containerd:id under the pod slice', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/kubepods-burstable-pod${U_}.slice:cri-containerd:${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['v1 slice:cri-containerd:id under containerd.service', `/system.slice/containerd.service/kubepods-burstable-pod${U_}.slice:cri-containerd:${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['v1 slice:cri-containerd:id, guaranteed', `/system.slice/containerd.service/kubepods-pod${U_}.slice:cri-containerd:${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'guaranteed' }],
  ['v1 memory controller mount point left in', `/sys/fs/cgroup/memory/kubepods/burstable/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'burstable' }],
  ['a /proc/<pid>/cgroup v1 line', `11:memory:/kubepods/besteffort/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'besteffort' }],
  ['a /proc/<pid>/cgroup v2 line', `0::${BURSTABLE_CONTAINERD}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  // nested: kind, k3d, docker-in-docker, under a test parent
  ['kind node (systemd driver inside a Docker container)', `/docker/${NODE}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['kind node seen from its own cgroup namespace, besteffort', `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'besteffort' }],
  ['kind node, guaranteed', `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'guaranteed' }],
  ['k3d node (cgroupfs inside a Docker container)', `/docker/${NODE}/kubepods/besteffort/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'besteffort' }],
  ['a cluster inside a pod: the nearest pod wins', `/kubepods/burstable/pod${OTHER_UID}/${NODE}/kubepods/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'guaranteed' }],
  ['under a test parent', `/oomkill-test/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  // the pod's own cgroup: a pod-level limit, or a process directly in it
  ['pod level, systemd, burstable', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice`, { isKubernetes: true, podUid: UID, qosClass: 'burstable' }],
  ['pod level, systemd, guaranteed', `/kubepods.slice/kubepods-pod${U_}.slice/`, { isKubernetes: true, podUid: UID, qosClass: 'guaranteed' }],
  ['pod level, cgroupfs', `/kubepods/burstable/pod${UID}`, { isKubernetes: true, podUid: UID, qosClass: 'burstable' }],
  ['QoS level only', '/kubepods.slice/kubepods-burstable.slice', { isKubernetes: true }],
  ['kubepods root', '/kubepods.slice', { isKubernetes: true }],
  ['kubepods root, cgroupfs', '/kubepods/', { isKubernetes: true }],
  // shortened by the kernel program: bytes or levels lost at the root side
  ['bytes cut inside the QoS slice name', `pods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['bytes cut inside the word kubepods: the QoS class is lost', `s-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd' }],
  ['bytes cut inside the pod uid: the CRI container survives', `${U_.slice(3)}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, containerId: ID, runtime: 'containerd' }],
  ['bytes cut inside a v1 slice:prefix:id level', `pod${U_}.slice:cri-containerd:${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd' }],
  ['levels lost above the pod (cgroupfs): the QoS class is lost', `/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID }],
  ['levels lost above the QoS level (cgroupfs)', `/burstable/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'burstable' }],
  // not Kubernetes
  ['plain Docker, systemd', `/system.slice/docker-${ID}.scope`, { isKubernetes: false, containerId: ID, runtime: 'docker' }],
  ['plain Docker, cgroupfs', `/docker/${ID}`, { isKubernetes: false, containerId: ID, runtime: 'docker' }],
  ['Docker in Docker', `/docker/${NODE}/docker/${ID}`, { isKubernetes: false, containerId: ID, runtime: 'docker' }],
  ['the kind node\'s own containerd', `/docker/${NODE}/system.slice/containerd.service`, { isKubernetes: false }],
  ['CRI-O conmon kept in system.slice', `/system.slice/crio-conmon-${ID}.scope`, { isKubernetes: true, runtime: 'cri-o' }],
  ['Podman (not a runtime we name)', `/machine.slice/libpod-${ID}.scope`, { isKubernetes: false }],
  ['kubelet itself', '/system.slice/kubelet.service', { isKubernetes: false }],
  ['a user session', '/user.slice/user-1000.slice/session-3.scope', { isKubernetes: false }],
  ['the root cgroup', '/', { isKubernetes: false }],
  ['empty', '', { isKubernetes: false }],
  ['a service whose name is hex', `/system.slice/${ID}.service`, { isKubernetes: false }],
  ['a bare 64-hex level outside pods and Docker', `/machine/${ID}`, { isKubernetes: false }],
  // malformed
  ['container id one digit short', `/kubepods/pod${UID}/${ID.slice(1)}`, { isKubernetes: true, podUid: UID, qosClass: 'guaranteed' }],
  ['container id one digit long', `/kubepods/pod${UID}/${ID}0`, { isKubernetes: true, podUid: UID, qosClass: 'guaranteed' }],
  ['container id with a non-hex digit', `/kubepods/pod${UID}/cri-containerd-${ID.slice(1)}g.scope`, { isKubernetes: true, podUid: UID, qosClass: 'guaranteed' }],
  ['pod uid with groups of the wrong length', `/kubepods/pod${UID.slice(1)}0/${ID}`, { isKubernetes: true }],
  ['pod uid not hex', '/kubepods/podnot-a-uid/abc', { isKubernetes: true }],
  ['pod level under a service name', `/system.slice/pod${UID}.service`, { isKubernetes: false }],
  ['control characters', 'kubepods\n/../pod\u0000/\uFFFD', { isKubernetes: false }],
];

describe('parseCgroupPath', () => {
  it.each(ROWS)('%s', (_shape, path, expected) => {
    expect(parseCgroupPath(path)).toEqual({ path, ...expected });
  });

  it('knows nothing when the source knew no path', () => {
    expect(parseCgroupPath(undefined)).toEqual({ isKubernetes: false });
  });

  it('never invents a different pod, container, runtime or QoS class when the root side of a path is cut away', () => {
    for (const [shape, path] of ROWS) {
      const whole = parseCgroupPath(path);
      for (let cut = 1; cut <= path.length; cut++) {
        const shortened = parseCgroupPath(path.slice(cut));
        for (const field of ['podUid', 'containerId', 'runtime', 'qosClass'] as const) {
          if (shortened[field] !== undefined) expect(shortened[field], `${shape}, cut at ${cut}: ${field}`).toBe(whole[field]);
        }
      }
    }
  });

  it('keeps the pod and container of any path that still holds their levels whole', () => {
    const prefix = '/a-very-deep-parent.slice'.repeat(200);
    expect(parseCgroupPath(`${prefix}${BURSTABLE_CONTAINERD}`)).toMatchObject({ podUid: UID, containerId: ID, qosClass: 'burstable' });
  });

  it('never throws and never returns a malformed id, whatever the input', () => {
    const pieces = ['/', '-', '_', ':', '.slice', '.scope', 'pod', 'kubepods', 'burstable', 'crio-', 'conmon-', 'cri-containerd', 'docker', UID, U_, ID, ID.slice(7), 'G', '\u0000', '\uFFFD'];
    const pick = (): string => pieces[Math.floor(Math.random() * pieces.length)] as string;
    for (let i = 0; i < 5000; i++) {
      const text = i % 2 === 0 ? randomBytes(i % 400).toString('latin1') : Array.from({ length: i % 30 }, pick).join('');
      const identity = parseCgroupPath(text);
      expect(identity.path).toBe(text);
      if (identity.containerId !== undefined) expect(identity.containerId).toMatch(/^[0-9a-f]{64}$/);
      if (identity.podUid !== undefined) expect(identity.podUid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });

  it('parses a path of megabytes quickly (no backtracking blow-up)', () => {
    const hostile = ['-pod'.repeat(250_000), ':'.repeat(250_000), `${'a-'.repeat(250_000)}kubepods`, '/'.repeat(1_000_000)];
    for (const path of hostile) {
      const started = performance.now();
      parseCgroupPath(`${path}/kubepods/pod${UID}/${ID}`);
      expect(performance.now() - started).toBeLessThan(1000);
    }
  });

  it('returns { isKubernetes: false } for a value that is not a string (untyped JSON)', () => {
    expect(parseCgroupPath(42 as unknown as string)).toEqual({ isKubernetes: false });
  });
});

describe('containerIdFromStatus', () => {
  it.each([
    [`containerd://${ID}`, { runtime: 'containerd', id: ID }],
    [`cri-o://${ID}`, { runtime: 'cri-o', id: ID }],
    [`docker://${ID}`, { runtime: 'docker', id: ID }],
    [`docker://${ID.toUpperCase()}`, { runtime: 'docker', id: ID }],
    [`containerd://${ID.slice(2)}`, undefined],
    [`containerd://${ID}0`, undefined],
    [`containerd://${ID.slice(1)}z`, undefined],
    [`containerd://${ID}\n`, undefined],
    [` containerd://${ID}`, undefined],
    [`containerd:/${ID}`, undefined],
    [`crio://${ID}`, undefined],
    [`rkt://${ID}`, undefined],
    ['containerd://', undefined],
    [ID, undefined],
    ['', undefined],
    [undefined, undefined],
  ] as const)('%s', (status, expected) => {
    expect(containerIdFromStatus(status)).toEqual(expected);
  });
});
