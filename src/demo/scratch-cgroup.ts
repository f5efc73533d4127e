// A scratch memory cgroup at a Kubernetes-shaped path, under a parent of our own, and processes that
// exceed its limit. Used by the demo command and by the kernel tests: it only ever creates and removes
// the cgroups it made, and never touches the machine's others.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export type CgroupVersion = 'v1' | 'v2';

export interface ScratchCgroup {
  version: CgroupVersion;
  /** The leaf directory, absolute. */
  dir: string;
  /** The leaf as the kernel names it: from the memory controller's root, with a leading '/'. */
  path: string;
  /** The pod's own level (a limit here is a pod-level limit). */
  podDir: string;
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
    podUid,
    containerId,
    oomKills: () => oomKillCount(leaf, version),
    remove: () => removeAll(created),
  };
}

/** The kernel's own count of OOM kills in one cgroup. */
export function oomKillCount(dir: string, version: CgroupVersion): number {
  const text = readFileSync(join(dir, version === 'v1' ? 'memory.oom_control' : 'memory.events'), 'utf8');
  const match = /^oom_kill (\d+)$/m.exec(text);
  return match ? Number(match[1]) : 0;
}

/** The allocating process renames itself (Node would otherwise show as MainThread). */
export const HOG_NAME = 'oomkill-hog';

export interface Hog {
  pid: number;
  /** Resolves with the signal that ended it ('SIGKILL' for an OOM kill). */
  exited: Promise<NodeJS.Signals | null>;
}

/**
 * Starts a process inside `dir` that allocates until the kernel kills it. It joins the cgroup before it
 * allocates (the shell writes its own pid, then execs), and it may rename itself first (/proc/self/comm),
 * so a test can give it a hostile name.
 */
export function startHog(dir: string, options: { name?: Buffer; holdMs?: number; megabytes?: number } = {}): Hog {
  const script = `
    const fs = require('node:fs');
    const name = process.env.HOG_NAME_HEX;
    if (name) fs.writeFileSync('/proc/self/comm', Buffer.from(name, 'hex'));
    const hold = Number(process.env.HOG_HOLD_MS || 0);
    const grab = () => { const keep = []; for (let i = 0; i < ${options.megabytes ?? 4096}; i++) keep.push(Buffer.alloc(1 << 20, 1)); return keep; };
    if (hold > 0) setTimeout(grab, hold); else grab();
    setTimeout(() => {}, 1 << 30);`;
  const child = spawn('/bin/sh', ['-c', `echo $$ > "$0/cgroup.procs" && exec "$1" -e "$2"`, dir, process.execPath, script], {
    stdio: 'ignore',
    env: { PATH: process.env.PATH, HOG_NAME_HEX: (options.name ?? Buffer.from(HOG_NAME)).toString('hex'), HOG_HOLD_MS: String(options.holdMs ?? 0) },
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (_code, signal) => resolve(signal));
  });
  if (child.pid === undefined) throw new Error('could not start the allocating process');
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
