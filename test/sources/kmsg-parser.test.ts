import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { OomKill } from '../../src/event.ts';
import { OomReportAssembler, parseKmsgRecord, unescapeKmsg } from '../../src/sources/kmsg-parser.ts';

const fixture = (name: string): string[] =>
  readFileSync(new URL(`../testdata/kmsg/${name}`, import.meta.url), 'utf8').split('\n').filter((l) => l !== '');

const killsOf = (name: string): OomKill[] => {
  const assembler = new OomReportAssembler({ bootId: 'boot', toUnixNano: (us) => us * 1000n, now: () => 0n });
  return fixture(name).flatMap((line) => {
    const record = parseKmsgRecord(line);
    const kill = record ? assembler.push(record) : undefined;
    return kill ? [kill] : [];
  });
};

describe('parseKmsgRecord', () => {
  it('reads priority, sequence, timestamp and message, and ignores continuation lines', () => {
    expect(parseKmsgRecord('3,15090,2309849746,-;Memory cgroup out of memory: Killed process 1\n SUBSYSTEM=memory\n')).toEqual({
      facility: 0, level: 3, seq: 15090, timestampUs: 2309849746n, message: 'Memory cgroup out of memory: Killed process 1',
    });
    expect(parseKmsgRecord('12,5,1,-;from user space')?.facility).toBe(1);
  });

  it.each(['', 'no semicolon', 'a,b,c,-;x', '3,1;short'])('refuses %j', (text) => {
    expect(parseKmsgRecord(text)).toBeUndefined();
  });
});

describe('unescapeKmsg', () => {
  it('turns the kernel\'s \\xNN escapes back into bytes', () => {
    expect(unescapeKmsg('a\\x0a\\xff\\x5cb')).toEqual(Buffer.from([0x61, 0x0a, 0xff, 0x5c, 0x62]));
  });
});

/** What the kernel tier knew of each kill it captured (the check that made it): <kernel>-<name>.json. */
interface CapturedTruth { kernel: string; kills: Array<{ pid: number; comm: string; constraint: string; cgroupPath: string }> }
const captured = readdirSync(new URL('../testdata/kmsg/', import.meta.url)).filter((name) => name.endsWith('.json')).sort();

describe('OOM reports captured from Debian kernels by the kernel tier (scripts/kernel-tier)', () => {
  it('has a memcg, a global and a memory.oom.group report for each of 5.10, 6.1 and 6.12', () => {
    for (const kernel of ['5.10', '6.1', '6.12']) {
      expect(captured).toEqual(expect.arrayContaining([`${kernel}-memcg.json`, `${kernel}-global.json`, `${kernel}-oom-group.json`]));
    }
  });

  it.each(captured)('%s: every kill, once, with its pid, name, constraint and the first one\'s cgroup path', (name) => {
    const truth = JSON.parse(readFileSync(new URL(`../testdata/kmsg/${name}`, import.meta.url), 'utf8')) as CapturedTruth;
    const kills = killsOf(name.replace(/\.json$/, '.kmsg'));
    expect(kills.map((k) => [k.victim.pid, k.victim.comm?.text, k.constraint]).sort()).toEqual(truth.kills.map((k) => [k.pid, k.comm, k.constraint]).sort());
    const first = kills.find((k) => k.victim.pid === truth.kills[0]?.pid);
    expect(first?.cgroup.path).toBe(truth.kills[0]?.cgroupPath);
  });
});

describe('OOM reports across kernel versions', () => {
  it('6.18, memcg (captured on this machine): pid, name, memory, paths, constraint, trigger', () => {
    const [kill] = killsOf('6.18-memcg.kmsg');
    expect(kill).toMatchObject({
      source: 'kmsg', constraint: 'memcg', constraintInferred: false,
      victim: { comm: { text: 'oomkill-hog' }, uid: 0, oomScoreAdj: 0 },
      memory: { anonRssBytes: expect.any(Number), pageTablesBytes: expect.any(Number) },
      cgroup: { path: expect.stringMatching(/^\/oomkill-fixture\/kubepods\.slice\/.*\/cri-containerd-[0-9a-f]{64}\.scope$/) },
      trigger: { comm: { text: 'oomkill-hog' } },
    });
    expect(kill?.domain?.path).toBe(kill?.cgroup.path);
    expect(kill?.eventId).toMatch(/^boot:kmsg:\d+$/);
  });

  it('6.18, a hostile process name: quotes, newline, parenthesis, escape, invalid UTF-8, backslash', () => {
    const [kill] = killsOf('6.18-memcg-hostile-name.kmsg');
    const name = Buffer.from([0x22, 0x27, 0x0a, 0x29, 0x20, 0x28, 0x1b, 0x5b, 0x32, 0x4a, 0xff, 0x5c, 0x2c, 0x3d, 0x78]);
    expect(kill?.victim.comm).toEqual({ text: new TextDecoder().decode(name), rawHex: name.toString('hex') });
    expect(kill?.cgroup.path).toMatch(/cri-containerd-[0-9a-f]{64}\.scope$/); // the name's commas did not split the summary
    expect(kill?.trigger?.pid).toBe(kill?.victim.pid);
  });

  it('4.19: the "sacrifice child" form, memcg then global', () => {
    const kills = killsOf('4.19-memcg-and-global.kmsg');
    expect(kills.map((k) => [k.victim.pid, k.victim.comm?.text, k.constraint, k.victim.uid])).toEqual([
      [4242, 'java', 'memcg', 1000],
      [777, 'postgres', 'global', 106],
    ]);
    expect(kills[0]?.cgroup.path).toBe('/kubepods/burstable/pod0f3c2a4b-1d2e-4f5a-8b9c-0a1b2c3d4e5f/3f1c2a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817aabbccdd');
    expect(kills[0]?.memory.anonRssBytes).toBe(524288 * 1024);
    expect(kills[1]?.cgroup.path).toBe('/system.slice/postgresql.service');
  });

  it('5.4: a burst where only the first kill has its rate-limited summary; none is dropped', () => {
    const kills = killsOf('5.4-memcg-burst.kmsg');
    expect(kills.map((k) => k.victim.pid)).toEqual([9001, 9002, 9003]);
    expect(kills[0]?.cgroup.path).toMatch(/cri-containerd-a{64}\.scope$/);
    expect(kills[0]?.domain?.path).toMatch(/pod11111111_2222_4333_8444_555555555555\.slice$/);
    expect(kills[1]).toMatchObject({ constraint: 'memcg', constraintInferred: true, cgroup: { pathTruncated: false } });
    expect(kills[1]?.cgroup.path).toBeUndefined();
  });

  it('5.15: ignores reports forged from user space, and unrelated records', () => {
    const kills = killsOf('5.15-forged-and-unrelated.kmsg');
    expect(kills.map((k) => k.victim.pid)).toEqual([31337]);
    expect(kills[0]?.cgroup.path).toBe('/kubepods/besteffort/pod33333333-4444-4555-8666-777777777777/cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc');
    expect(kills[0]?.trigger).toMatchObject({ pid: 31337, comm: { text: 'node' } });
  });

  it('6.6: a cgroup path with a comma in it', () => {
    const [kill] = killsOf('6.6-v2-nested-comma.kmsg');
    expect(kill?.cgroup.path).toBe('/kubepods.slice/kubepods-pod44444444_5555_4666_8777_888888888888.slice/cri-containerd-dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd.scope/sub,group');
  });

  it('never throws on random lines', () => {
    const assembler = new OomReportAssembler({ bootId: 'b', toUnixNano: (us) => us, now: () => 0n });
    for (let i = 0; i < 2000; i++) {
      const junk = `${i % 7},${i},${i},-;${Buffer.from(Array.from({ length: i % 200 }, (_, j) => (i * 31 + j * 7) % 256)).toString('latin1')}`;
      const record = parseKmsgRecord(junk);
      if (record) expect(() => assembler.push(record)).not.toThrow();
    }
    expect(assembler.push({ facility: 0, level: 3, seq: 1, timestampUs: 1n, message: 'Killed process 5 (x) total-vm:1kB, anon-rss:1kB, file-rss:1kB, shmem-rss:1kB' })?.victim.pid).toBe(5);
  });
});
