// A scratch memory cgroup at a Kubernetes-shaped path, under a parent of our own, and processes that
// exceed its limit. Used by the demo command and by the kernel tests: it only ever creates and removes
// the cgroups it made, and never touches the machine's others.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseOomKill } from '../sources/cgroup-counters.ts';

export type CgroupVersion = 'v1' | 'v2';

export interface ScratchCgroup {
  version: CgroupVersion;
  /** The leaf directory, absolute. */
  dir: string;
  /** The leaf as the kernel names it: from the memory controller's root, with a leading '/'. */
  path: string;
  /** The pod's own level (a limit here is a pod-level limit). */
  podDir: string;
  /** Our own parent, under which everything else was made. */
  parentDir: string;
  podUid: string;
  containerId: string;
  /** OOM kills the kernel counted in the leaf. */
  oomKills(): number;
  /** Removes every cgroup it created, killing what still runs in them. */
  remove(): Promise<void>;
}

export interface ScratchCgroupOptions {
  /** Our own parent directory's name under the controller root (created, removed). */
  parentName: string;
  limitMiB: number;
  /** Optionally a limit on the pod level too. */
  podLimitMiB?: number;
  /** cgroup v2: `memory.oom.group` on the leaf, so an OOM kills all its processes (as Kubernetes >= 1.28 sets). */
  oomGroup?: boolean;
}

/** Where the memory controller is mounted, and which version it is. */
export function memoryController(): { root: string; version: CgroupVersion } | undefined {
  if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) return { root: '/sys/fs/cgroup/memory', version: 'v1' };
  if (existsSync('/sys/fs/cgroup/cgroup.controllers') && readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('memory')) {
    return { root: '/sys/fs/cgroup', version: 'v2' };
  }
  return undefined;
}

export async function createScratchCgroup(options: ScratchCgroupOptions): Promise<ScratchCgroup> {
  const controller = memoryController();
  if (!controller) throw new Error('no memory cgroup controller at /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2)');
  const { root, version } = controller;
  const podUid = randomUUID();
  const containerId = randomBytes(32).toString('hex');
  const podSlice = `kubepods-burstable-pod${podUid.replaceAll('-', '_')}.slice`;
  const levels = [options.parentName, 'kubepods.slice', 'kubepods-burstable.slice', podSlice, `cri-containerd-${containerId}.scope`];
  const created: string[] = [];
  let dir = root;
  try {
    for (const level of levels) {
      if (version === 'v2') await writeFile(join(dir, 'cgroup.subtree_control'), '+memory').catch(() => {});
      dir = join(dir, level);
      await mkdir(dir);
      created.push(dir);
    }
    const limitFile = version === 'v1' ? 'memory.limit_in_bytes' : 'memory.max';
    await writeFile(join(dir, limitFile), String(options.limitMiB * 1024 * 1024));
    if (version === 'v2') await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => {});
    if (options.oomGroup === true) {
      if (version !== 'v2') throw new Error('memory.oom.group needs cgroup v2');
      await writeFile(join(dir, 'memory.oom.group'), '1');
    }
    else await writeFile(join(dir, 'memory.swappiness'), '0').catch(() => {});
    const podDir = created[3] as string;
    if (options.podLimitMiB !== undefined) await writeFile(join(podDir, limitFile), String(options.podLimitMiB * 1024 * 1024));
  } catch (error) {
    await removeAll(created);
    throw new Error(`cannot create a scratch cgroup under ${root}/${options.parentName}: ${(error as Error).message}`, { cause: error });
  }
  const leaf = dir;
  return {
    version,
    dir: leaf,
    path: leaf.slice(root.length),
    podDir: created[3] as string,
    parentDir: created[0] as string,
    podUid,
    containerId,
    oomKills: () => oomKillCount(leaf, version),
    remove: () => removeAll(created),
  };
}

/** The kernel's own count of OOM kills in one cgroup. */
export function oomKillCount(dir: string, version: CgroupVersion): number {
  return parseOomKill(readFileSync(join(dir, version === 'v1' ? 'memory.oom_control' : 'memory.events'), 'utf8')) ?? 0;
}

/** What the allocating process is called unless a test names it. */
export const HOG_NAME = 'oomkill-hog';

export interface Hog {
  pid: number;
  /** Resolves with the signal that ended it ('SIGKILL' for an OOM kill). */
  exited: Promise<NodeJS.Signals | null>;
}

/**
 * Starts a process inside `dir` that allocates until the kernel kills it: `tail /dev/zero` buffers an
 * endless line. It joins the cgroup before it allocates (the shell writes its own pid, then execs). Its
 * name is whatever the exec'd path's last component says, so a symlink named `name` gives it any bytes
 * a test wants (quotes, newlines, invalid UTF-8) without touching anything else.
 */
export function startHog(dir: string, options: { name?: Buffer; mainProcess?: boolean; namespaceChild?: boolean } = {}): Hog {
  const namespace = options.namespaceChild === true ? 'child' : options.mainProcess === true ? 'main' : 'none';
  return startIn(dir, options.name ?? Buffer.from(HOG_NAME), 'tail', ['/dev/zero'], namespace);
}

/** Starts a small process inside `dir` that stays (until the cgroup is removed). */
export function startResident(dir: string): Hog {
  return startIn(dir, Buffer.from('oomkill-resident'), 'sleep', ['3600']);
}

/**
 * With namespace `main`, the program runs as PID 1 of a new PID namespace (as a container's main process
 * does), under `unshare --pid --fork`; with `child`, a shell is that PID 1 and the program its child (PID 2
 * there, as a process a container's entrypoint started). The returned pid is then unshare's, an ancestor
 * of the victim.
 */
function startIn(dir: string, name: Buffer, program: string, args: string[], namespace: 'none' | 'main' | 'child' = 'none'): Hog {
  const programPath = ['/usr/bin', '/bin'].map((d) => join(d, program)).find((p) => existsSync(p));
  if (!programPath) throw new Error(`${program} not found in /usr/bin or /bin`);
  const linkDir = mkdtempSync(join(tmpdir(), 'oomkill-hog-'));
  const link = Buffer.concat([Buffer.from(`${linkDir}/`), name]);
  symlinkSync(programPath, link);
  // Node passes arguments and environment as UTF-8, so arbitrary bytes travel as printf octal escapes,
  // decoded by the shell (the trailing x keeps a final newline from being stripped by $(...)).
  const escaped = [...link].map((byte) => `\\${byte.toString(8).padStart(3, '0')}`).join('');
  const launcher = {
    none: 'exec',
    main: 'exec unshare --pid --fork --kill-child',
    child: `exec unshare --pid --fork --kill-child /bin/sh -c '"$@" & wait' sh`,
  }[namespace];
  const script = `echo $$ > "$0/cgroup.procs" && link=$(printf "\${HOG_PATH}x") && ${launcher} "\${link%x}" "$@"`;
  const child = spawn('/bin/sh', ['-c', script, dir, ...args], { stdio: 'ignore', env: { PATH: process.env.PATH, HOG_PATH: escaped } });
  const exited = new Promise<NodeJS.Signals | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve(signal));
  }).finally(() => rmSync(linkDir, { recursive: true, force: true }));
  if (child.pid === undefined) throw new Error(`could not start ${program}`);
  return { pid: child.pid, exited };
}

async function removeAll(created: string[]): Promise<void> {
  for (const dir of [...created].reverse()) {
    for (let attempt = 0; attempt < 50; attempt++) {
      const pids = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
      for (const pid of pids.split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // already gone
        }
      }
      try {
        await rmdir(dir);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') break;
        if (code !== 'EBUSY' || attempt === 49) throw new Error(`cannot remove scratch cgroup ${dir}: ${code}`, { cause: error });
        await sleep(20);
      }
    }
  }
}
