import { describe, expect, it } from 'vitest';
import { createCgroupEnricher, identityAttributes } from '../../src/enrichment/cgroup-enricher.ts';
import { parseCgroupPath } from '../../src/enrichment/cgroup-path.ts';

const ID = 'c0ffee00'.repeat(8);
const UID = '0f3c2a4b-1d2e-4f5a-8b9c-0a1b2c3d4e5f';

describe('identityAttributes', () => {
  it('names what the path gave with the semantic-convention attributes and our QoS class', () => {
    expect(identityAttributes({ isKubernetes: true, podUid: UID, containerId: ID, runtime: 'cri-o', qosClass: 'besteffort' })).toEqual({
      'k8s.pod.uid': UID,
      'container.id': ID,
      'container.runtime.name': 'cri-o',
      'oomkill.pod.qos_class': 'besteffort',
    });
  });

  it('leaves out what the path did not give', () => {
    expect(identityAttributes({ isKubernetes: true, podUid: UID })).toEqual({ 'k8s.pod.uid': UID });
    expect(identityAttributes({ isKubernetes: false })).toEqual({});
  });

  it('does not put the path itself on the Resource: it is per kill, not per container', () => {
    expect(identityAttributes({ path: '/kubepods/x', isKubernetes: true })).toEqual({});
  });

  it('returns a fresh object each time, so that a caller may add to it', () => {
    const identity = { isKubernetes: true, podUid: UID };
    const first = identityAttributes(identity);
    first['k8s.pod.name'] = 'web-0';
    expect(identityAttributes(identity)).toEqual({ 'k8s.pod.uid': UID });
  });
});

describe('createCgroupEnricher', () => {
  const enricher = createCgroupEnricher();

  it('gives the Resource from a Kubernetes container path and claims nothing about partiality', async () => {
    const identity = parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replaceAll('-', '_')}.slice/cri-containerd-${ID}.scope`);
    const enrichment = await enricher.enrich(identity);
    expect(enrichment).toEqual({
      resource: { 'k8s.pod.uid': UID, 'container.id': ID, 'container.runtime.name': 'containerd', 'oomkill.pod.qos_class': 'burstable' },
    });
    expect('partial' in enrichment).toBe(false);
    expect(enrichment.workload).toBeUndefined();
  });

  it('gives an empty Resource for a process outside any container', async () => {
    expect(await enricher.enrich(parseCgroupPath('/system.slice/kubelet.service'))).toEqual({ resource: {} });
    expect(await enricher.enrich(parseCgroupPath(undefined))).toEqual({ resource: {} });
  });

  it('stops at once and still answers afterwards', async () => {
    await expect(enricher.stop()).resolves.toBeUndefined();
    expect(await enricher.enrich(parseCgroupPath(`/docker/${ID}`))).toEqual({ resource: { 'container.id': ID, 'container.runtime.name': 'docker' } });
  });
});
