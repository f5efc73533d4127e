// Builds loader frames byte for byte as bpf/loader.c writes them, for decoder tests and benchmarks.
import { CGROUP_PATH_MAX, COMM_LEN, EXE_NAME_LEN, FRAME_HEADER_SIZE, FRAME_MAGIC, FrameType, KILL_SIZE, LAYOUT_VERSION, STATS_SIZE, HELLO_SIZE } from '../../src/sources/bpf-frames.ts';

export function frame(type: number, payload: Buffer, overrides: { magic?: number; version?: number; length?: number } = {}): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header.writeUInt32LE(overrides.magic ?? FRAME_MAGIC, 0);
  header.writeUInt16LE(overrides.version ?? LAYOUT_VERSION, 4);
  header.writeUInt16LE(type, 6);
  header.writeUInt32LE(overrides.length ?? payload.length, 8);
  return Buffer.concat([header, payload]);
}

export interface HelloFields { realtimeNs?: bigint; boottimeNs?: bigint; hook?: number; pageSize?: number; secondHook?: number; gaps?: number; release?: string }

export function helloPayload(options: HelloFields = {}): Buffer {
  const p = Buffer.alloc(HELLO_SIZE);
  p.writeBigUInt64LE(options.realtimeNs ?? 1_700_000_000_000_000_000n, 0);
  p.writeBigUInt64LE(options.boottimeNs ?? 1_000_000_000n, 8);
  p.writeUInt32LE(options.hook ?? 3, 16);
  p.writeUInt32LE(options.pageSize ?? 4096, 20);
  p.writeUInt32LE(options.secondHook ?? 0, 24);
  p.writeUInt32LE(options.gaps ?? 0, 28);
  p.write(options.release ?? '6.18.0-test', 32, 'utf8');
  return p;
}

export function statsPayload(killsSeen: bigint, ringbufDrops: bigint, realtimeNs = 1_700_000_001_000_000_000n, boottimeNs = 2_000_000_000n): Buffer {
  const p = Buffer.alloc(STATS_SIZE);
  p.writeBigUInt64LE(realtimeNs, 0);
  p.writeBigUInt64LE(boottimeNs, 8);
  p.writeBigUInt64LE(killsSeen, 16);
  p.writeBigUInt64LE(ringbufDrops, 24);
  return p;
}

export interface KillFields {
  boottimeNs?: bigint;
  oomId?: bigint;
  victimCgroupId?: bigint;
  anonRssPages?: bigint;
  victimMemcgLimitPages?: bigint;
  victimStartTimeNs?: bigint;
  oomVictimStartTimeNs?: bigint;
  oomVictimTgid?: number;
  victimTgid?: number;
  victimTid?: number;
  victimNamespaceTgid?: number;
  triggerTid?: number;
  oomScoreAdj?: number;
  flags?: number;
  constraint?: number;
  hook?: number;
  victimComm?: Buffer;
  triggerComm?: Buffer;
  victimExeName?: Buffer;
  cgroupPath?: Buffer;
  /** Overrides the length field, to test a lying record. */
  cgroupPathLength?: number;
}

export function killPayload(f: KillFields = {}): Buffer {
  const p = Buffer.alloc(KILL_SIZE);
  p.writeBigUInt64LE(f.boottimeNs ?? 1_500_000_000n, 0);
  p.writeBigUInt64LE(f.oomId ?? f.boottimeNs ?? 1_500_000_000n, 8);
  p.writeBigUInt64LE(f.victimCgroupId ?? 42n, 16);
  p.writeBigUInt64LE(f.victimMemcgLimitPages ?? 8192n, 7 * 8);
  p.writeBigUInt64LE(f.anonRssPages ?? 16128n, 10 * 8);
  p.writeBigUInt64LE(f.victimStartTimeNs ?? 1_200_000_000n, 17 * 8);
  p.writeBigUInt64LE(f.oomVictimStartTimeNs ?? f.victimStartTimeNs ?? 1_200_000_000n, 18 * 8);
  const u32 = 19 * 8;
  p.writeUInt32LE(f.victimTgid ?? 2506, u32);
  p.writeUInt32LE(f.victimTid ?? f.victimTgid ?? 2506, u32 + 4);
  p.writeUInt32LE(f.victimNamespaceTgid ?? 1, u32 + 8);
  p.writeUInt32LE(f.triggerTid ?? 2506, u32 + 20);
  p.writeInt32LE(f.oomScoreAdj ?? 0, u32 + 24);
  p.writeUInt32LE(f.oomVictimTgid ?? f.victimTgid ?? 2506, u32 + 28);
  const tail = u32 + 32;
  const path = f.cgroupPath ?? Buffer.from('/kubepods.slice/x.scope');
  p.writeUInt16LE(f.cgroupPathLength ?? path.length, tail);
  p.writeUInt16LE(f.flags ?? 0, tail + 2);
  p.writeUInt8(f.constraint ?? 4, tail + 4);
  p.writeUInt8(f.hook ?? 3, tail + 5);
  const comms = tail + 8;
  (f.victimComm ?? Buffer.from('python3')).copy(p, comms, 0, COMM_LEN);
  (f.triggerComm ?? Buffer.from('python3')).copy(p, comms + COMM_LEN, 0, COMM_LEN);
  (f.victimExeName ?? Buffer.from('python3.11')).copy(p, comms + 2 * COMM_LEN, 0, EXE_NAME_LEN);
  path.copy(p, comms + 2 * COMM_LEN + EXE_NAME_LEN, 0, CGROUP_PATH_MAX);
  return p;
}

export const killFrame = (f: KillFields = {}): Buffer => frame(FrameType.kill, killPayload(f));
export const helloFrame = (o: HelloFields = {}): Buffer => frame(FrameType.hello, helloPayload(o));
export const statsFrame = (seen: bigint, drops: bigint): Buffer => frame(FrameType.stats, statsPayload(seen, drops));
