// The identity of a kill (contract 2) and what the bpf source makes of the loader's frames: one record
// per victim with the same id from every observer, one OOM id per group kill, the kernel's second kill of
// a group kill's chosen victim passed to reconciliation only, and the hooks' gaps as degradations.
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { OomKill } from '../../src/event.ts';
import { silentLogger as quiet } from '../../src/log.ts';
import { createBpfSource, hookDegradations } from '../../src/sources/bpf-source.ts';
import { Gap, KillFlag } from '../../src/sources/bpf-frames.ts';
import type { HelloFrame } from '../../src/sources/bpf-frames.ts';
import { killEventId } from '../../src/sources/event-id.ts';
import { bootId } from '../../src/sources/kernel-clock.ts';
import type { SourceHandlers, SourceInfo } from '../../src/sources/source.ts';
import { helloFrame, killFrame } from '../support/frames.ts';
import type { HelloFields } from '../support/frames.ts';



// enum oomkill_hook
const FENTRY_PROCESS = 1;
const TP_BTF = 3;
const FENTRY_MEMBER = 5;

/** A loader that writes the given frames, through the source's spawn seam. */
function fakeLoader(...chunks: Buffer[]) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const child = Object.assign(new EventEmitter(), { stdout, stderr, exitCode: null, signalCode: null, kill: () => true });
  const spawn = (() => {
    setImmediate(() => {
      for (const chunk of chunks) stdout.write(chunk);
    });
    return child as unknown as ChildProcess;
  }) as never;
  return spawn;
}

async function run(hello: HelloFields, kills: Buffer[], groupKills = true) {
  const seen: OomKill[] = [];
  const recounted: OomKill[] = [];
  const handlers: SourceHandlers = {
    onKill: (k) => seen.push(k),
    onLost: () => {},
    onProblem: (e) => {
      throw e;
    },
    onRecounted: (k) => recounted.push(k),
  };
  const source = createBpfSource({ loaderPath: '/nonexistent', groupKills, spawn: fakeLoader(helloFrame(hello), ...kills) }, quiet);
  const info: SourceInfo = await source.start(handlers);
  await new Promise((resolve) => setTimeout(resolve, 20));
  return { info, seen, recounted };
}

describe('killEventId', () => {
  it('is 32 lowercase hex characters, the same for the same boot, tgid and start time', () => {
    const id = killEventId('4f0c5d1e-7d7b-4b43-8a4e-3f2f4a0c9b11', 2506, 1_234_567_890n);
    expect(id).toMatch(/^[0-9a-f]{32}$/);
    expect(killEventId('4f0c5d1e-7d7b-4b43-8a4e-3f2f4a0c9b11', 2506, 1_234_567_890n)).toBe(id);
  });

  it.each([
    ['another boot', 'a1b2', 2506, 1_234_567_890n],
    ['another tgid', '4f0c', 2507, 1_234_567_890n],
    ['another start time (a reused pid)', '4f0c', 2506, 1_234_567_891n],
    ['the same digits split differently', '4f0c2', 506, 1_234_567_890n],
  ])('differs for %s', (_, boot, tgid, start) => {
    expect(killEventId(boot, tgid, start)).not.toBe(killEventId('4f0c', 2506, 1_234_567_890n));
  });

  it('matches SHA-256 over the documented input', async () => {
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256').update('oomkill/v1\0boot\x001\x002\0').digest('hex').slice(0, 32);
    expect(killEventId('boot', 1, 2n)).toBe(expected);
  });
});

describe('bpf source: identity of kills', () => {
  it('gives a kill the id of its victim process, and its executable name and start time', async () => {
    const { seen } = await run({ hook: FENTRY_PROCESS, secondHook: FENTRY_MEMBER }, [
      killFrame({ victimTgid: 700, victimTid: 701, victimStartTimeNs: 55_000n, victimExeName: Buffer.from('stress-ng'), hook: FENTRY_PROCESS }),
    ]);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.eventId).toBe(killEventId(bootId(), 700, 55_000n));
    expect(seen[0]?.oomId).toBe(seen[0]?.eventId);
    expect(seen[0]?.victim).toMatchObject({ pid: 700, tid: 701, startTimeNs: 55_000n, executableName: { text: 'stress-ng' } });
  });

  it('leaves the executable name out when the kernel had none (no mm)', async () => {
    const { seen } = await run({}, [killFrame({ victimExeName: Buffer.alloc(0), flags: KillFlag.noMm })]);
    expect(seen[0]?.victim.executableName).toBeUndefined();
  });

  it('reports a group kill as one record per member, all with the chosen victim\'s id as OOM id, and its second kill to reconciliation only', async () => {
    const chosen = { victimTgid: 100, victimStartTimeNs: 1_000n, oomVictimTgid: 100, oomVictimStartTimeNs: 1_000n };
    const { seen, recounted } = await run({ hook: FENTRY_PROCESS, secondHook: FENTRY_MEMBER }, [
      killFrame({ ...chosen, hook: FENTRY_PROCESS }),
      // The kernel's scan of the group: the chosen victim again, then the others.
      killFrame({ ...chosen, hook: FENTRY_MEMBER, flags: KillFlag.groupMember }),
      killFrame({ ...chosen, victimTgid: 101, victimStartTimeNs: 1_100n, hook: FENTRY_MEMBER, flags: KillFlag.groupMember }),
      killFrame({ ...chosen, victimTgid: 102, victimStartTimeNs: 1_200n, hook: FENTRY_MEMBER, flags: KillFlag.groupMember }),
    ]);
    const oomId = killEventId(bootId(), 100, 1_000n);
    expect(seen.map((k) => [k.victim.pid, k.oomId, k.victim.groupMember ?? false])).toEqual([
      [100, oomId, false],
      [101, oomId, true],
      [102, oomId, true],
    ]);
    expect(new Set(seen.map((k) => k.eventId)).size).toBe(3);
    expect(recounted.map((k) => [k.victim.pid, k.eventId])).toEqual([[100, oomId]]);
  });

  it('does not take a pid reused by another process for a second kill of the same one', async () => {
    const { seen, recounted } = await run({}, [killFrame({ victimTgid: 300, victimStartTimeNs: 1n }), killFrame({ victimTgid: 300, victimStartTimeNs: 2n })]);
    expect(seen).toHaveLength(2);
    expect(recounted).toEqual([]);
  });
});

describe('bpf source: hooks and what they miss', () => {
  const hello = (fields: Partial<HelloFrame>): HelloFrame => ({
    type: 'hello', realtimeNs: 0n, boottimeNs: 0n, hook: 'fentry/oom_kill_process', pageSize: 4096, secondHook: 'none', gaps: 0, kernelRelease: '6.1', ...fields,
  });

  it('names the attached hooks joined with +, and gives nothing up with the oom_kill_memcg_member pair', async () => {
    const { info } = await run({ hook: FENTRY_PROCESS, secondHook: FENTRY_MEMBER }, []);
    expect(info.hook).toBe('fentry/oom_kill_process+fentry/oom_kill_memcg_member');
    expect(info.degraded ?? []).toEqual([]);
  });

  it('reports oom_kill_process alone as victim-only where group kills can happen', async () => {
    const { info } = await run({ hook: FENTRY_PROCESS, gaps: Gap.groupMembers | Gap.groupRecount }, []);
    expect(info.hook).toBe('fentry/oom_kill_process');
    expect(info.degraded?.map((d) => d.reason)).toEqual(['victim-only-hook']);
    expect(info.degraded?.[0]?.lost).toMatch(/other members of a memory\.oom\.group kill are not recorded/);
    expect(info.degraded?.[0]?.fix).toMatch(/oom_kill_memcg_member/);
  });

  it('reports mark_victim as missing the second kill of a group kill\'s chosen victim', () => {
    const degraded = hookDegradations(hello({ hook: 'tp_btf/mark_victim', secondHook: 'fentry/oom_kill_process', gaps: Gap.groupRecount }), true);
    expect(degraded.map((d) => d.reason)).toEqual(['group-recount-unseen']);
    expect(degraded[0]?.lost).toMatch(/tp_btf\/mark_victim\+fentry\/oom_kill_process does not see the second time/);
  });

  it('gives nothing up for group kills where there are none (the memory controller on cgroup v1)', async () => {
    const { info } = await run({ hook: TP_BTF, gaps: Gap.groupRecount | Gap.oomControl }, [], false);
    expect(info.hook).toBe('tp_btf/mark_victim');
    expect(info.degraded ?? []).toEqual([]);
  });
});
