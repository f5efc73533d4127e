// The receiver as the image runs it, outside Docker: the tree scripts/build-image-tree.sh makes (the
// Dockerfile's build step), started with the Dockerfile's ENTRYPOINT, CMD, ENV and USER and the
// DaemonSet's environment, inside a memory cgroup with the DaemonSet's limit. Everything here is read
// from the Dockerfile and deploy/daemonset.yaml, so the benchmark cannot drift from what ships.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { startReceiver } from '../test/support/receiver-process.ts';
import type { ReceiverProcess } from '../test/support/receiver-process.ts';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const MEMORY_ROOT = '/sys/fs/cgroup/memory';

/** What the Dockerfile's final stage says about running the receiver. */
export interface ImageRun {
  /** Where the build tree lands in the image (COPY --from=build /image <here>). */
  appDir: string;
  /** ENTRYPOINT then CMD, as written. */
  argv: string[];
  env: Record<string, string>;
  uid: number;
  gid: number;
  /** The script of the build stage's RUN that makes the tree. */
  buildScript: string;
}

export function readDockerfile(text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')): ImageRun {
  const stages = text.split(/^FROM /m).slice(1);
  const final = stages.at(-1) ?? '';
  const build = stages.slice(0, -1).join('\n');
  const json = (directive: string): string[] => {
    const line = new RegExp(`^${directive}\\s+(\\[.*\\])\\s*$`, 'm').exec(final)?.[1];
    if (line === undefined) throw new Error(`Dockerfile: no ${directive} in exec form in the final stage`);
    return JSON.parse(line) as string[];
  };
  const env: Record<string, string> = {};
  for (const [, pairs] of final.matchAll(/^ENV\s+(.+)$/gm)) {
    for (const [, key, value] of (pairs as string).matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[key as string] = (value as string).replace(/^"|"$/g, '');
  }
  const user = /^USER\s+(\d+)(?::(\d+))?\s*$/m.exec(final);
  const copy = /^COPY\s+--from=build\s+(\S+)\s+(\S+)\s*$/m.exec(final);
  const script = /^RUN\s+.*?(scripts\/build-image-tree\.sh)\s+(\S+)\s*$/m.exec(build);
  if (!copy || !script || script[2] !== copy[1]) throw new Error('Dockerfile: the final stage must copy the tree that scripts/build-image-tree.sh builds');
  return {
    appDir: copy[2] as string,
    argv: [...json('ENTRYPOINT'), ...json('CMD')],
    env,
    uid: Number(user?.[1] ?? 0),
    gid: Number(user?.[2] ?? user?.[1] ?? 0),
    buildScript: script[1] as string,
  };
}

interface Container { name: string; env?: Array<{ name: string; value?: string }>; resources?: { requests?: Record<string, string>; limits?: Record<string, string> } }

function daemonSetContainers(): Container[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'daemonset.yaml'), 'utf8')).map((d) => d.toJS() as { kind?: string; spec?: { template?: { spec?: { containers?: Container[] } } } });
  return docs.find((d) => d.kind === 'DaemonSet')?.spec?.template?.spec?.containers ?? [];
}

/** Kubernetes quantity (Mi, Gi, M, plain bytes) in bytes. */
export function quantityBytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(quantity);
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

/** The receiver container of deploy/daemonset.yaml: its memory limit and its literal environment. */
export function daemonSetReceiver(): { memoryLimitBytes: number; env: Record<string, string> } {
  const receiver = daemonSetContainers().find((c) => c.name === 'receiver');
  const limit = receiver?.resources?.limits?.memory;
  if (!receiver || limit === undefined) throw new Error('deploy/daemonset.yaml: no receiver container with a memory limit');
  const env = Object.fromEntries((receiver.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value as string]));
  return { memoryLimitBytes: quantityBytes(limit), env };
}

/** Builds the image tree with the Dockerfile's own script; returns the tree's directory (world-readable). */
export function buildImageTree(image: ImageRun): string {
  const parent = mkdtempSync(join(tmpdir(), 'oomkill-bench-image-'));
  chmodSync(parent, 0o755); // the image's unprivileged user must reach it
  const tree = join(parent, 'app');
  execFileSync(join(ROOT, image.buildScript), [tree], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return tree;
}

/** A memory cgroup (v1) of our own; each run gets a child with the limit. Removed with everything in it. */
export class BenchCgroups {
  readonly parent = join(MEMORY_ROOT, `oomkill-bench-${process.pid}`);
  #count = 0;
  constructor() {
    mkdirSync(this.parent);
  }
  make(limitBytes: number): string {
    const dir = join(this.parent, `run-${++this.#count}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'memory.limit_in_bytes'), String(limitBytes));
    return dir;
  }
  /**
   * The memory cgroups of a node's pods, one per pod and one per container (two), at kubelet's paths:
   * what the reconciler walks every interval on a real node, so idle CPU includes it.
   */
  makePodCgroups(count: number): void {
    const base = join(this.parent, 'pods', 'kubepods.slice', 'kubepods-burstable.slice');
    for (let i = 0; i < count; i++) {
      const pod = join(base, `kubepods-burstable-pod${randomUUID().replaceAll('-', '_')}.slice`);
      for (let c = 0; c < 2; c++) mkdirSync(join(pod, `cri-containerd-${randomBytes(32).toString('hex')}.scope`), { recursive: true });
    }
  }
  async remove(): Promise<void> {
    await removeTree(this.parent);
  }
}

async function removeTree(dir: string): Promise<void> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) if (entry.isDirectory()) await removeTree(join(dir, entry.name));
  await removeCgroup(dir);
}

async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone already
      }
    }
    try {
      rmdirSync(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      if (attempt > 100) throw error;
      await sleep(20);
    }
  }
}

export interface Launched extends ReceiverProcess {
  pid: number;
}

/**
 * Starts `argv` inside the cgroup `dir` as uid:gid with no capabilities (file capabilities still apply, as
 * in the container), with `env` (and PATH). The pid is the program's own: the shell and setpriv exec it.
 */
export function launch(argv: string[], env: Record<string, string>, cgroupDir: string, uid: number, gid: number): Launched {
  const drop = uid === 0 ? [] : ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--clear-groups', '--inh-caps=-all'];
  const started = startReceiver(['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroupDir, ...drop, ...argv], env, '/bin/sh');
  return {
    ...started,
    pid: started.child.pid as number,
    async stop() {
      const timer = setTimeout(() => started.child.kill('SIGKILL'), 15_000);
      const code = await started.stop();
      clearTimeout(timer);
      return code;
    },
  };
}

/** The image's command line with the image's paths mapped into `tree` and `node` as this Node. */
export function imageArgv(image: ImageRun, tree: string, extra: string[] = []): string[] {
  const [program, ...rest] = image.argv;
  const mapped = rest.map((a) => (a === image.appDir || a.startsWith(`${image.appDir}/`) ? tree + a.slice(image.appDir.length) : a));
  return [program === 'node' ? process.execPath : (program as string), ...mapped, ...extra];
}

export function makeWritableDir(prefix: string, uid: number, gid: number): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  execFileSync('chown', [`${uid}:${gid}`, dir]);
  return dir;
}
