// The kmsg source on the real /dev/kmsg, beside the bpf source: one real OOM kill, two records that agree.
import { afterEach, expect, it } from 'vitest';
import { HOG_NAME, startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { parseCgroupPath } from '../../src/enrichment/cgroup-path.ts';
import type { OomKill } from '../../src/event.ts';
import { silentLogger } from '../../src/log.ts';
import { createBpfSource } from '../../src/sources/bpf-source.ts';
import { createKmsgSource } from '../../src/sources/kmsg-source.ts';
import type { Source } from '../../src/sources/source.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel, LOADER_PATH } from '../support/kernel.ts';

const collect = (into: OomKill[]) => ({ onKill: (k: OomKill) => into.push(k), onLost: () => {}, onProblem: () => {} });

describeKernel('kmsg source on this kernel', () => {
  const scratch = scratchCgroups('kmsg-source');
  const sources: Source[] = [];
  let cgroup: ScratchCgroup | undefined;
  afterEach(async () => {
    await Promise.all(sources.splice(0).map((s) => s.stop()));
    cgroup = undefined;
  });

  it('sees the same kill as the bpf source: pid, name, cgroup path, pod UID and container ID agree', async () => {
    const fromBpf: OomKill[] = [];
    const fromKmsg: OomKill[] = [];
    const bpf = createBpfSource({ loaderPath: LOADER_PATH }, silentLogger);
    const kmsg = createKmsgSource({}, silentLogger);
    sources.push(bpf, kmsg);
    await bpf.start(collect(fromBpf));
    expect((await kmsg.start(collect(fromKmsg))).detail).toBe('/dev/kmsg from the end of the buffer');
    // The kernel rate-limits the report's header and summary (10 per 5 s): after the burst tests, let it
    // reset, or this kill's record would rightly come without its cgroup path.
    await new Promise((r) => setTimeout(r, 5500));
    cgroup = await scratch({ limitMiB: 48 });
    const hog = startHog(cgroup.dir);
    await hog.exited;
    // Only this test's kill: other OOM kills on the machine may come through both sources too.
    const mine = (kills: OomKill[]): OomKill[] => kills.filter((k) => k.victim.pid === hog.pid);
    await expect.poll(() => mine(fromKmsg).length + mine(fromBpf).length, { timeout: 5000 }).toBe(2);
    const [a, b] = [mine(fromBpf)[0] as OomKill, mine(fromKmsg)[0] as OomKill];
    expect(b.victim.pid).toBe(a.victim.pid);
    expect(b.victim.pid).toBe(hog.pid);
    expect(b.victim.comm?.text).toBe(HOG_NAME);
    expect(b.cgroup.path).toBe(a.cgroup.path);
    expect(parseCgroupPath(b.cgroup.path)).toMatchObject({ podUid: cgroup.podUid, containerId: cgroup.containerId });
    expect(parseCgroupPath(a.cgroup.path)).toMatchObject({ podUid: cgroup.podUid, containerId: cgroup.containerId });
    expect(b.constraint).toBe('memcg');
    // Both clocks point at the same moment, within the kmsg timestamp's precision and clock drift.
    expect(Math.abs(Number(a.timeUnixNano - b.timeUnixNano)) / 1e6).toBeLessThan(50);
  });

  it('reports what the buffer holds only when asked to replay, and not twice across a restart', async () => {
    cgroup = await scratch({ limitMiB: 48 });
    const hog = startHog(cgroup.dir);
    await hog.exited;
    const state = `/tmp/oomkill-kmsg-state-${process.pid}.json`;
    const mine = (kills: OomKill[]) => kills.filter((k) => k.victim.pid === hog.pid);

    const fromEnd: OomKill[] = [];
    const tail = createKmsgSource({}, silentLogger);
    sources.push(tail);
    await tail.start(collect(fromEnd));
    const replayed: OomKill[] = [];
    const first = createKmsgSource({ replay: true, statePath: state }, silentLogger);
    sources.push(first);
    await first.start(collect(replayed));
    expect(mine(fromEnd)).toEqual([]);
    expect(mine(replayed)).toHaveLength(1);
    await first.stop();

    const again: OomKill[] = [];
    const second = createKmsgSource({ replay: true, statePath: state }, silentLogger);
    sources.push(second);
    await second.start(collect(again));
    expect(mine(again)).toEqual([]);
  });

  it('fails to start with a clear reason when the device cannot be read', async () => {
    await expect(createKmsgSource({ path: '/nonexistent/kmsg' }, silentLogger).start(collect([]))).rejects.toThrow(/^kmsg: cannot read \/nonexistent\/kmsg: ENOENT/);
  });
});
