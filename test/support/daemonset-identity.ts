// The receiver exactly as deploy/daemonset.yaml runs it: the one launcher for the host test
// (test/integration/daemonset-identity.test.ts) and for the kernel tier inside QEMU guests.
//
// USE
//   From TypeScript:
//     const pod = startDaemonSetPod({
//       imageTree,   // the image's /app, built by scripts/build-image-tree.sh (buildImageTree() does it on a
//                    // host; in a guest pass the host's build, read-only over 9p is fine). The checkout itself
//                    // works too (after make -C bpf): its bin/oomkill-receiver runs src/ by type stripping
//       workDir,     // writable, on a filesystem with extended attributes (ext4; tmpfs, e.g. a guest's /tmp):
//                    // the loader's copy with its file capabilities, the containers' roots, emptyDirs (each
//                    // pod in a pod-XXXXXX directory of its own; the caller removes workDir)
//       hostPaths,   // where the manifest's host paths really are, by prefix, e.g. { '/sys/fs/bpf': scratch
//                    // bpffs, '/var/lib/oomkill-receiver': a temp dir }; unlisted paths are used as they are
//       nodeName,    // what fieldRef spec.nodeName gives
//       env,         // optional overrides of the receiver's env, e.g. OTEL_EXPORTER_OTLP_ENDPOINT
//       args,        // optional receiver arguments appended to the manifest's
//       appArmorProfile, // optional: the loaded profile that stands for the runtime's default on this machine;
//                        // each container then runs under what the manifest asks (appArmorProfile RuntimeDefault,
//                        // or nothing, as Kubernetes applies the default where AppArmor is on: this profile;
//                        // Localhost: its localhostProfile; Unconfined: none)
//       manifest, dockerfile, // optional other files (default deploy/daemonset.yaml and Dockerfile)
//     });
//     pod.initResults   // each init container's exit code and output (startDaemonSetPod throws if one failed)
//     pod.receiver      // a ReceiverProcess (test/support/receiver-process.ts): waitForLine, stop, exited
//     pod.identity      // what was applied, for messages: user, groups, capabilities, no_new_privs, mounts
//   From a shell (a guest's init script):
//     node test/support/daemonset-identity.ts --image-tree DIR --work-dir DIR --node-name NAME \
//       [--host-path /sys/fs/bpf=/x]... [--env NAME=VALUE]... [--apparmor-profile RUNTIME_DEFAULT] [--manifest FILE] \
//       [-- RECEIVER_ARGS...]
//     runs the init containers, then the receiver in the foreground (its stderr and stdout are this
//     process's; SIGTERM and SIGINT are passed on); exits with the receiver's code, or 97 when an init
//     container failed (its output is printed), 98 for bad arguments.
//   Needs: root; util-linux (unshare, mount, umount, pivot_root, setpriv); libcap2-bin (setcap).
//
// WHAT IT DOES, AS THE KUBELET AND A RUNTIME (containerd + runc) DO
//   - Reads the DaemonSet's init containers and its `receiver` container from the manifest: command/args
//     (else the image's ENTRYPOINT/CMD), runAsUser/runAsGroup (else the image's USER), capabilities add/drop
//     as the bounding set, allowPrivilegeEscalation (false: no_new_privs), env (fieldRef spec.nodeName and
//     metadata.* substituted), volumeMounts. Reads from the Dockerfile's final stage the image's USER, ENV,
//     ENTRYPOINT, CMD, where the tree goes (COPY --from=build /image DIR) and the loader's file capabilities
//     (its `RUN setcap CAPS PATH` line), applied to a copy of the loader bound over the tree's.
//   - Creates DirectoryOrCreate host paths as root, 0755 (the kubelet's way), checks the other types.
//   - Runs each container in a private mount namespace with its own root (pivot_root, so AppArmor mediates
//     paths as the container sees them): a tmpfs holding this machine's /usr and /etc read-only (the same
//     Debian as node:24-bookworm-slim), this Node at /usr/local/bin/node, the image tree, proc, a small /dev,
//     sysfs read-only, then the volumes (hostPath: a recursive bind, emptyDir: a fresh 0777 directory),
//     read-only where the mount says so, the root itself read-only under readOnlyRootFilesystem.
//   - Then, as runc does after setting up the mounts: the AppArmor profile the manifest asks for (where the
//     caller names the profile that is the runtime's default here) for the next exec, the bounding
//     set, uid and gid with no supplementary groups, no inheritable or ambient capabilities (Kubernetes sets
//     none: a non-root process keeps no capability across exec, only the loader's file capabilities give
//     any), no_new_privs if asked, a clean environment, exec.
// WHAT IT DOES NOT EMULATE, AND WHY THAT IS SAFE FOR WHAT IT TESTS
//   - Network namespace: the containers share this machine's network, so the OTLP test receiver is on
//     localhost; OTEL_EXPORTER_OTLP_ENDPOINT (the sidecar in a pod) and OOMKILL_HEALTH_ADDR (a port in the
//     pod's own network) are what callers override. PID and cgroup namespaces: the receiver reads the
//     victim's cgroup in the kernel and the host's cgroupfs through its mount; it looks at no process.
//   - The device cgroup (a pod may open only the runtime's default devices: /dev/kmsg needs more) and
//     seccomp (the DaemonSet sets no seccompProfile, so the kubelet's default, Unconfined, applies).
//   - The API server: KUBERNETES_SERVICE_* are not set, so the receiver runs without pod enrichment.
//   - SELinux (seLinuxOptions): not enforced on the machines this runs on.
//   - The Collector sidecar: the receiver's OTLP endpoint is the caller's.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startReceiver } from './receiver-process.ts';
import type { ReceiverProcess } from './receiver-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const MANIFEST_PATH = join(ROOT, 'deploy', 'daemonset.yaml');
export const DOCKERFILE_PATH = join(ROOT, 'Dockerfile');
/** The container that runs the receiver, in the manifest. */
const RECEIVER_CONTAINER = 'receiver';
/** What a runtime sets when the image sets no PATH (node's base image sets this one too). */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/** The tools' and the setup shell's environment (a guest's PATH may lack sbin); a container's own is set at its exec. */
const SETUP_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
/** containerd's default capabilities, which `drop` and `add` start from. */
const RUNTIME_DEFAULT_CAPS = ['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE'];

export interface DaemonSetPodOptions {
  imageTree: string;
  workDir: string;
  nodeName: string;
  hostPaths?: Record<string, string>;
  env?: Record<string, string>;
  args?: string[];
  appArmorProfile?: string;
  manifest?: string;
  dockerfile?: string;
}

/** One container as it is run: who, with what, where. */
export interface ContainerIdentity {
  name: string;
  uid: number;
  gid: number;
  boundingSet: string[];
  noNewPrivs: boolean;
  readOnlyRoot: boolean;
  /** The AppArmor profile it runs under; undefined: unconfined. */
  appArmorProfile?: string;
  argv: string[];
  env: Record<string, string>;
  /** destination in the container -> source on this machine (or `emptyDir`), with `ro` where read-only */
  mounts: string[];
}

export interface DaemonSetPod {
  initResults: Array<{ name: string; code: number | null; output: string }>;
  receiver: ReceiverProcess;
  identity: { init: ContainerIdentity[]; receiver: ContainerIdentity; loaderCapabilities: string };
}

type Obj = Record<string, any>;

// ---- The image, from the Dockerfile's final stage ------------------------------------------------------

export interface ImageSpec {
  user: { uid: number; gid: number };
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  /** Where the tree built by scripts/build-image-tree.sh goes in the image, e.g. /app. */
  treeDir: string;
  /** The loader's file capabilities and its path in the image, from `RUN setcap CAPS PATH`. */
  setcap: { capabilities: string; path: string };
}

export function readImageSpec(dockerfile = DOCKERFILE_PATH): ImageSpec {
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const final = stages.at(-1) ?? '';
  const instruction = (name: string): string[] => [...final.matchAll(new RegExp(`^${name}\\s+(.+)$`, 'gm'))].map((m) => (m[1] ?? '').trim());
  const json = (name: string): string[] => {
    const [value] = instruction(name).slice(-1);
    if (value === undefined) return [];
    return JSON.parse(value) as string[];
  };
  const [user = '0'] = instruction('USER').slice(-1);
  const [uid = '0', gid = uid] = user.split(':');
  const env: Record<string, string> = { PATH: DEFAULT_PATH };
  for (const line of instruction('ENV')) {
    for (const [, name, value] of line.matchAll(/(\w+)=("[^"]*"|\S+)/g)) env[name as string] = (value as string).replace(/^"|"$/g, '');
  }
  const copy = /--from=build\s+\/image\s+(\S+)/.exec(instruction('COPY').join('\n'));
  const setcap = instruction('RUN').map((r) => /\bsetcap\s+(\S+)\s+(\S+)/.exec(r)).find((m) => m !== null);
  if (!copy?.[1] || !setcap?.[1] || !setcap[2]) throw new Error(`${dockerfile}: no 'COPY --from=build /image DIR' or 'RUN setcap CAPS PATH' in the final stage`);
  return { user: { uid: Number(uid), gid: Number(gid) }, env, entrypoint: json('ENTRYPOINT'), cmd: json('CMD'), treeDir: copy[1], setcap: { capabilities: setcap[1], path: setcap[2] } };
}

/** Builds the image tree with scripts/build-image-tree.sh (a host only: it builds in the checkout). */
export function buildImageTree(parent = mkdtempSync(join(tmpdir(), 'oomkill-image-'))): string {
  chmodSync(parent, 0o755); // the containers' users read it through a bind mount, but the tree's own mode counts
  const tree = join(parent, 'app');
  execFileSync(join(ROOT, 'scripts', 'build-image-tree.sh'), [tree], { cwd: ROOT, stdio: 'pipe' });
  return tree;
}

// ---- The pod, from the manifest ---------------------------------------------------------------------

function podSpec(manifest: string): Obj {
  const daemonset = parse(readFileSync(manifest, 'utf8')) as Obj;
  if (daemonset?.kind !== 'DaemonSet') throw new Error(`${manifest}: not a DaemonSet`);
  return daemonset.spec.template.spec as Obj;
}

const shq = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/** The real path of a manifest host path: the longest matching prefix of `hostPaths`, else itself. */
export function hostPathOnThisMachine(path: string, hostPaths: Record<string, string> = {}): string {
  const prefix = Object.keys(hostPaths)
    .filter((p) => path === p || path.startsWith(`${p.replace(/\/$/, '')}/`))
    .sort((a, b) => b.length - a.length)[0];
  return prefix === undefined ? path : join(hostPaths[prefix] as string, path.slice(prefix.length));
}

/** What the kubelet does for a hostPath volume before any container starts. */
function prepareHostPath(volume: Obj, real: string): void {
  const type = (volume.hostPath.type ?? '') as string;
  const exists = existsSync(real);
  if (type === 'DirectoryOrCreate' && !exists) {
    mkdirSync(real, { recursive: true, mode: 0o755 });
    chmodSync(real, 0o755);
    return;
  }
  const stat = exists ? statSync(real) : undefined;
  const ok = type === '' || type === 'DirectoryOrCreate' ? true
    : type === 'Directory' ? stat?.isDirectory()
    : type === 'CharDevice' ? stat?.isCharacterDevice()
    : type === 'File' ? stat?.isFile()
    : undefined;
  if (ok === undefined) throw new Error(`hostPath type ${type} of volume ${volume.name} is not supported by this launcher`);
  if (!ok) throw new Error(`volume ${volume.name}: hostPath ${volume.hostPath.path} (here ${real}) is not a ${type}: the kubelet would refuse the pod`);
}

function containerIdentity(container: Obj, pod: Obj, image: ImageSpec, nodeName: string, overrides: Record<string, string>, extraArgs: string[], runtimeDefaultProfile: string | undefined): ContainerIdentity {
  const context = (container.securityContext ?? {}) as Obj;
  const podContext = (pod.securityContext ?? {}) as Obj;
  const runAsUser = (context.runAsUser ?? podContext.runAsUser) as number | undefined;
  const uid = runAsUser ?? image.user.uid;
  // A runAsUser without runAsGroup takes the user's group from the image's /etc/passwd: root's is 0, and
  // an unknown user's is 0 too.
  const gid = (context.runAsGroup ?? podContext.runAsGroup ?? (runAsUser === undefined ? image.user.gid : 0)) as number;
  if ((context.runAsNonRoot ?? podContext.runAsNonRoot) === true && uid === 0) throw new Error(`${container.name}: runAsNonRoot with uid 0: the kubelet would refuse to start it`);
  const drop = ((context.capabilities?.drop ?? []) as string[]).map((c) => c.toUpperCase());
  const add = ((context.capabilities?.add ?? []) as string[]).map((c) => c.toUpperCase());
  const boundingSet = [...new Set([...(drop.includes('ALL') ? [] : RUNTIME_DEFAULT_CAPS.filter((c) => !drop.includes(c))), ...add])];
  const command = (container.command ?? undefined) as string[] | undefined;
  const args = (container.args ?? (command === undefined ? image.cmd : [])) as string[];
  const argv = [...(command ?? image.entrypoint), ...args, ...extraArgs];
  const fieldRef = (path: string): string => {
    if (path === 'spec.nodeName') return nodeName;
    if (path === 'metadata.name') return `oomkill-receiver-${nodeName}`;
    if (path === 'metadata.namespace') return 'oomkill-receiver';
    throw new Error(`${container.name}: fieldRef ${path} is not supported by this launcher`);
  };
  const env: Record<string, string> = { ...image.env, HOSTNAME: `oomkill-receiver-${nodeName}`, HOME: uid === 0 ? '/root' : '/' };
  for (const e of (container.env ?? []) as Obj[]) {
    if ('value' in e) env[e.name] = String(e.value);
    else if (e.valueFrom?.fieldRef) env[e.name] = fieldRef(e.valueFrom.fieldRef.fieldPath);
    else throw new Error(`${container.name}: env ${e.name} comes from something this launcher does not resolve`);
  }
  Object.assign(env, overrides);
  const appArmor = (context.appArmorProfile ?? podContext.appArmorProfile ?? { type: 'RuntimeDefault' }) as Obj;
  const appArmorProfile = appArmor.type === 'Unconfined' ? undefined
    : appArmor.type === 'Localhost' ? String(appArmor.localhostProfile)
    : runtimeDefaultProfile;
  return {
    ...(appArmorProfile !== undefined && { appArmorProfile }),
    name: container.name,
    uid,
    gid,
    boundingSet,
    // Kubernetes: allowPrivilegeEscalation is true unless set false (or the container is privileged).
    noNewPrivs: context.allowPrivilegeEscalation === false,
    readOnlyRoot: context.readOnlyRootFilesystem === true,
    argv,
    env,
    mounts: [],
  };
}

/** The shell script that builds the container's root in the current (private) mount namespace and execs. */
function containerScript(identity: ContainerIdentity, root: string, mounts: Array<{ source: string; destination: string; readOnly: boolean; kind: 'dir' | 'file' }>, image: ImageSpec, imageTree: string, loaderCopy: string): string {
  const R = shq(root);
  const lines = [
    'set -eu',
    `mount -t tmpfs -o mode=0755 oomkill-container ${R}`,
    // The image's OS layer: this machine's Debian stands in for node:24-bookworm-slim's.
    'for d in usr etc bin sbin lib lib32 lib64 libx32; do',
    `  if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" ${R}/"$d"`,
    `  elif [ -d "/$d" ]; then mkdir ${R}/"$d"; mount --rbind "/$d" ${R}/"$d"; mount -o remount,bind,ro ${R}/"$d"; fi`,
    'done',
    `mount -t tmpfs -o mode=0755 usr-local ${R}/usr/local`,
    `mkdir -p ${R}/usr/local/bin && touch ${R}/usr/local/bin/node && mount --bind ${shq(process.execPath)} ${R}/usr/local/bin/node`,
    `mkdir -p ${R}${shq(image.treeDir)} && mount --rbind ${shq(imageTree)} ${R}${shq(image.treeDir)} && mount -o remount,bind,ro ${R}${shq(image.treeDir)}`,
    `mount --bind ${shq(loaderCopy)} ${R}${shq(image.setcap.path)}`,
    `mkdir ${R}/proc && mount -t proc proc ${R}/proc`,
    `mkdir ${R}/dev && mount -t tmpfs -o mode=0755,nosuid dev ${R}/dev`,
    `for n in null zero full random urandom tty; do touch ${R}/dev/"$n"; mount --bind /dev/"$n" ${R}/dev/"$n"; done`,
    `ln -s /proc/self/fd ${R}/dev/fd`,
    `mkdir ${R}/sys && mount -t sysfs -o ro,nosuid,nodev,noexec sysfs ${R}/sys`,
    `mkdir -p ${R}/tmp ${R}/run ${R}/var/lib`,
  ];
  // Shallower destinations first, as runtimes order them.
  for (const m of [...mounts].sort((a, b) => a.destination.split('/').length - b.destination.split('/').length)) {
    const target = `${R}${shq(m.destination)}`;
    lines.push(m.kind === 'dir' ? `mkdir -p ${target}` : `mkdir -p "$(dirname ${target})" && { [ -e ${target} ] || touch ${target}; }`);
    lines.push(`mount --rbind ${shq(m.source)} ${target}`);
    if (m.readOnly) lines.push(`mount -o remount,bind,ro ${target}`);
  }
  lines.push(
    `mkdir ${R}/.old-root && cd ${R} && pivot_root . .old-root && cd / && umount -l /.old-root && rmdir /.old-root`,
    ...(identity.readOnlyRoot ? ['mount -o remount,bind,ro /'] : []),
  );
  if (identity.appArmorProfile !== undefined) {
    lines.push(`attr=/proc/self/attr/apparmor/exec; [ -e "$attr" ] || attr=/proc/self/attr/exec; printf 'exec %s' ${shq(identity.appArmorProfile)} > "$attr"`);
  }
  const caps = identity.boundingSet.map((c) => `+${c.toLowerCase()}`).join(',');
  const setpriv = [
    'setpriv', `--reuid=${identity.uid}`, `--regid=${identity.gid}`, '--clear-groups', '--inh-caps=-all', '--ambient-caps=-all',
    `--bounding-set=-all${caps ? `,${caps}` : ''}`, ...(identity.noNewPrivs ? ['--no-new-privs'] : []),
    '--', 'env', '-i', ...Object.entries(identity.env).map(([k, v]) => `${k}=${v}`), ...identity.argv,
  ];
  lines.push(`exec ${setpriv.map(shq).join(' ')}`);
  return lines.join('\n');
}

interface PreparedPod {
  init: Array<{ identity: ContainerIdentity; script: string }>;
  receiver: { identity: ContainerIdentity; script: string };
  loaderCapabilities: string;
}

/** Everything up to the exec of each container: host paths, the loader's copy, each container's script. */
export function prepareDaemonSetPod(options: DaemonSetPodOptions): PreparedPod {
  const pod = podSpec(options.manifest ?? MANIFEST_PATH);
  const image = readImageSpec(options.dockerfile ?? DOCKERFILE_PATH);
  mkdirSync(options.workDir, { recursive: true });
  const work = mkdtempSync(join(options.workDir, 'pod-'));

  // The loader with the image's file capabilities: a copy on a writable filesystem (a guest reads the
  // tree over 9p, which carries no capabilities).
  const loaderCopy = join(work, 'oomkill-loader');
  copyFileSync(join(options.imageTree, relative(image.treeDir, image.setcap.path)), loaderCopy);
  chmodSync(loaderCopy, 0o755);
  execFileSync('setcap', [image.setcap.capabilities, loaderCopy], { env: SETUP_ENV });

  const volumes = new Map<string, Obj>(((pod.volumes ?? []) as Obj[]).map((v) => [v.name as string, v]));
  const sources = new Map<string, { source: string; kind: 'dir' | 'file' }>();
  for (const volume of volumes.values()) {
    if (volume.hostPath) {
      const real = hostPathOnThisMachine(volume.hostPath.path as string, options.hostPaths);
      prepareHostPath(volume, real);
      sources.set(volume.name, { source: real, kind: statSync(real).isDirectory() ? 'dir' : 'file' });
    } else if (volume.emptyDir) {
      const dir = join(work, `emptydir-${volume.name}`);
      mkdirSync(dir);
      chmodSync(dir, 0o777);
      sources.set(volume.name, { source: dir, kind: 'dir' });
    }
  }

  const prepare = (container: Obj, overrides: Record<string, string>, extraArgs: string[]): { identity: ContainerIdentity; script: string } => {
    const identity = containerIdentity(container, pod, image, options.nodeName, overrides, extraArgs, options.appArmorProfile);
    const mounts = ((container.volumeMounts ?? []) as Obj[]).map((m) => {
      const source = sources.get(m.name);
      if (source === undefined) throw new Error(`${container.name}: volume ${m.name} is of a kind this launcher does not provide`);
      return { ...source, destination: m.mountPath as string, readOnly: m.readOnly === true };
    });
    identity.mounts = mounts.map((m) => `${m.destination} <- ${m.source}${m.readOnly ? ' (ro)' : ''}`);
    const root = join(work, `root-${container.name}`);
    mkdirSync(root);
    return { identity, script: containerScript(identity, root, mounts, image, options.imageTree, loaderCopy) };
  };

  const receiver = ((pod.containers ?? []) as Obj[]).find((c) => c.name === RECEIVER_CONTAINER);
  if (receiver === undefined) throw new Error(`no container named ${RECEIVER_CONTAINER} in the DaemonSet`);
  return {
    init: ((pod.initContainers ?? []) as Obj[]).map((c) => prepare(c, {}, [])),
    receiver: prepare(receiver, options.env ?? {}, options.args ?? []),
    loaderCapabilities: image.setcap.capabilities,
  };
}

/** unshare's arguments that run a container's script in a private mount namespace. */
const inMountNamespace = (script: string): string[] => ['--mount', '--propagation', 'private', 'sh', '-c', script];

/** Runs the init containers to completion; throws with the output of the first that fails. */
function runInitContainers(prepared: PreparedPod): DaemonSetPod['initResults'] {
  const results: DaemonSetPod['initResults'] = [];
  for (const { identity, script } of prepared.init) {
    const run = spawnSync('unshare', inMountNamespace(script), { env: SETUP_ENV, encoding: 'utf8', timeout: 60_000 });
    const result = { name: identity.name, code: run.status, output: `${run.stdout ?? ''}${run.stderr ?? ''}` };
    results.push(result);
    if (run.status !== 0) {
      throw Object.assign(new Error(`init container ${identity.name} failed (exit ${run.status ?? run.signal}): the pod would stay in its init phase\n${result.output}`), { initResults: results });
    }
  }
  return results;
}

/** Runs the pod's init containers, then starts the receiver container. */
export function startDaemonSetPod(options: DaemonSetPodOptions): DaemonSetPod {
  const prepared = prepareDaemonSetPod(options);
  const initResults = runInitContainers(prepared);
  // No fork: the pid of unshare becomes sh, setpriv, env and at last the receiver's own: signals reach it.
  const receiver = startReceiver(inMountNamespace(prepared.receiver.script), SETUP_ENV, 'unshare');
  return {
    initResults,
    receiver,
    identity: {
      init: prepared.init.map((c) => c.identity),
      receiver: prepared.receiver.identity,
      loaderCapabilities: prepared.loaderCapabilities,
    },
  };
}

// ---- Command line, for guests' shell scripts -----------------------------------------------------------

function cli(argv: string[]): number {
  const options: Partial<DaemonSetPodOptions> & { hostPaths: Record<string, string>; env: Record<string, string> } = { hostPaths: {}, env: {} };
  const pair = (value: string, flag: string): [string, string] => {
    const at = value.indexOf('=');
    if (at <= 0) throw new Error(`${flag} wants NAME=VALUE, got '${value}'`);
    return [value.slice(0, at), value.slice(at + 1)];
  };
  try {
    for (let i = 0; i < argv.length; i++) {
      const flag = argv[i] as string;
      if (flag === '--') {
        options.args = argv.slice(i + 1);
        break;
      }
      const value = argv[++i];
      if (value === undefined) throw new Error(`${flag} needs a value`);
      if (flag === '--image-tree') options.imageTree = value;
      else if (flag === '--work-dir') options.workDir = value;
      else if (flag === '--node-name') options.nodeName = value;
      else if (flag === '--apparmor-profile') options.appArmorProfile = value;
      else if (flag === '--manifest') options.manifest = value;
      else if (flag === '--dockerfile') options.dockerfile = value;
      else if (flag === '--host-path') options.hostPaths[pair(value, flag)[0]] = pair(value, flag)[1];
      else if (flag === '--env') options.env[pair(value, flag)[0]] = pair(value, flag)[1];
      else throw new Error(`unknown flag ${flag}`);
    }
    if (!options.imageTree || !options.workDir || !options.nodeName) throw new Error('--image-tree, --work-dir and --node-name are required');
  } catch (error) {
    process.stderr.write(`daemonset-identity: ${(error as Error).message}\n`);
    return 98;
  }
  let prepared: PreparedPod;
  try {
    prepared = prepareDaemonSetPod(options as DaemonSetPodOptions);
    for (const result of runInitContainers(prepared)) process.stderr.write(`daemonset-identity: init container ${result.name} exited ${result.code}${result.output ? `: ${result.output.trim()}` : ''}\n`);
  } catch (error) {
    process.stderr.write(`daemonset-identity: ${(error as Error).message}\n`);
    return 97;
  }
  const { identity, script } = prepared.receiver;
  process.stderr.write(`daemonset-identity: ${identity.name} as uid ${identity.uid} gid ${identity.gid}, bounding set ${identity.boundingSet.join(',') || 'empty'}, no_new_privs ${identity.noNewPrivs}, loader ${prepared.loaderCapabilities}, AppArmor ${identity.appArmorProfile ?? 'unconfined'}\n`);
  const child = spawn('unshare', inMountNamespace(script), { env: SETUP_ENV, stdio: 'inherit' });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
  return -1; // still running: the exit handler ends the process
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const code = cli(process.argv.slice(2));
  if (code >= 0) process.exit(code);
}

