// The pod cache keeps per pod only what the attributes need, and lists a node's pods in pages: against
// the fake API server with pods shaped like a real node's, through the real client-node informer.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeWatch } from '../../src/enrichment/kube-http.ts';
import { cutDownPod, startPodCache } from '../../src/enrichment/pod-cache.ts';
import type { CachedPod, PodCache } from '../../src/enrichment/pod-cache.ts';
import { createLogger } from '../../src/log.ts';
import { realisticPod, startFakeApiServer } from '../support/fake-apiserver.ts';
import type { FakeApiServer, KubeObject } from '../support/fake-apiserver.ts';

const NODE = 'node-a';
const owner = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'cart-5f7c9d', uid: randomUUID(), controller: true };
const makePod = (index: number, uid = randomUUID()): KubeObject =>
  realisticPod({ name: `cart-5f7c9d-${index}`, namespace: 'shop', uid, nodeName: NODE, owner, containerIds: [randomBytes(32).toString('hex'), randomBytes(32).toString('hex')], index });

describe('cutDownPod', () => {
  it('keeps names, UID, labels, owners, the kept annotations and each container\'s name, IDs, image and restarts; drops the rest', () => {
    const full = makePod(7);
    const cut = cutDownPod(full as CachedPod, ['checksum/config']);
    const status = (full.status?.containerStatuses as Array<Record<string, unknown>>)[1] as { name: string; containerID: string; image: string };
    expect(cut).toEqual({
      metadata: {
        name: full.metadata.name, namespace: 'shop', uid: full.metadata.uid, resourceVersion: full.metadata.resourceVersion,
        labels: full.metadata.labels, annotations: { 'checksum/config': 'f'.repeat(64) },
        ownerReferences: [{ kind: 'ReplicaSet', name: 'cart-5f7c9d', controller: true }],
      },
      status: {
        containerStatuses: [
          expect.objectContaining({ name: 'app', restartCount: 0 }),
          { name: status.name, containerID: status.containerID, image: status.image, restartCount: 1, lastState: { terminated: { containerID: `containerd://${'e'.repeat(64)}` } } },
        ],
      },
    });
    expect(JSON.stringify(cut).length).toBeLessThan(JSON.stringify(full).length / 8);
  });

  it('keeps every annotation when no list is given', () => {
    const full = makePod(1);
    expect(cutDownPod(full as CachedPod).metadata?.annotations).toEqual(full.metadata.annotations);
  });
});

describe('the pod cache', () => {
  let api: FakeApiServer;
  let cache: PodCache | undefined;

  const start = (): PodCache => {
    const kc = new KubeConfig();
    kc.loadFromFile(api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))));
    cache = startPodCache({ kubeConfig: kc, nodeName: NODE, annotations: [], minBackoffMs: 100, logger: createLogger({ write: () => {} }) });
    return cache;
  };
  const healthy = async (c: PodCache): Promise<void> => {
    for (let i = 0; i < 200 && !c.isHealthy(); i++) await new Promise((r) => setTimeout(r, 25));
    expect(c.isHealthy()).toBe(true);
  };

  beforeEach(async () => {
    api = await startFakeApiServer();
  });
  afterEach(async () => {
    await cache?.stop();
    cache = undefined;
    await api.stop();
  });

  it('lists a node of 250 pods in pages of 100 and knows every one, cut down', async () => {
    const uids = Array.from({ length: 250 }, () => randomUUID());
    uids.forEach((uid, i) => api.upsert(makePod(i, uid)));
    const c = start();
    await healthy(c);
    const lists = api.requests().filter((r) => r.startsWith('GET /api/v1/pods?') && !r.includes('watch='));
    expect(lists).toHaveLength(3);
    expect(lists.every((r) => r.includes('limit=100'))).toBe(true);
    expect(lists.filter((r) => r.includes('continue='))).toHaveLength(2);
    for (const uid of uids) expect(c.byUid(uid)?.metadata?.uid).toBe(uid);
    const kept = c.byUid(uids[0] as string) as Record<string, unknown> & CachedPod;
    expect(kept.metadata).not.toHaveProperty('managedFields');
    expect(kept.metadata).not.toHaveProperty('annotations');
    expect(kept).not.toHaveProperty('spec');
  });

  it('cuts down pods that arrive by the watch too', async () => {
    const c = start();
    await healthy(c);
    const uid = randomUUID();
    const added = makePod(1, uid);
    api.upsert(added);
    expect(await c.waitFor({ podUid: uid }, 5000)).toBe(true);
    const kept = c.byUid(uid) as Record<string, unknown> & CachedPod;
    expect(kept).not.toHaveProperty('spec');
    expect(kept.metadata).not.toHaveProperty('managedFields');
    const containerId = (added.status?.containerStatuses as Array<{ containerID: string }>)[0]?.containerID.replace('containerd://', '') as string;
    expect(c.byContainerId(containerId)).toMatchObject({ containerName: 'app', current: true });
  });
});

describe('the watch', () => {
  it('ends a watch silent past its inactivity limit with a TimeoutError, once, and a reset connection with an error, without throwing', async () => {
    const api = await startFakeApiServer();
    try {
      const kc = new KubeConfig();
      kc.loadFromFile(api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))));
      const watch = new KubeWatch(kc, { inactivityMs: 300 });
      const silent: unknown[] = [];
      await watch.watch('/api/v1/pods', {}, () => {}, (error) => silent.push(error));
      await new Promise((r) => setTimeout(r, 800));
      expect(silent).toHaveLength(1);
      expect((silent[0] as Error).name).toBe('TimeoutError');

      const reset: unknown[] = [];
      await watch.watch('/api/v1/pods', {}, () => {}, (error) => reset.push(error));
      await new Promise((r) => setTimeout(r, 100));
      api.setDown(true); // every connection dropped at once
      await new Promise((r) => setTimeout(r, 100));
      expect(reset).toHaveLength(1);
    } finally {
      api.setDown(false);
      await api.stop();
    }
  });
});
