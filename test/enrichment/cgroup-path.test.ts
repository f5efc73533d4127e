import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { containerIdFromStatus, parseCgroupPath } from '../../src/enrichment/cgroup-path.ts';
import type { CgroupIdentity } from '../../src/enrichment/cgroup-path.ts';

const ID = '3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817aabbccdd';
const UID = '0f3c2a4b-1d2e-4f5a-8b9c-0a1b2c3d4e5f';
const U_ = UID.replaceAll('-', '_');

type Row = [shape: string, path: string | undefined, expected: Omit<CgroupIdentity, 'path'>];

const ROWS: Row[] = [
  ['systemd, containerd, burstable (v2)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['systemd, containerd, besteffort', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'besteffort' }],
  ['systemd, containerd, guaranteed', `/kubepods.slice/kubepods-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'guaranteed' }],
  ['systemd, CRI-O, burstable', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/crio-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'cri-o', qosClass: 'burstable' }],
  ['systemd, CRI-O conmon', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/crio-conmon-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'cri-o', qosClass: 'burstable' }],
  ['systemd, CRI-O guaranteed', `/kubepods.slice/kubepods-pod${U_}.slice/crio-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'cri-o', qosClass: 'guaranteed' }],
  ['systemd, Docker (dockershim/cri-dockerd)', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U_}.slice/docker-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'docker', qosClass: 'besteffort' }],
  ['cgroupfs, burstable', `/kubepods/burstable/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'burstable' }],
  ['cgroupfs, besteffort', `/kubepods/besteffort/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'besteffort' }],
  ['cgroupfs, guaranteed', `/kubepods/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'guaranteed' }],
  ['cgroupfs, v1 memory controller view', `/kubepods/burstable/pod${UID}/${ID}/`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'burstable' }],
  ['containerd systemd driver on v1 (slice:prefix:id)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/kubepods-burstable-pod${U_}.slice:cri-containerd:${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['containerd v1 under containerd.service', `/system.slice/containerd.service/kubepods-burstable-pod${U_}.slice:cri-containerd:${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['kind node (nested under a Docker container)', `/docker/${'a'.repeat(64)}/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['kind node, besteffort', `/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'besteffort' }],
  ['k3s cgroupfs', `/kubepods/besteffort/pod${UID}/${ID}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'besteffort' }],
  ['upper-case hex tolerated', `/kubepods/pod${UID.toUpperCase()}/${ID.toUpperCase()}`, { isKubernetes: true, podUid: UID, containerId: ID, qosClass: 'guaranteed' }],
  ['pod level only (pod-level limit, systemd)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice`, { isKubernetes: true, podUid: UID, qosClass: 'burstable' }],
  ['pod level only (cgroupfs)', `/kubepods/burstable/pod${UID}`, { isKubernetes: true, podUid: UID, qosClass: 'burstable' }],
  ['QoS level only', '/kubepods.slice/kubepods-burstable.slice', { isKubernetes: true }],
  ['kubepods root', '/kubepods.slice', { isKubernetes: true }],
  ['a sub-cgroup inside the container (v2 nested)', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope/init.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['truncated at the root side (kept leaf end)', `pods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['truncated past the pod level: the container id survives', `${U_.slice(3)}.slice/cri-containerd-${ID}.scope`, { isKubernetes: false, containerId: ID, runtime: 'containerd' }],
  ['under our own test parent', `/oomkill-test/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U_}.slice/cri-containerd-${ID}.scope`, { isKubernetes: true, podUid: UID, containerId: ID, runtime: 'containerd', qosClass: 'burstable' }],
  ['plain Docker, systemd', `/system.slice/docker-${ID}.scope`, { isKubernetes: false, containerId: ID, runtime: 'docker' }],
  ['plain Docker, cgroupfs', `/docker/${ID}`, { isKubernetes: false, containerId: ID, runtime: 'docker' }],
  ['systemd service', '/system.slice/kubelet.service', { isKubernetes: false }],
  ['user session', '/user.slice/user-1000.slice/session-3.scope', { isKubernetes: false }],
  ['root', '/', { isKubernetes: false }],
  ['empty', '', { isKubernetes: false }],
  ['a service whose name merely contains hex', `/system.slice/${ID}.service`, { isKubernetes: false }],
  ['container id one digit short', `/kubepods/pod${UID}/${ID.slice(1)}`, { isKubernetes: true, podUid: UID, qosClass: 'guaranteed' }],
  ['malformed pod uid', '/kubepods/podnot-a-uid/abc', { isKubernetes: true }],
  ['garbage with newlines', 'kubepods\n/../pod\u0000/\uFFFD', { isKubernetes: false }],
];

describe('parseCgroupPath', () => {
  it.each(ROWS)('%s', (_shape, path, expected) => {
    expect(parseCgroupPath(path)).toEqual(path === undefined ? expected : { path, ...expected });
  });

  it('knows nothing when the source knew no path', () => {
    expect(parseCgroupPath(undefined)).toEqual({ isKubernetes: false });
  });

  it('never throws and never returns a malformed id, whatever the input', () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(i % 300);
      const text = i % 2 === 0 ? bytes.toString('latin1') : `/kubepods/pod${UID}/${bytes.toString('hex')}`;
      const identity = parseCgroupPath(text);
      if (identity.containerId !== undefined) expect(identity.containerId).toMatch(/^[0-9a-f]{64}$/);
      if (identity.podUid !== undefined) expect(identity.podUid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }
  });
});

describe('containerIdFromStatus', () => {
  it.each([
    [`containerd://${ID}`, { runtime: 'containerd', id: ID }],
    [`cri-o://${ID}`, { runtime: 'cri-o', id: ID }],
    [`docker://${ID.toUpperCase()}`, { runtime: 'docker', id: ID }],
    [`containerd://${ID.slice(2)}`, undefined],
    ['', undefined],
    [undefined, undefined],
    [`rkt://${ID}`, undefined],
  ] as const)('%s', (status, expected) => {
    expect(containerIdFromStatus(status)).toEqual(expected);
  });
});
