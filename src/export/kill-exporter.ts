// The export stage's interface. An exporter never throws back at its caller: failures are its own to
// log, count and (with the delivery layer) retry.
import type { Attributes, LostKills } from '../event.ts';
import type { EnrichedKill } from './kill-record.ts';

export interface KillExporter {
  /** One log record and one counter increment, on their way within milliseconds. */
  exportKill(kill: EnrichedKill): void;
  /** Kills that happened but were never seen one by one: they count in the missed-kills counter. */
  recordLost(lost: LostKills, attributes?: Attributes): void;
  /** The receiver's own health: events by pipeline stage and outcome. */
  recordReceiverEvent(stage: string, outcome: string, count?: number): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}
