// The fake API server must speak the real protocol: the real kubectl and the real client-node informer
// are its judges.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, ListWatch, Watch } from '@kubernetes/client-node';
import type { V1Pod } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { pod, startFakeApiServer } from './fake-apiserver.ts';
import type { FakeApiServer } from './fake-apiserver.ts';

const run = promisify(execFile);

describe('fake API server', () => {
  let api: FakeApiServer;
  beforeEach(async () => {
    api = await startFakeApiServer();
  });
  afterEach(async () => {
    await api.stop();
  });

  it('answers the real kubectl', async () => {
    api.upsert(pod({ name: 'web-1', nodeName: 'n1', containers: [{ name: 'app', id: 'a'.repeat(64) }] }));
    const { stdout } = await run('kubectl', ['get', 'pods', '-o', 'json', `--server=${api.url}`, '--namespace=default'], { env: { ...process.env, HOME: mkdtempSync(join(tmpdir(), 'kubectl-home-')) } });
    const list = JSON.parse(stdout) as { items: Array<{ metadata: { name: string }; status: { containerStatuses: Array<{ containerID: string }> } }> };
    expect(list.items.map((p) => p.metadata.name)).toEqual(['web-1']);
    expect(list.items[0]?.status.containerStatuses[0]?.containerID).toBe(`containerd://${'a'.repeat(64)}`);
  });

  it('feeds a client-node informer: list, then watch events filtered by node, then relist after 410 Gone', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))));
    const core = kc.makeApiClient(CoreV1Api);
    api.upsert(pod({ name: 'mine', nodeName: 'n1', containers: [{ name: 'c' }] }));
    api.upsert(pod({ name: 'other-node', nodeName: 'n2', containers: [{ name: 'c' }] }));
    const informer = new ListWatch<V1Pod>('/api/v1/pods', new Watch(kc), () => core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' }), false, undefined, 'spec.nodeName=n1');
    const added: string[] = [];
    informer.on('add', (p) => added.push(p.metadata?.name ?? ''));
    await informer.start();
    api.upsert(pod({ name: 'later', nodeName: 'n1', containers: [{ name: 'c' }] }));
    api.upsert(pod({ name: 'later-elsewhere', nodeName: 'n2', containers: [{ name: 'c' }] }));
    await expect.poll(() => added).toEqual(['mine', 'later']);

    api.compact(); // ends the watch; resuming from the old resourceVersion now gets 410, then a relist
    api.upsert(pod({ name: 'after-compaction', nodeName: 'n1', containers: [{ name: 'c' }] }));
    await expect.poll(() => added, { timeout: 5000 }).toContain('after-compaction');
    expect(api.requests().filter((r) => r.startsWith('GET /api/v1/pods?') && !r.includes('watch=true')).length).toBeGreaterThanOrEqual(2);
    await informer.stop();
  });

  it('sends bookmarks to a watch that asks for them', async () => {
    const response = await fetch(`${api.url}/api/v1/pods?watch=true&allowWatchBookmarks=true&resourceVersion=1000`);
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(JSON.parse(new TextDecoder().decode(value).split('\n')[0] ?? '')).toMatchObject({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: expect.any(String) } } });
    await reader.cancel();
  });

  it('can be down, slow, or answer garbage', async () => {
    api.setDown(true);
    await expect(fetch(`${api.url}/api/v1/pods`)).rejects.toThrow();
    api.setDown(false);
    api.setGarbage(true);
    await expect((await fetch(`${api.url}/api/v1/pods`)).json()).rejects.toThrow();
    api.setGarbage(false);
    api.setLatency(300);
    const start = Date.now();
    await fetch(`${api.url}/api/v1/pods`);
    expect(Date.now() - start).toBeGreaterThanOrEqual(290);
  });
});
