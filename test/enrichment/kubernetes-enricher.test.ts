// The Kubernetes enricher and its pod cache against the fake API server, through the real client-node.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseCgroupPath } from '../../src/enrichment/cgroup-path.ts';
import type { Enricher } from '../../src/enrichment/enricher.ts';
import { createKubernetesEnricher, splitImage } from '../../src/enrichment/kubernetes-enricher.ts';
import { startPodCache } from '../../src/enrichment/pod-cache.ts';
import type { PodCache } from '../../src/enrichment/pod-cache.ts';
import { createLogger } from '../../src/log.ts';
import { ownerRef, pod, startFakeApiServer, workload } from '../support/fake-apiserver.ts';
import type { FakeApiServer } from '../support/fake-apiserver.ts';

const NODE = 'node-a';
const id = (c: string): string => c.repeat(64);
const pathFor = (uid: string, containerId: string): string =>
  `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replaceAll('-', '_')}.slice/cri-containerd-${containerId}.scope`;
const UID = '11111111-2222-4333-8444-555555555555';

describe('Kubernetes enrichment', () => {
  let api: FakeApiServer;
  let cache: PodCache;
  let enricher: Enricher;
  let logLines: string[];

  const start = (overrides: { podWaitMs?: number; tombstoneTtlMs?: number } = {}): void => {
    const kc = new KubeConfig();
    kc.loadFromFile(api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))));
    logLines = [];
    cache = startPodCache({ kubeConfig: kc, nodeName: NODE, tombstoneTtlMs: overrides.tombstoneTtlMs ?? 60_000, minBackoffMs: 100, maxBackoffMs: 400, logger: createLogger({ write: (l) => logLines.push(l) }) });
    enricher = createKubernetesEnricher({ cache, podWaitMs: overrides.podWaitMs ?? 2000, podLabels: ['app'], podAnnotations: ['team.example/owner'] });
  };
  const enrich = (uid: string, containerId: string) => enricher.enrich(parseCgroupPath(pathFor(uid, containerId)));

  beforeEach(async () => {
    api = await startFakeApiServer();
  });
  afterEach(async () => {
    await enricher?.stop();
    await api.stop();
  });

  it('names pod, container, image, restart count, Deployment, labels and annotations', async () => {
    const deployment = api.upsert(workload('Deployment', 'cart', 'shop'));
    const rs = api.upsert(workload('ReplicaSet', 'cart-5f7c9d', 'shop', deployment));
    api.upsert(pod({ name: 'cart-5f7c9d-x2x9z', namespace: 'shop', uid: UID, nodeName: NODE, owner: ownerRef(rs), labels: { app: 'cart', 'pod-template-hash': '5f7c9d' }, annotations: { 'team.example/owner': 'payments' }, containers: [{ name: 'app', id: id('a'), image: 'registry.example:5000/shop/cart:2.4.1', restartCount: 3 }, { name: 'sidecar', id: id('b') }] }));
    start();
    await expect.poll(() => cache.isHealthy()).toBe(true);
    const result = await enrich(UID, id('a'));
    expect(result).toEqual({
      resource: {
        'k8s.pod.uid': UID, 'container.id': id('a'), 'container.runtime.name': 'containerd', 'oomkill.pod.qos_class': 'burstable',
        'k8s.namespace.name': 'shop', 'k8s.pod.name': 'cart-5f7c9d-x2x9z', 'k8s.container.name': 'app', 'k8s.container.restart_count': 3,
        'container.image.name': 'registry.example:5000/shop/cart', 'container.image.tags': ['2.4.1'],
        'k8s.replicaset.name': 'cart-5f7c9d', 'k8s.deployment.name': 'cart',
        'k8s.pod.label.app': 'cart', 'k8s.pod.annotation.team.example/owner': 'payments',
      },
      workload: { kind: 'Deployment', name: 'cart' },
      partial: false,
    });
  });

  it('resolves init and ephemeral containers, and a restarted container\'s previous ID', async () => {
    api.upsert(pod({ name: 'p', uid: UID, nodeName: NODE, containers: [{ name: 'init', id: id('c'), kind: 'init' }, { name: 'debugger', id: id('d'), kind: 'ephemeral' }, { name: 'app', id: id('e'), previousId: id('f'), restartCount: 1 }] }));
    start();
    await expect.poll(() => cache.isHealthy()).toBe(true);
    for (const [containerId, name] of [[id('c'), 'init'], [id('d'), 'debugger'], [id('e'), 'app'], [id('f'), 'app']] as const) {
      expect((await enrich(UID, containerId)).resource['k8s.container.name']).toBe(name);
    }
  });

  it('resolves a CronJob through its Job, and a pod of a StatefulSet', async () => {
    const cron = api.upsert(workload('CronJob', 'report', 'jobs'));
    const job = api.upsert(workload('Job', 'report-29001440', 'jobs', cron));
    const sts = api.upsert(workload('StatefulSet', 'db', 'jobs'));
    api.upsert(pod({ name: 'report-29001440-abcde', namespace: 'jobs', uid: UID, nodeName: NODE, owner: ownerRef(job), containers: [{ name: 'run', id: id('1') }] }));
    api.upsert(pod({ name: 'db-0', namespace: 'jobs', nodeName: NODE, owner: ownerRef(sts), containers: [{ name: 'pg', id: id('2') }] }));
    start();
    await expect.poll(() => cache.isHealthy()).toBe(true);
    expect((await enrich(UID, id('1'))).workload).toEqual({ kind: 'CronJob', name: 'report' });
    expect((await enricher.enrich(parseCgroupPath(`/kubepods/burstable/pod${'9'.repeat(8)}-9999-4999-8999-${'9'.repeat(12)}/${id('2')}`))).workload).toEqual({ kind: 'StatefulSet', name: 'db' });
  });

  it('keeps a deleted pod resolvable while its tombstone lasts, and not after', async () => {
    api.upsert(pod({ name: 'gone', uid: UID, nodeName: NODE, containers: [{ name: 'app', id: id('a') }] }));
    start({ tombstoneTtlMs: 1500, podWaitMs: 0 });
    await expect.poll(() => cache.isHealthy()).toBe(true);
    api.remove('Pod', 'default', 'gone');
    await new Promise((r) => setTimeout(r, 200));
    expect((await enrich(UID, id('a'))).resource['k8s.pod.name']).toBe('gone');
    await new Promise((r) => setTimeout(r, 3000));
    expect(await enrich(UID, id('a'))).toMatchObject({ partial: true });
  });

  it('waits for a pod that appears just after its kill, and gives up after the wait', async () => {
    start({ podWaitMs: 1500 });
    await expect.poll(() => cache.isHealthy()).toBe(true);
    const pending = enrich(UID, id('a'));
    setTimeout(() => api.upsert(pod({ name: 'late', uid: UID, nodeName: NODE, containers: [{ name: 'app', id: id('a') }] })), 200);
    expect((await pending).resource['k8s.pod.name']).toBe('late');
    const began = Date.now();
    expect(await enrich('99999999-2222-4333-8444-555555555555', id('9'))).toMatchObject({ partial: true, resource: { 'container.id': id('9') } });
    expect(Date.now() - began).toBeGreaterThanOrEqual(1400);
  });

  it('does not wait when the API server is down, logs the failure once, and recovers', async () => {
    api.setDown(true);
    start({ podWaitMs: 5000 });
    await new Promise((r) => setTimeout(r, 1500)); // several failed attempts with backoff
    const began = Date.now();
    expect(await enrich(UID, id('a'))).toMatchObject({ partial: true, resource: { 'k8s.pod.uid': UID, 'container.id': id('a') } });
    expect(Date.now() - began).toBeLessThan(100);
    expect(logLines.filter((l) => l.includes('pod watch failed'))).toHaveLength(1);
    api.upsert(pod({ name: 'back', uid: UID, nodeName: NODE, containers: [{ name: 'app', id: id('a') }] }));
    api.setDown(false);
    await expect.poll(() => cache.isHealthy(), { timeout: 5000 }).toBe(true);
    expect((await enrich(UID, id('a'))).resource['k8s.pod.name']).toBe('back');
    expect(logLines.some((l) => l.includes('pod watch recovered'))).toBe(true);
  });

  it('survives garbage answers from the API server', async () => {
    api.setGarbage(true);
    start({ podWaitMs: 100 });
    await new Promise((r) => setTimeout(r, 500));
    expect(await enrich(UID, id('a'))).toMatchObject({ partial: true });
    api.setGarbage(false);
    api.upsert(pod({ name: 'ok', uid: UID, nodeName: NODE, containers: [{ name: 'app', id: id('a') }] }));
    await expect.poll(() => cache.isHealthy(), { timeout: 5000 }).toBe(true);
    expect((await enrich(UID, id('a'))).resource['k8s.pod.name']).toBe('ok');
  });

  it('answers at once while the API server is too slow to list, and names the pod once it has', async () => {
    api.setLatency(1500);
    api.upsert(pod({ name: 'slow', uid: UID, nodeName: NODE, containers: [{ name: 'app', id: id('a') }] }));
    start({ podWaitMs: 5000 });
    const began = Date.now();
    expect(await enrich(UID, id('a'))).toMatchObject({ partial: true });
    expect(Date.now() - began).toBeLessThan(100);
    await expect.poll(() => cache.isHealthy(), { timeout: 8000 }).toBe(true);
    expect((await enrich(UID, id('a'))).resource['k8s.pod.name']).toBe('slow');
  });

  it('leaves kills outside pods alone', async () => {
    start();
    expect(await enricher.enrich(parseCgroupPath('/system.slice/kubelet.service'))).toEqual({ resource: {} });
  });
});

describe('splitImage', () => {
  it.each([
    ['nginx', { name: 'nginx' }],
    ['nginx:1.27', { name: 'nginx', tag: '1.27' }],
    ['registry.example:5000/team/app:1.2@sha256:abc', { name: 'registry.example:5000/team/app', tag: '1.2' }],
    ['registry.example:5000/team/app', { name: 'registry.example:5000/team/app' }],
  ])('%s', (image, expected) => expect(splitImage(image)).toEqual(expected));
});
