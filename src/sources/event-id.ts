// The identity of an OOM kill, the same from every observer and every replay (contract 2 in the team
// brief): what identifies the victim process on this node, hashed. A second receiver watching the same
// node (a rolling update with a surge), or a record replayed from the spool, gives the same kill the
// same id, so a backend can de-duplicate at-least-once delivery on it.
import { createHash } from 'node:crypto';

/**
 * The first 16 bytes of SHA-256 over `oomkill/v1`, the boot ID, the victim's tgid and its task's start
 * time (ns since boot), as 32 lowercase hex characters. Each part is followed by a NUL, so no two
 * different inputs hash the same bytes.
 */
export function killEventId(bootId: string, tgid: number, startTimeNs: bigint): string {
  return createHash('sha256')
    .update(`oomkill/v1\0${bootId}\0${tgid}\0${startTimeNs}\0`)
    .digest('hex')
    .slice(0, 32);
}
