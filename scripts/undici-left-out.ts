// Stands in for undici in the image's bundle (scripts/bundle.ts). @kubernetes/client-node imports undici
// for its fetch-based API classes and Watch; the receiver uses neither (src/enrichment/kube-http.ts does
// its requests on node:http), and V8's lite mode, which the image runs, has no WebAssembly for undici's
// parser anyway. Leaving out its ~0.9 MB of code keeps it out of the Node process's memory. Any use is a
// clear error, never a silent fallback.
const leftOut = (name: string): never => {
  throw new Error(`undici.${name} is left out of this build (scripts/undici-left-out.ts): the Kubernetes client must go through src/enrichment/kube-http.ts`);
};
export class Agent {
  constructor() {
    leftOut('Agent');
  }
}
export class ProxyAgent {
  constructor() {
    leftOut('ProxyAgent');
  }
}
export function fetch(): never {
  return leftOut('fetch');
}
