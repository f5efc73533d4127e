// Pure translation of an enriched kill into its span: ids, name, times and status. No I/O here.
//
// The ids are derived, never random, so that every observer of a kill (two receivers during a rolling
// update, a replay from the spool) gives it the same span, and all kills of one OOM share a trace:
// traceId = the OOM's id (the event id of its first victim, 32 hex digits: the contract with the bpf
// source), spanId = the first 8 bytes of SHA-256 over a label and the kill's event id. Sources whose ids
// are not of that form (kmsg, cgroup) get a trace id hashed the same way from their OOM or event id.
import { createHash } from 'node:crypto';
import { Sem } from '../attributes.ts';
import type { EnrichedKill } from './kill-record.ts';

const HEX_TRACE_ID = /^(?!0{32})[0-9a-f]{32}$/;

const digest = (label: string, id: string): string => createHash('sha256').update(`${label}\0${id}`).digest('hex');

/** The trace of the kill's OOM: shared by every victim of one OOM invocation (a group kill). */
export function killTraceId({ kill }: EnrichedKill): string {
  const oom = kill.oomId ?? kill.eventId;
  return HEX_TRACE_ID.test(oom) ? oom : digest('oomkill/trace/v1', oom).slice(0, 32);
}

/** The kill's own span. */
export function killSpanId({ kill }: EnrichedKill): string {
  return digest('oomkill/span/v1', kill.eventId).slice(0, 16);
}

/** Named for what was killed, with few distinct names (a container or a program, never a pid). */
export function killSpanName({ kill, enrichment }: EnrichedKill): string {
  const container = enrichment.resource[Sem.k8sContainerName];
  const what = typeof container === 'string' ? container : (kill.victim.executableName ?? kill.victim.comm)?.text;
  return what !== undefined && what !== '' ? `OOM kill ${what}` : 'OOM kill';
}

/** The span runs from the kernel's OOM invocation, where the source saw it, to the kill. */
export function killSpanStartUnixNano({ kill }: EnrichedKill): bigint {
  const start = kill.oomStartUnixNano;
  return start !== undefined && start <= kill.timeUnixNano ? start : kill.timeUnixNano;
}

/** The error class the span ended with (semantic conventions: error.type, low cardinality). */
export const KILL_ERROR_TYPE = 'oom_kill';
