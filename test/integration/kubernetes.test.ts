// Real OOM kills named by Kubernetes: the CLI runs with a kubeconfig pointing at the fake API server,
// which serves pods whose UIDs and container IDs match the scratch cgroups the kills happen in.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { serviceInstanceId } from '../../src/agent-identity.ts';
import { Attr, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { ownerRef, pod, startFakeApiServer, workload } from '../support/fake-apiserver.ts';
import type { FakeApiServer } from '../support/fake-apiserver.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';

const NODE = 'node-under-test';
const CLUSTER = 'prod-eu';
const KUBE_SYSTEM_UID = '218fc5a9-a5f1-4b54-aa05-46717d0ab26d';

describeKernel('real OOM kills, named from the Kubernetes API', () => {
  const scratch = scratchCgroups('kubernetes');
  let api: FakeApiServer;
  let collector: OtlpReceiver;
  let receiver: ReceiverProcess;
  let cgroup: ScratchCgroup | undefined;
  const forPid = (pid: number) => (r: ReceivedLogRecord): boolean => r.attributes[Sem.processPid] === pid;

  beforeAll(async () => {
    api = await startFakeApiServer();
    api.upsert({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'kube-system', uid: KUBE_SYSTEM_UID } });
    collector = await startOtlpReceiver();
    receiver = startReceiver(['run', '--source', 'bpf', '--kubeconfig', api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))), '--pod-wait-ms', '1000', '--cluster-name', CLUSTER], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      NODE_NAME: NODE,
    });
    await receiver.waitForLine(/watching the pods of this node/);
    await receiver.waitForLine(/"source: bpf, /);
  });
  afterEach(async () => {
    api.setDown(false);
    cgroup = undefined;
  });
  afterAll(async () => {
    expect(await receiver.stop()).toBe(0);
    await collector.stop();
    await api.stop();
  });

  /** A Deployment's pod whose UID and container ID are the scratch cgroup's. */
  const servePodFor = (c: ScratchCgroup, name: string): void => {
    const deployment = api.upsert(workload('Deployment', 'checkout', 'shop'));
    const rs = api.upsert(workload('ReplicaSet', 'checkout-6c8f', 'shop', deployment));
    api.upsert(pod({ name, namespace: 'shop', uid: c.podUid, nodeName: NODE, owner: ownerRef(rs), containers: [{ name: 'server', id: c.containerId, image: 'shop/checkout:7.1' }] }));
  };

  it('exports namespace, pod, container, Deployment and the main-process flag', async () => {
    cgroup = await scratch({ limitMiB: 48 });
    servePodFor(cgroup, 'checkout-6c8f-aaaaa');
    await new Promise((r) => setTimeout(r, 300)); // the watch delivers the pod
    const hog = startHog(cgroup.dir);
    expect(await hog.exited).toBe('SIGKILL');
    const [record] = await collector.waitForLogRecords(1, 10_000, forPid(hog.pid));
    expect(record?.resource).toMatchObject({
      [Sem.k8sNamespaceName]: 'shop', [Sem.k8sPodName]: 'checkout-6c8f-aaaaa', [Sem.k8sPodUid]: cgroup.podUid,
      [Sem.k8sContainerName]: 'server', [Sem.containerId]: cgroup.containerId, [Sem.k8sDeploymentName]: 'checkout',
      [Sem.k8sReplicaSetName]: 'checkout-6c8f', [Sem.k8sNodeName]: NODE, [Sem.containerImageName]: 'shop/checkout',
      // The cluster: its configured name, and the kube-system namespace's UID as the k8sattributes processor reads it.
      [Sem.k8sClusterName]: CLUSTER, [Sem.k8sClusterUid]: KUBE_SYSTEM_UID,
      [Sem.serviceInstanceId]: serviceInstanceId(NODE, CLUSTER),
    });
    // Read once, that namespace only: what deploy/rbac.yaml grants.
    expect(api.requests().filter((r) => /^\w+ \/api\/v1\/namespaces(\/[^/?]+)?(\?|$)/.test(r))).toEqual(['GET /api/v1/namespaces/kube-system']);
    expect(record?.attributes).toMatchObject({ [Attr.mainProcess]: false, [Attr.workloadKind]: 'Deployment', [Attr.workloadName]: 'checkout' });
    expect(record?.attributes[Attr.enrichmentPartial]).toBe(false);
    expect(record?.body).toMatch(/in pod shop\/checkout-6c8f-aaaaa container server/);
    // The counter says where (namespace, container, workload); the pod's generated name stays on the record.
    await collector.waitForCounter('oomkill.kills', 1, 5000, {
      [Sem.k8sNamespaceName]: 'shop', [Sem.k8sContainerName]: 'server', [Sem.k8sNodeName]: NODE,
      [Attr.workloadKind]: 'Deployment', [Attr.workloadName]: 'checkout', [Attr.mainProcess]: false,
    });
    expect(collector.dataPoints('oomkill.kills').filter((p) => Sem.k8sPodName in p.attributes || Sem.k8sPodUid in p.attributes)).toEqual([]);
    // The counters carry the same identity.
    expect(collector.dataPoints('oomkill.kills').at(-1)?.resource)
      .toMatchObject({ [Sem.k8sClusterName]: CLUSTER, [Sem.k8sClusterUid]: KUBE_SYSTEM_UID, [Sem.serviceInstanceId]: serviceInstanceId(NODE, CLUSTER) });
  });

  it('flags the container\'s main process (PID 1 of its PID namespace), the kill Kubernetes reports as OOMKilled', async () => {
    cgroup = await scratch({ limitMiB: 48 });
    servePodFor(cgroup, 'checkout-6c8f-ccccc');
    await new Promise((r) => setTimeout(r, 300));
    const hog = startHog(cgroup.dir, { mainProcess: true });
    await hog.exited;
    const inCgroup = (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup?.path;
    const [record] = await collector.waitForLogRecords(1, 10_000, inCgroup);
    expect(record?.attributes).toMatchObject({ [Attr.mainProcess]: true, [Attr.namespacePid]: 1 });
    expect(record?.attributes[Sem.processPid]).not.toBe(1);
    expect(record?.body).toMatch(/, the container's main process, in pod shop\/checkout-6c8f-ccccc/);
    await collector.waitForCounter('oomkill.kills', 1, 5000, { [Sem.k8sNamespaceName]: 'shop', [Attr.workloadName]: 'checkout', [Attr.mainProcess]: true });
  });

  it('names a pod deleted 1 s before the kill', async () => {
    cgroup = await scratch({ limitMiB: 48 });
    servePodFor(cgroup, 'checkout-6c8f-bbbbb');
    await new Promise((r) => setTimeout(r, 300));
    api.remove('Pod', 'shop', 'checkout-6c8f-bbbbb');
    await new Promise((r) => setTimeout(r, 1000));
    const hog = startHog(cgroup.dir);
    expect(await hog.exited).toBe('SIGKILL');
    const [record] = await collector.waitForLogRecords(1, 10_000, forPid(hog.pid));
    expect(record?.resource).toMatchObject({ [Sem.k8sPodName]: 'checkout-6c8f-bbbbb', [Sem.k8sDeploymentName]: 'checkout' });
  });

  it('exports at once with the cgroup-derived IDs when the API server is down', async () => {
    cgroup = await scratch({ limitMiB: 48 });
    api.setDown(true);
    await new Promise((r) => setTimeout(r, 300));
    const hog = startHog(cgroup.dir);
    expect(await hog.exited).toBe('SIGKILL');
    const [record] = await collector.waitForLogRecords(1, 10_000, forPid(hog.pid));
    expect(record?.resource).toMatchObject({ [Sem.k8sPodUid]: cgroup.podUid, [Sem.containerId]: cgroup.containerId });
    expect(record?.resource[Sem.k8sPodName]).toBeUndefined();
    expect(record?.attributes[Attr.enrichmentPartial]).toBe(true);
    // Kill time to export: no wait for a pod that cannot be looked up.
    expect(Number((record?.receivedUnixNano ?? 0n) - (record?.timeUnixNano ?? 0n)) / 1e6).toBeLessThan(500);
  });
});
