// The bpf source against the real kernel: real loader, real OOM kills in scratch cgroups of our own.
import { spawn } from 'node:child_process';
import type { SpawnOptions } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { createScratchCgroup, HOG_NAME, startHog, startResident } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import type { LostKills, OomKill } from '../../src/event.ts';
import { silentLogger } from '../../src/log.ts';
import { parseCgroupPath } from '../../src/enrichment/cgroup-path.ts';
import { FrameType } from '../../src/sources/bpf-frames.ts';
import { createBpfSource, unpinnedDegradation } from '../../src/sources/bpf-source.ts';
import { killEventId } from '../../src/sources/event-id.ts';
import { bootId } from '../../src/sources/kernel-clock.ts';
import type { Source } from '../../src/sources/source.ts';
import { describeKernel, LOADER_PATH } from '../support/kernel.ts';
import { frame, helloPayload } from '../support/frames.ts';
import { scratchCgroups } from '../support/scratch.ts';

/** Only kills in this test run's own cgroups: the machine may OOM-kill elsewhere meanwhile. */
const ours = (k: OomKill): boolean => k.cgroup.path?.includes(`-${process.pid}/`) === true;

describeKernel('bpf source on this kernel', () => {
  let source: Source | undefined;
  let cgroup: ScratchCgroup | undefined;
  const kills: OomKill[] = [];
  const lost: LostKills[] = [];
  const problems: Error[] = [];
  const handlers = { onKill: (k: OomKill) => ours(k) && kills.push(k), onLost: (l: LostKills) => lost.push(l), onProblem: (e: Error) => problems.push(e) };

  afterEach(async () => {
    await source?.stop();
    await cgroup?.remove();
    source = cgroup = undefined;
    kills.length = lost.length = problems.length = 0;
  });

  const waitFor = async (predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; got ${kills.length} kills, problems: ${problems.map((p) => p.message).join('; ')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('reports the hook it attached and the kernel release', async () => {
    source = createBpfSource({ loaderPath: LOADER_PATH }, silentLogger);
    const info = await source.start(handlers);
    expect(info.name).toBe('bpf');
    expect(info.detail).toMatch(/^(tp_btf|raw_tp)\/mark_victim on Linux \d+\.\d+/);
    expect(info.hook).toMatch(/^(tp_btf|raw_tp)\/mark_victim$/);
  });

  for (const hook of ['tp_btf', 'raw_tp'] as const) {
    it(`reads the dead victim's pid, name, memory and cgroup path in the kernel (${hook})`, async () => {
      cgroup = await createScratchCgroup({ parentName: `oomkill-test-bpf-${process.pid}`, limitMiB: 48 });
      source = createBpfSource({ loaderPath: LOADER_PATH, hooks: hook }, silentLogger);
      await source.start(handlers);
      // task->start_time is CLOCK_MONOTONIC, which process.hrtime reads too.
      const beforeStart = process.hrtime.bigint();
      const hog = startHog(cgroup.dir);
      expect(await hog.exited).toBe('SIGKILL');
      await waitFor(() => kills.length === 1, 'the kill');
      const [kill] = kills;
      expect(kill).toMatchObject({
        source: 'bpf',
        hook: `${hook}/mark_victim`,
        constraint: 'memcg',
        constraintInferred: true,
        // comm is the name the process gave itself; the executable is what it runs (tail /dev/zero).
        victim: { pid: hog.pid, tid: hog.pid, comm: { text: HOG_NAME }, executableName: { text: 'tail' }, isNamespaceInit: false, uid: 0 },
        cgroup: { path: cgroup.path, pathTruncated: false, v2: cgroup.version === 'v2' },
        victimMemcg: { limitBytes: 48 * 1024 * 1024 },
        domain: { path: cgroup.path, limitBytes: 48 * 1024 * 1024 },
      });
      // The victim held most of the limit in anonymous memory when it died.
      expect(kill?.memory.anonRssBytes).toBeGreaterThan(40 * 1024 * 1024);
      expect(kill?.memory.anonRssBytes).toBeLessThanOrEqual(48 * 1024 * 1024);
      const startTimeNs = kill?.victim.startTimeNs ?? 0n;
      expect(startTimeNs).toBeGreaterThan(beforeStart);
      expect(startTimeNs).toBeLessThan(process.hrtime.bigint());
      expect(kill?.eventId).toBe(killEventId(bootId(), hog.pid, startTimeNs));
      expect(kill?.oomId).toBe(kill?.eventId);
      // Kernel time of the kill, converted to wall time: it happened within the last few seconds.
      const ageMs = Number(BigInt(Date.now()) * 1_000_000n - (kill?.timeUnixNano ?? 0n)) / 1e6;
      expect(ageMs).toBeGreaterThanOrEqual(-50);
      expect(ageMs).toBeLessThan(5000);
      expect(cgroup.oomKills()).toBe(1);
      expect(lost).toEqual([]);
    });
  }

  it('catches a child killed while the cgroup\'s first process lives on', async () => {
    cgroup = await createScratchCgroup({ parentName: `oomkill-test-bpf-${process.pid}`, limitMiB: 96 });
    source = createBpfSource({ loaderPath: LOADER_PATH }, silentLogger);
    await source.start(handlers);
    // The first process holds a little memory and stays; the second allocates past the limit and dies.
    const resident = startResident(cgroup.dir);
    await new Promise((r) => setTimeout(r, 300));
    const child = startHog(cgroup.dir);
    expect(await child.exited).toBe('SIGKILL');
    await waitFor(() => kills.length >= 1, 'the kill');
    expect(kills.map((k) => k.victim.pid)).toEqual([child.pid]);
    expect(() => process.kill(resident.pid, 0)).not.toThrow();
  });

  it('keeps a hostile process name intact: quotes, a newline, an escape sequence and invalid UTF-8', async () => {
    const name = Buffer.from([0x27, 0x22, 0x0a, 0x1b, 0x5b, 0x32, 0x4a, 0xff, 0xc3, 0x28, 0x60, 0x24, 0x28, 0x29, 0x78]); // '"\n ESC[2J \xff \xc3( `$()x
    cgroup = await createScratchCgroup({ parentName: `oomkill-test-bpf-${process.pid}`, limitMiB: 48 });
    source = createBpfSource({ loaderPath: LOADER_PATH }, silentLogger);
    await source.start(handlers);
    const hog = startHog(cgroup.dir, { name });
    expect(await hog.exited).toBe('SIGKILL');
    await waitFor(() => kills.length === 1, 'the kill');
    expect(kills[0]?.victim.comm?.rawHex).toBe(name.toString('hex'));
    expect(kills[0]?.victim.comm?.text).toBe(new TextDecoder().decode(name));
  });

  it('fails to start with the loader\'s reason when there is no BTF', async () => {
    source = createBpfSource({ loaderPath: LOADER_PATH, btfPath: '/nonexistent/vmlinux' }, silentLogger);
    await expect(source.start(handlers)).rejects.toThrow(/^bpf: no BTF at \/nonexistent\/vmlinux/);
  });

  it('fails to start with a clear error when the loader binary is missing', async () => {
    source = createBpfSource({ loaderPath: '/nonexistent/oomkill-loader' }, silentLogger);
    await expect(source.start(handlers)).rejects.toThrow(/cannot run the loader \/nonexistent\/oomkill-loader: .*ENOENT/);
  });

  it('names the missing capabilities when not permitted', async () => {
    // setpriv (util-linux) drops every capability, as in a container without CAP_BPF and CAP_PERFMON.
    const wrapper = `${process.env.TMPDIR ?? '/tmp'}/oomkill-unprivileged-loader-${process.pid}.sh`;
    const { writeFileSync, chmodSync, rmSync } = await import('node:fs');
    writeFileSync(wrapper, `#!/bin/sh\nexec setpriv --inh-caps=-all --ambient-caps=-all --bounding-set=-all --reuid=65534 --regid=65534 --clear-groups ${LOADER_PATH} "$@"\n`);
    chmodSync(wrapper, 0o755);
    try {
      source = createBpfSource({ loaderPath: wrapper }, silentLogger);
      await expect(source.start(handlers)).rejects.toThrow(/^bpf: not permitted: .*CAP_BPF and CAP_PERFMON/);
    } finally {
      rmSync(wrapper);
    }
  });
});

describeKernel('bpf source pinned in bpffs', () => {
  it('keeps kills made while no loader runs in the pinned ring buffer, for the next one', async () => {
    const { execFileSync } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const pinDir = `/sys/fs/bpf/oomkill-test-${process.pid}`;
    // bpffs must be mounted for pinning; mount it if this machine has not (as Kubernetes nodes have).
    if (!execFileSync('mount', { encoding: 'utf8' }).includes(' /sys/fs/bpf type bpf')) execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    const cgroup = await createScratchCgroup({ parentName: `oomkill-test-pin-${process.pid}`, limitMiB: 32 });
    const kills: OomKill[] = [];
    const handlers = { onKill: (k: OomKill) => ours(k) && kills.push(k), onLost: () => {}, onProblem: () => {} };
    try {
      const first = createBpfSource({ loaderPath: LOADER_PATH, pinDir }, silentLogger);
      expect((await first.start(handlers)).detail).toMatch(new RegExp(`pinned at ${pinDir}$`));
      await first.stop();
      const whileDown = [];
      for (let i = 0; i < 3; i++) {
        const hog = startHog(cgroup.dir);
        await hog.exited;
        whileDown.push(hog.pid);
      }
      expect(kills).toEqual([]);
      const second = createBpfSource({ loaderPath: LOADER_PATH, pinDir }, silentLogger);
      await second.start(handlers);
      await expect.poll(() => kills.map((k) => k.victim.pid)).toEqual(whileDown);
      await second.stop();
    } finally {
      execFileSync(LOADER_PATH, ['--pin-dir', pinDir, '--unpin'], { stdio: 'ignore' });
      await cgroup.remove();
    }
    expect(existsSync(pinDir)).toBe(false);
  });
});

describeKernel('bpf source where it cannot pin', () => {
  it('runs unpinned, delivers kills, and reports what that loses, why and the fix as a degradation', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const notBpffs = mkdtempSync(`${process.env.TMPDIR ?? '/tmp'}/oomkill-not-bpffs-`);
    const cgroup = await createScratchCgroup({ parentName: `oomkill-test-unpinned-${process.pid}`, limitMiB: 32 });
    const kills: OomKill[] = [];
    const source = createBpfSource({ loaderPath: LOADER_PATH, pinDir: notBpffs }, silentLogger);
    try {
      const info = await source.start({ onKill: (k) => ours(k) && kills.push(k), onLost: () => {}, onProblem: () => {} });
      expect(info.detail).not.toMatch(/pinned/);
      expect(info.degraded).toEqual([{
        reason: 'unpinned',
        lost: expect.stringMatching(new RegExp(`^kills made while no receiver runs .* missed.* The loader cannot pin in ${notBpffs} \\(.*\\): ${notBpffs} is not a directory on a bpf filesystem$`)),
        fix: expect.stringMatching(/^mount bpffs/),
      }]);
      const hog = startHog(cgroup.dir);
      await hog.exited;
      await expect.poll(() => kills.map((k) => k.victim.pid)).toEqual([hog.pid]);
    } finally {
      await source.stop();
      await cgroup.remove();
      rmSync(notBpffs, { recursive: true, force: true });
    }
  });
});

describe('unpinnedDegradation', () => {
  it.each([
    ['unpinned: cannot pin in /p (Permission denied): uid 65532 cannot search /sys/fs/bpf (mode 0700, owner 0:0); fix: mount it elsewhere',
      'The loader cannot pin in /p (Permission denied): uid 65532 cannot search /sys/fs/bpf (mode 0700, owner 0:0)', 'mount it elsewhere'],
    ['unpinned: cannot pin in /p (Bad address): Bad address', 'The loader cannot pin in /p (Bad address): Bad address', expect.stringMatching(/deploy\/README.md/)],
  ])('%s', (line, cause, fix) => {
    const degradation = unpinnedDegradation(line);
    expect(degradation.reason).toBe('unpinned');
    expect(degradation.lost.endsWith(cause)).toBe(true);
    expect(degradation.fix).toEqual(fix);
  });
});

describe('bpf source start, whichever pipe speaks first', () => {
  // The pin state comes on stderr and the hello frame on stdout: two pipes, read in either order. A
  // stand-in loader (the real one cannot be made to order its pipes) writes the hello frame, waits, then
  // says it is unpinned: start() must wait for both.
  it('reports unpinned when the loader\'s line arrives after its hello frame', async () => {
    const hello = frame(FrameType.hello, helloPayload()).toString('base64');
    const script = `process.stdout.write(Buffer.from('${hello}', 'base64')); setTimeout(() => { process.stderr.write('oomkill-loader: unpinned: cannot pin in /p (Permission denied): why; fix: how\\n'); setTimeout(() => {}, 60000); }, 200);`;
    const source = createBpfSource({
      loaderPath: 'stand-in-loader',
      pinDir: '/p',
      spawn: ((_command: string, _args: string[], options: SpawnOptions) => spawn(process.execPath, ['-e', script], options)) as typeof spawn,
    }, silentLogger);
    try {
      const info = await source.start({ onKill: () => {}, onLost: () => {}, onProblem: () => {} });
      expect(info.degraded?.map((d) => [d.reason, d.fix])).toEqual([['unpinned', 'how']]);
    } finally {
      await source.stop();
    }
  });
});

describeKernel('bpf source on cgroup paths at the limits', () => {
  const build = async (levels: string[]): Promise<{ dirs: string[]; leaf: string; path: string }> => {
    const { mkdir, writeFile } = await import('node:fs/promises');
    const root = '/sys/fs/cgroup/memory';
    const dirs: string[] = [];
    let dir = root;
    for (const level of levels) {
      dir = `${dir}/${level}`;
      await mkdir(dir);
      dirs.push(dir);
    }
    await writeFile(`${dir}/memory.limit_in_bytes`, String(32 << 20));
    return { dirs, leaf: dir, path: dir.slice(root.length) };
  };
  const removeAll = async (dirs: string[]): Promise<void> => {
    const { rmdir } = await import('node:fs/promises');
    for (const d of [...dirs].reverse()) await rmdir(d).catch(() => {});
  };
  const killIn = async (leaf: string): Promise<OomKill> => {
    const kills: OomKill[] = [];
    const source = createBpfSource({ loaderPath: LOADER_PATH }, silentLogger);
    await source.start({ onKill: (k) => kills.push(k), onLost: () => {}, onProblem: () => {} });
    try {
      // The path may be truncated at its root side: pick the kill by its pid.
      const hog = startHog(leaf);
      await hog.exited;
      await expect.poll(() => kills.filter((k) => k.victim.pid === hog.pid).length).toBe(1);
      return kills.find((k) => k.victim.pid === hog.pid) as OomKill;
    } finally {
      await source.stop();
    }
  };

  it('flags a path deeper than it walks, and keeps its leaf end', async () => {
    const levels = [`oomkill-test-deep-${process.pid}`, ...Array.from({ length: 29 }, (_, i) => `l${i}`)];
    const { dirs, leaf, path } = await build(levels);
    try {
      const kill = await killIn(leaf);
      expect(kill.cgroup.pathTruncated).toBe(true);
      expect(kill.cgroup.path).toBe(`/${levels.slice(-24).join('/')}`);
      expect(path.endsWith(kill.cgroup.path as string)).toBe(true);
    } finally {
      await removeAll(dirs);
    }
  });

  it('flags a path longer than 1024 bytes, and keeps its last 1024 bytes', async () => {
    const levels = [`oomkill-test-long-${process.pid}`, ...Array.from({ length: 5 }, (_, i) => `${String(i).repeat(8)}-${'x'.repeat(240)}`), `cri-containerd-${'a'.repeat(64)}.scope`];
    const { dirs, leaf, path } = await build(levels);
    try {
      const kill = await killIn(leaf);
      expect(path.length).toBeGreaterThan(1024);
      expect(kill.cgroup.pathTruncated).toBe(true);
      expect(kill.cgroup.path).toBe(path.slice(-1024));
      expect(parseCgroupPath(kill.cgroup.path).containerId).toBe('a'.repeat(64));
    } finally {
      await removeAll(dirs);
    }
  });
});

describeKernel('bpf source when the ring buffer is full', () => {
  const scratch = scratchCgroups('ringbuf');

  it('counts the kills the ring buffer could not take, so none vanishes unreported', async () => {
    const { readFileSync } = await import('node:fs');
    const { nodeOomKills } = await import('../../src/sources/cgroup-counters.ts');
    const kills: OomKill[] = [];
    const lost: LostKills[] = [];
    // 4 KiB holds two kill records; the loader is stopped while ten kills happen.
    const source = createBpfSource({ loaderPath: LOADER_PATH, ringbufKib: 4, statsIntervalMs: 100 }, silentLogger);
    await source.start({ onKill: (k) => kills.push(k), onLost: (l) => lost.push(l), onProblem: () => {} });
    // Other OOM kills on this shared machine fill the same ring buffer: every kill the kernel counts from
    // now on, ours or not, must be delivered or counted as dropped.
    const killsBefore = nodeOomKills() ?? 0;
    const cgroup = await scratch({ limitMiB: 32 });
    const loader = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)
      .find((pid) => readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('oomkill-loader'));
    try {
      process.kill(loader as number, 'SIGSTOP');
      for (let i = 0; i < 10; i++) await startHog(cgroup.dir).exited;
      process.kill(loader as number, 'SIGCONT');
      const dropped = (): number => lost.filter((l) => l.reason === 'ringbuf-full').reduce((n, l) => n + l.count, 0);
      await expect.poll(() => kills.length + dropped() - ((nodeOomKills() ?? 0) - killsBefore), { timeout: 5000 }).toBe(0);
      expect(dropped()).toBeGreaterThan(0);
      expect(kills.filter((k) => k.cgroup.path === cgroup.path).length).toBeGreaterThan(0);
    } finally {
      await source.stop();
    }
  });
});

describeKernel('bpf source: one kill, one identity', () => {
  const scratch = scratchCgroups('identity');

  it('gives the same kill the same event id in two loaders watching this node at once, and a replay from the spool keeps it', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { Spool } = await import('../../src/export/spool.ts');
    const seen: [OomKill[], OomKill[]] = [[], []];
    const sources = seen.map(() => createBpfSource({ loaderPath: LOADER_PATH }, silentLogger));
    const cgroup = await scratch({ limitMiB: 48 });
    const inCgroup = (k: OomKill): boolean => k.cgroup.path === cgroup.path;
    try {
      await Promise.all(sources.map((s, i) => s.start({ onKill: (k) => inCgroup(k) && seen[i]?.push(k), onLost: () => {}, onProblem: () => {} })));
      const hogs = [startHog(cgroup.dir), startHog(cgroup.dir)];
      for (const hog of hogs) await hog.exited;
      await expect.poll(() => seen.map((kills) => kills.length)).toEqual([2, 2]);
      const [first, second] = seen;
      // Two programs, two ring buffers, two clocks read at slightly different moments: the same ids.
      expect(second?.map((k) => k.eventId)).toEqual(first?.map((k) => k.eventId));
      expect(second?.map((k) => k.oomId)).toEqual(first?.map((k) => k.oomId));
      expect(new Set(first?.map((k) => k.eventId)).size).toBe(2);

      const dir = mkdtempSync(join(tmpdir(), 'oomkill-identity-'));
      try {
        const spool = new Spool({ dir, logger: silentLogger });
        for (const kill of first ?? []) spool.add({ kill, identity: { path: kill.cgroup.path ?? '', isKubernetes: false }, enrichment: { resource: {} } });
        spool.close();
        const replayed = new Spool({ dir, logger: silentLogger }).pending().map((e) => e.kill);
        expect(replayed.map((k) => [k.eventId, k.oomId, k.victim.startTimeNs])).toEqual(first?.map((k) => [k.eventId, k.oomId, k.victim.startTimeNs]));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } finally {
      await Promise.all(sources.map((s) => s.stop()));
    }
  });
});
