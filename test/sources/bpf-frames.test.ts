import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FrameDecoder, FrameError, FrameType, KILL_SIZE, MAX_PAYLOAD } from '../../src/sources/bpf-frames.ts';
import type { Frame, KillFrame } from '../../src/sources/bpf-frames.ts';
import { frame, helloFrame, killFrame, killPayload, statsFrame } from '../support/frames.ts';

const decodeAll = (...chunks: Buffer[]): Array<Frame | FrameError> => {
  const decoder = new FrameDecoder();
  return [...chunks.flatMap((chunk) => decoder.push(chunk)), ...decoder.end()];
};
const kills = (items: Array<Frame | FrameError>): KillFrame[] => items.filter((i): i is KillFrame => !(i instanceof FrameError) && i.type === 'kill');
const errors = (items: Array<Frame | FrameError>): FrameError[] => items.filter((i): i is FrameError => i instanceof FrameError);

describe('FrameDecoder', () => {
  it('decodes hello, kill and stats frames field by field', () => {
    const out = decodeAll(
      Buffer.concat([
        helloFrame({ hook: 4, secondHook: 2, gaps: 0b10, release: '6.18.44' }),
        killFrame({
          victimTgid: 2506, victimTid: 2507, victimNamespaceTgid: 1, oomScoreAdj: -997, flags: 0b10, constraint: 4, cgroupPath: Buffer.from('/kubepods/pod1/abc'),
          victimStartTimeNs: 987_654_321n, oomVictimStartTimeNs: 123_456_789n, oomVictimTgid: 2400, victimExeName: Buffer.from('java'), hook: 5,
        }),
        statsFrame(7n, 2n),
      ]),
    );
    expect(errors(out)).toEqual([]);
    expect(out[0]).toMatchObject({ type: 'hello', hook: 'raw_tp/mark_victim', secondHook: 'kprobe/oom_kill_process', gaps: 2, kernelRelease: '6.18.44', pageSize: 4096 });
    expect(out[1]).toMatchObject({
      type: 'kill', victimTgid: 2506, victimTid: 2507, victimNamespaceTgid: 1, oomScoreAdj: -997, flags: 2,
      constraint: 'memcg', hook: 'fentry/oom_kill_memcg_member', victimComm: { text: 'python3' }, cgroupPath: '/kubepods/pod1/abc',
      victimStartTimeNs: 987_654_321n, oomVictimStartTimeNs: 123_456_789n, oomVictimTgid: 2400, victimExeName: { text: 'java' },
    });
    expect(out[2]).toMatchObject({ type: 'stats', killsSeen: 7n, ringbufDrops: 2n });
  });

  it('reassembles frames split at every byte boundary', () => {
    const stream = Buffer.concat([helloFrame(), killFrame(), killFrame({ victimTgid: 9 })]);
    const decoder = new FrameDecoder();
    const out = [...stream].flatMap((byte) => decoder.push(Buffer.from([byte])));
    expect(errors(out)).toEqual([]);
    expect(kills(out).map((k) => k.victimTgid)).toEqual([2506, 9]);
  });

  it('keeps hostile process names intact: quotes, newline and invalid UTF-8', () => {
    const comm = Buffer.from([0x22, 0x27, 0x0a, 0x1b, 0x5b, 0x33, 0x31, 0x6d, 0xff, 0xfe, 0x78]); // "'\n ESC[31m \xff\xfe x
    const [kill] = kills(decodeAll(killFrame({ victimComm: comm })));
    expect(kill?.victimComm.text).toBe('"\'\n\u001b[31m\ufffd\ufffdx');
    expect(kill?.victimComm.rawHex).toBe(comm.toString('hex'));
  });

  it('reports a wrong magic and resynchronises on the next frame', () => {
    const out = decodeAll(Buffer.concat([Buffer.from('garbage!garbage!garbage!'), killFrame({ victimTgid: 77 })]));
    expect(errors(out)).toHaveLength(1);
    expect(errors(out)[0]?.message).toMatch(/bad magic/);
    expect(kills(out).map((k) => k.victimTgid)).toEqual([77]);
  });

  it('refuses a frame of another layout version and keeps decoding after it', () => {
    const out = decodeAll(Buffer.concat([frame(FrameType.kill, killPayload(), { version: 1 }), killFrame({ victimTgid: 5 })]));
    expect(errors(out).map((e) => e.message)).toEqual([expect.stringMatching(/layout version 1, this receiver reads 2/)]);
    expect(kills(out).map((k) => k.victimTgid)).toEqual([5]);
  });

  it('refuses a frame whose length does not match its type', () => {
    const short = frame(FrameType.kill, killPayload().subarray(0, KILL_SIZE - 8));
    const out = decodeAll(Buffer.concat([short, killFrame({ victimTgid: 6 })]));
    expect(errors(out).map((e) => e.message)).toEqual([`frame type 2 has ${KILL_SIZE - 8} payload bytes, expected ${KILL_SIZE}`]);
    expect(kills(out).map((k) => k.victimTgid)).toEqual([6]);
  });

  it('does not wait for or allocate a payload larger than the maximum', () => {
    const lying = frame(FrameType.kill, Buffer.alloc(0), { length: 0xffff_fff0 });
    const out = decodeAll(Buffer.concat([lying, killFrame({ victimTgid: 8 })]));
    expect(errors(out)[0]?.message).toMatch(new RegExp(`max ${MAX_PAYLOAD}`));
    expect(kills(out).map((k) => k.victimTgid)).toEqual([8]);
  });

  it('reports a cgroup path length beyond the buffer as an error for that record only', () => {
    const out = decodeAll(Buffer.concat([killFrame({ cgroupPathLength: 5000 }), killFrame({ victimTgid: 10 })]));
    expect(errors(out).map((e) => e.message)).toEqual(['frame type 2: cgroup path length 5000 exceeds 1024']);
    expect(kills(out).map((k) => k.victimTgid)).toEqual([10]);
  });

  it('keeps an executable name of NAME_MAX bytes whole, and invalid UTF-8 in it as hex', () => {
    const long = Buffer.alloc(255, 0x61);
    const invalid = Buffer.from([0x6a, 0xff, 0x76, 0x61]);
    const [first, second] = kills(decodeAll(killFrame({ victimExeName: long }), killFrame({ victimExeName: invalid })));
    expect(first?.victimExeName.text).toBe('a'.repeat(255));
    expect(second?.victimExeName).toEqual({ text: 'j\ufffdva', rawHex: '6aff7661' });
  });

  it('reports an unknown hook value in a hello frame instead of guessing', () => {
    const out = decodeAll(helloFrame({ secondHook: 7 }));
    expect(errors(out).map((e) => e.message)).toEqual(['frame type 1: unknown hook 7']);
  });

  it('reports an unknown constraint value instead of guessing', () => {
    const out = decodeAll(killFrame({ constraint: 99 }));
    expect(errors(out).map((e) => e.message)).toEqual(['frame type 2: unknown constraint 99']);
  });

  it('reports a stream that ends inside a frame', () => {
    const whole = killFrame();
    const out = decodeAll(whole.subarray(0, 100));
    expect(errors(out).map((e) => e.message)).toEqual(['stream ended inside a frame: 100 bytes of a truncated frame']);
  });

  it('survives random bytes without throwing, hanging or holding more than one frame', () => {
    const decoder = new FrameDecoder();
    let accounted = 0;
    for (let round = 0; round < 300; round++) {
      const chunk = randomBytes(1 + (round * 7919) % 4096);
      for (const item of decoder.push(chunk)) if (item instanceof FrameError) accounted += item.skippedBytes;
    }
    for (const item of decoder.end()) accounted += item.skippedBytes;
    expect(accounted).toBeGreaterThan(0);
  });

  it('finds every intact frame in a stream with random corruption between frames', () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      parts.push(killFrame({ victimTgid: i + 1 }));
      if (i % 3 === 0) parts.push(randomBytes(1 + (i % 50)));
    }
    const out = decodeAll(Buffer.concat(parts));
    // Random bytes may form a plausible header that swallows what follows, so allow a few losses, all reported.
    const seen = kills(out).map((k) => k.victimTgid);
    expect(seen.length).toBeGreaterThan(190);
    expect(new Set(seen).size).toBe(seen.length);
    expect(errors(out).length).toBeGreaterThan(0);
  });
});
