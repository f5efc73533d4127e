// The launcher reads the DaemonSet's identity from the manifest and the Dockerfile, not from itself: what
// it would run is what those files say, and a change there changes it.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { hostPathOnThisMachine, MANIFEST_PATH, prepareDaemonSetPod, readImageSpec } from './daemonset-identity.ts';
import { describeKernel } from './kernel.ts';

const CHECKOUT = fileURLToPath(new URL('../..', import.meta.url));

describe('readImageSpec', () => {
  it('takes the user, environment, entry point, tree and the loader\'s file capabilities from the Dockerfile\'s final stage', () => {
    const spec = readImageSpec();
    expect(spec).toMatchObject({
      user: { uid: 65532, gid: 65532 },
      entrypoint: ['node', '--lite-mode', '--no-icu-timezone-data', '/app/bin/oomkill-receiver'],
      cmd: ['run'],
      treeDir: '/app',
      setcap: { capabilities: 'cap_bpf,cap_perfmon,cap_sys_resource+p', path: '/app/bpf/.output/oomkill-loader' },
    });
    expect(spec.env.NODE_ENV).toBe('production');
  });
});

describe('hostPathOnThisMachine', () => {
  it.each([
    ['/sys/fs/bpf/oomkill', { '/sys/fs/bpf': '/scratch/bpffs' }, '/scratch/bpffs/oomkill'],
    ['/sys/fs/bpf', { '/sys/fs/bpf': '/scratch/bpffs' }, '/scratch/bpffs'],
    ['/sys/fs/bpffs', { '/sys/fs/bpf': '/scratch/bpffs' }, '/sys/fs/bpffs'],
    ['/var/lib/oomkill-receiver/state', { '/var/lib': '/a', '/var/lib/oomkill-receiver': '/b' }, '/b/state'],
    ['/dev/kmsg', {}, '/dev/kmsg'],
  ])('%s with %o is %s', (path, map, expected) => expect(hostPathOnThisMachine(path, map)).toBe(expected));
});

describeKernel('prepareDaemonSetPod', () => {
  let work = '';
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'oomkill-identity-'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const prepare = (manifest = MANIFEST_PATH, appArmorProfile?: string) => prepareDaemonSetPod({
    imageTree: CHECKOUT, workDir: join(work, 'pods'), nodeName: 'node-7', manifest,
    hostPaths: { '/sys/fs/bpf': join(work, 'bpffs'), '/var/lib/oomkill-receiver': join(work, 'var') },
    ...(appArmorProfile !== undefined && { appArmorProfile }),
  });

  it('runs each container as the manifest says: user, bounding set, no_new_privs, env, mounts', () => {
    const { init: [init], receiver } = prepare();
    expect(init?.identity).toMatchObject({ name: 'own-state-dirs', uid: 0, gid: 0, boundingSet: ['CHOWN', 'FOWNER'], noNewPrivs: true, readOnlyRoot: true });
    expect(init?.identity.argv.slice(0, 2)).toEqual(['sh', '-c']);
    expect(receiver.identity).toMatchObject({ name: 'receiver', uid: 65532, gid: 65532, boundingSet: ['BPF', 'PERFMON', 'SYS_RESOURCE'], noNewPrivs: false, argv: ['node', '--lite-mode', '--no-icu-timezone-data', '/app/bin/oomkill-receiver', 'run'] });
    expect(receiver.identity.env).toMatchObject({ NODE_NAME: 'node-7', NODE_ENV: 'production', OOMKILL_PIN_DIR: '/run/oomkill-receiver/pins' });
    expect(receiver.identity.mounts).toContain(`/run/oomkill-receiver/pins <- ${join(work, 'bpffs', 'oomkill')}`);
    expect(receiver.identity.mounts).toContain('/sys/kernel/btf <- /sys/kernel/btf (ro)');
    expect(receiver.identity.appArmorProfile).toBeUndefined(); // no profile named: this machine has none
  });

  it('applies the AppArmor profile the manifest asks for: the runtime default, a Localhost one, or none', () => {
    const manifest = parse(readFileSync(MANIFEST_PATH, 'utf8'));
    const spec = manifest.spec.template.spec;
    spec.initContainers[0].securityContext.appArmorProfile = { type: 'Unconfined' };
    spec.containers[0].securityContext.appArmorProfile = { type: 'Localhost', localhostProfile: 'oomkill-narrow' };
    const variant = join(work, 'variant.yaml');
    writeFileSync(variant, stringify(manifest));
    expect(prepare(MANIFEST_PATH, 'runtime-default-here').receiver.identity.appArmorProfile).toBe('runtime-default-here');
    const { init: [init], receiver } = prepare(variant, 'runtime-default-here');
    expect(init?.identity.appArmorProfile).toBeUndefined();
    expect(receiver.identity.appArmorProfile).toBe('oomkill-narrow');
  });
});
