// The loader's binary frames, decoded strictly. This file mirrors bpf/oomkill.h field for field:
// change both together and bump LAYOUT_VERSION, or every record is refused as the wrong version.
//
// A corrupt stream never crashes, hangs or allocates without bound: a bad header is reported once and
// the decoder resynchronises on the next magic; a frame of the wrong size for its type is reported and
// skipped whole. Nothing is dropped silently: every skipped byte range becomes a FrameError.
import { CONSTRAINTS, HOOKS, processNameFromBytes } from '../event.ts';
import type { Constraint, Hook, ProcessName } from '../event.ts';

export const FRAME_MAGIC = 0x4b4d4f4f; // "OOMK" as little-endian bytes
export const LAYOUT_VERSION = 2;
export const FRAME_HEADER_SIZE = 16;
export const COMM_LEN = 16;
export const EXE_NAME_LEN = 256;
export const CGROUP_PATH_MAX = 1024;
export const KERNEL_RELEASE_LEN = 72;
export const HELLO_SIZE = 8 + 8 + 4 + 4 + 4 + 4 + KERNEL_RELEASE_LEN;
export const STATS_SIZE = 4 * 8;
const KILL_U64S = 19;
const KILL_U32S = 8;
export const KILL_SIZE = KILL_U64S * 8 + KILL_U32S * 4 + 2 * 2 + 2 + 2 + 2 * COMM_LEN + EXE_NAME_LEN + CGROUP_PATH_MAX;
/** No frame is larger; a header that claims more is corrupt, not a reason to allocate. */
export const MAX_PAYLOAD = 64 * 1024;

export const FrameType = { hello: 1, kill: 2, stats: 3 } as const;
const PAYLOAD_SIZE: Record<number, number> = {
  [FrameType.hello]: HELLO_SIZE,
  [FrameType.kill]: KILL_SIZE,
  [FrameType.stats]: STATS_SIZE,
};

/** enum oomkill_flags */
export const KillFlag = {
  pathTruncated: 1 << 0,
  namespaceInit: 1 << 1,
  constraintInferred: 1 << 2,
  oomIdInferred: 1 << 3,
  cgroupV2: 1 << 4,
  domainKnown: 1 << 5,
  noMm: 1 << 6,
  groupMember: 1 << 7,
} as const;

/** enum oomkill_gaps: what the attached hooks cannot see on this kernel. */
export const Gap = {
  groupMembers: 1 << 0,
  groupRecount: 1 << 1,
  oomControl: 1 << 2,
} as const;

export interface HelloFrame {
  type: 'hello';
  realtimeNs: bigint;
  boottimeNs: bigint;
  /** The program that records chosen victims (mark_victim: every victim). */
  hook: Hook;
  pageSize: number;
  /** Group members (oom_kill_memcg_member) or, beside mark_victim, each OOM's context; 'none' without. */
  secondHook: Hook;
  /** enum oomkill_gaps */
  gaps: number;
  kernelRelease: string;
}

export interface StatsFrame {
  type: 'stats';
  realtimeNs: bigint;
  boottimeNs: bigint;
  /** Victims the kernel program ran for, since it was loaded. */
  killsSeen: bigint;
  /** Of those, the ones the ring buffer could not take. */
  ringbufDrops: bigint;
}

/** struct oomkill_kill, as the kernel wrote it (pages, boot time): src/sources/bpf-source.ts converts it. */
export interface KillFrame {
  type: 'kill';
  boottimeNs: bigint;
  oomId: bigint;
  victimCgroupId: bigint;
  triggerCgroupId: bigint;
  domainCgroupId: bigint;
  domainLimitPages: bigint;
  domainUsagePages: bigint;
  victimMemcgLimitPages: bigint;
  victimMemcgUsagePages: bigint;
  totalVmPages: bigint;
  anonRssPages: bigint;
  fileRssPages: bigint;
  shmemRssPages: bigint;
  swapEntries: bigint;
  pageTablesBytes: bigint;
  totalPages: bigint;
  chosenPoints: bigint;
  /** task->start_time of the victim process (its thread group leader), ns since boot. */
  victimStartTimeNs: bigint;
  /** The OOM's first (chosen) victim: the identity every victim of a group kill shares. */
  oomVictimStartTimeNs: bigint;
  oomVictimTgid: number;
  victimTgid: number;
  victimTid: number;
  victimNamespaceTgid: number;
  victimUid: number;
  triggerTgid: number;
  triggerTid: number;
  oomScoreAdj: number;
  flags: number;
  constraint: Constraint;
  hook: Hook;
  victimComm: ProcessName;
  triggerComm: ProcessName;
  /** Empty without an mm (the victim was exiting). */
  victimExeName: ProcessName;
  /** Decoded as UTF-8 (kernfs names are bytes; invalid sequences become U+FFFD). */
  cgroupPath: string;
}

export type Frame = HelloFrame | StatsFrame | KillFrame;

export class FrameError extends Error {
  /** Bytes of the stream this error accounts for (skipped or left over). */
  readonly skippedBytes: number;
  constructor(message: string, skippedBytes: number) {
    super(message);
    this.name = 'FrameError';
    this.skippedBytes = skippedBytes;
  }
}

const cstring = (bytes: Uint8Array): string => {
  const nul = bytes.indexOf(0);
  return Buffer.from(nul === -1 ? bytes : bytes.subarray(0, nul)).toString('utf8');
};

function enumName<T>(names: readonly T[], value: number, what: string): T {
  const name = names[value];
  if (name === undefined) throw new Error(`unknown ${what} ${value}`);
  return name;
}

function decodeHello(p: Buffer): HelloFrame {
  return {
    type: 'hello',
    realtimeNs: p.readBigUInt64LE(0),
    boottimeNs: p.readBigUInt64LE(8),
    hook: enumName(HOOKS, p.readUInt32LE(16), 'hook'),
    pageSize: p.readUInt32LE(20),
    secondHook: enumName(HOOKS, p.readUInt32LE(24), 'hook'),
    gaps: p.readUInt32LE(28),
    kernelRelease: cstring(p.subarray(32, 32 + KERNEL_RELEASE_LEN)),
  };
}

function decodeStats(p: Buffer): StatsFrame {
  return {
    type: 'stats',
    realtimeNs: p.readBigUInt64LE(0),
    boottimeNs: p.readBigUInt64LE(8),
    killsSeen: p.readBigUInt64LE(16),
    ringbufDrops: p.readBigUInt64LE(24),
  };
}

function decodeKill(p: Buffer): KillFrame {
  const u64 = (index: number): bigint => p.readBigUInt64LE(index * 8);
  const u32 = (index: number): number => p.readUInt32LE(KILL_U64S * 8 + index * 4);
  const tail = KILL_U64S * 8 + KILL_U32S * 4; // cgroup_path_len
  const pathLength = p.readUInt16LE(tail);
  if (pathLength > CGROUP_PATH_MAX) throw new Error(`cgroup path length ${pathLength} exceeds ${CGROUP_PATH_MAX}`);
  const comms = tail + 2 + 2 + 2 + 2;
  const exeName = comms + 2 * COMM_LEN;
  const pathStart = exeName + EXE_NAME_LEN;
  return {
    type: 'kill',
    boottimeNs: u64(0),
    oomId: u64(1),
    victimCgroupId: u64(2),
    triggerCgroupId: u64(3),
    domainCgroupId: u64(4),
    domainLimitPages: u64(5),
    domainUsagePages: u64(6),
    victimMemcgLimitPages: u64(7),
    victimMemcgUsagePages: u64(8),
    totalVmPages: u64(9),
    anonRssPages: u64(10),
    fileRssPages: u64(11),
    shmemRssPages: u64(12),
    swapEntries: u64(13),
    pageTablesBytes: u64(14),
    totalPages: u64(15),
    chosenPoints: p.readBigInt64LE(16 * 8),
    victimStartTimeNs: u64(17),
    oomVictimStartTimeNs: u64(18),
    victimTgid: u32(0),
    victimTid: u32(1),
    victimNamespaceTgid: u32(2),
    victimUid: u32(3),
    triggerTgid: u32(4),
    triggerTid: u32(5),
    oomScoreAdj: p.readInt32LE(KILL_U64S * 8 + 6 * 4),
    oomVictimTgid: u32(7),
    flags: p.readUInt16LE(tail + 2),
    constraint: enumName(CONSTRAINTS, p.readUInt8(tail + 4), 'constraint'),
    hook: enumName(HOOKS, p.readUInt8(tail + 5), 'hook'),
    victimComm: processNameFromBytes(p.subarray(comms, comms + COMM_LEN)),
    triggerComm: processNameFromBytes(p.subarray(comms + COMM_LEN, exeName)),
    victimExeName: processNameFromBytes(p.subarray(exeName, pathStart)),
    cgroupPath: p.subarray(pathStart, pathStart + pathLength).toString('utf8'),
  };
}

const DECODERS: Record<number, (payload: Buffer) => Frame> = {
  [FrameType.hello]: decodeHello,
  [FrameType.kill]: decodeKill,
  [FrameType.stats]: decodeStats,
};

/**
 * Splits a byte stream into frames. Feed it chunks as they arrive; each call returns the frames and
 * errors completed so far, in stream order. It holds at most one frame's bytes between calls.
 */
export class FrameDecoder {
  #pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Array<Frame | FrameError> {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const out: Array<Frame | FrameError> = [];
    let at = 0;
    const buf = this.#pending;
    while (buf.length - at >= FRAME_HEADER_SIZE) {
      const magic = buf.readUInt32LE(at);
      if (magic !== FRAME_MAGIC) {
        const next = nextMagic(buf, at + 1);
        const skipped = (next === -1 ? buf.length - 3 : next) - at;
        out.push(new FrameError(`bad magic 0x${magic.toString(16).padStart(8, '0')}: skipped ${skipped} bytes to resynchronise`, skipped));
        at += skipped;
        continue;
      }
      const version = buf.readUInt16LE(at + 4);
      const type = buf.readUInt16LE(at + 6);
      const length = buf.readUInt32LE(at + 8);
      if (length > MAX_PAYLOAD) {
        // A length this large is not a frame: treat the magic as a chance match and resynchronise.
        out.push(new FrameError(`frame claims ${length} payload bytes (max ${MAX_PAYLOAD}): skipped its header`, FRAME_HEADER_SIZE));
        at += FRAME_HEADER_SIZE;
        continue;
      }
      if (buf.length - at < FRAME_HEADER_SIZE + length) break; // wait for the rest
      const payload = buf.subarray(at + FRAME_HEADER_SIZE, at + FRAME_HEADER_SIZE + length);
      const frameSize = FRAME_HEADER_SIZE + length;
      at += frameSize;
      if (version !== LAYOUT_VERSION) {
        out.push(new FrameError(`frame layout version ${version}, this receiver reads ${LAYOUT_VERSION}: loader and receiver are from different releases`, frameSize));
        continue;
      }
      const decode = DECODERS[type];
      const expected = PAYLOAD_SIZE[type];
      if (decode === undefined || expected === undefined) {
        out.push(new FrameError(`unknown frame type ${type} (${length} bytes) skipped`, frameSize));
        continue;
      }
      if (length !== expected) {
        out.push(new FrameError(`frame type ${type} has ${length} payload bytes, expected ${expected}`, frameSize));
        continue;
      }
      try {
        // Copy: the frame must not pin the stream's chunk, nor see it change.
        out.push(decode(Buffer.from(payload)));
      } catch (error) {
        out.push(new FrameError(`frame type ${type}: ${(error as Error).message}`, frameSize));
      }
    }
    this.#pending = at === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(at));
    return out;
  }

  /** The stream ended: bytes of an unfinished frame are reported, not silently dropped. */
  end(): FrameError[] {
    const left = this.#pending.length;
    this.#pending = Buffer.alloc(0);
    return left === 0 ? [] : [new FrameError(`stream ended inside a frame: ${left} bytes of a truncated frame`, left)];
  }
}

const MAGIC_BYTES = Buffer.from([0x4f, 0x4f, 0x4d, 0x4b]);

function nextMagic(buf: Buffer, from: number): number {
  return buf.indexOf(MAGIC_BYTES, from);
}
