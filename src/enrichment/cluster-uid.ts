// k8s.cluster.uid as the Collector's k8sattributes processor derives it: Kubernetes has no cluster id, and
// the kube-system namespace's UID is the conventions' stand-in (it lives as long as the cluster). Needs
// `get` on that one namespace (deploy/rbac.yaml), nothing more.
import { CoreV1Api } from '@kubernetes/client-node';
import type { KubeConfig } from '@kubernetes/client-node';

/** Rejects with the reason when the namespace cannot be read within timeoutMs. */
export async function readClusterUid(kubeConfig: KubeConfig, timeoutMs: number): Promise<string> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const namespace = await Promise.race([core.readNamespace({ name: 'kube-system' }), timeout]);
    const uid = namespace.metadata?.uid;
    if (uid === undefined || uid === '') throw new Error('the kube-system namespace has no uid');
    return uid;
  } finally {
    clearTimeout(timer);
  }
}
