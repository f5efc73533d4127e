// k8s.cluster.uid as the Collector's k8sattributes processor derives it: Kubernetes has no cluster id, and
// the kube-system namespace's UID is the conventions' stand-in (it lives as long as the cluster). Needs
// `get` on that one namespace (deploy/rbac.yaml), nothing more.
// A plain GET (kube-http.ts), not CoreV1Api, whose generated models would all be bundled with it.
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeGet } from './kube-http.ts';

/** Rejects with the reason when the namespace cannot be read within timeoutMs. */
export async function readClusterUid(kubeConfig: KubeConfig, timeoutMs: number): Promise<string> {
  const get = kubeGet(kubeConfig, timeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const namespace = await Promise.race([get('/api/v1/namespaces/kube-system') as Promise<{ metadata?: { uid?: string } }>, timeout]);
    const uid = namespace.metadata?.uid;
    if (uid === undefined || uid === '') throw new Error('the kube-system namespace has no uid');
    return uid;
  } finally {
    clearTimeout(timer);
  }
}
