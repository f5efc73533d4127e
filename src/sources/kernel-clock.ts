// Kernel time to wall-clock time, and the boot id that makes event ids unique across reboots.
import { readFileSync } from 'node:fs';

let cachedBootId: string | undefined;

/** The kernel's random id of this boot: part of every event id, so ids never repeat across reboots. */
export function bootId(): string {
  cachedBootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cachedBootId;
}

/** Now, to the microsecond (Date.now() has only milliseconds, coarser than the kernel's kill times). */
export const nowUnixNano = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;

/**
 * Converts a CLOCK_MONOTONIC reading (what /dev/kmsg timestamps approximate) to Unix nanoseconds.
 * Node's hrtime is CLOCK_MONOTONIC too, so the offset is taken now, at conversion time.
 */
export function monotonicNsToUnixNano(monotonicNs: bigint): bigint {
  const nowMonotonic = process.hrtime.bigint();
  return nowUnixNano() - (nowMonotonic - monotonicNs);
}

