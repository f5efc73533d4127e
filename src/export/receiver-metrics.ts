// Every metric the receiver exports, defined once: the kill and missed-kill counters with their last-kill
// timestamp gauges, the heartbeat, and the receiver's own counters. Names and attributes are contract 1 of
// the team brief (src/attributes.ts); deploy/ alerts and the dashboard query them.
//
// Every data point carries k8s.node.name: a Prometheus that scrapes the receiver directly sees resource
// attributes only on target_info, so a label that the rules group by must be on the point itself.
import type { Attributes as OtelAttributes, Counter, Gauge, Meter, ObservableGauge } from '@opentelemetry/api';
import { AggregationTemporality, InstrumentType } from '@opentelemetry/sdk-metrics';
import { Attr, Metric, Sem } from '../attributes.ts';
import type { Attributes } from '../event.ts';
import type { Logger } from '../log.ts';
import { killCounterAttributes } from './kill-record.ts';
import type { EnrichedKill } from './kill-record.ts';
import { attributesKey } from './victim-providers.ts';

/** What the heartbeat says about the running source; main.ts derives it from the source's own account. */
export interface ReceiverState {
  source: string;
  /** The attached hooks joined with '+'; '' when the source is not bpf. */
  hook: string;
  /** Short tokens (`fallback-source`, `unpinned`, ...); empty when the source gives all the kernel can. */
  degradedReasons: readonly string[];
}

/** The SDK's own marker for points past the cardinality limit; reused so both overflows look the same. */
export const OVERFLOW_ATTRIBUTES: Readonly<Attributes> = Object.freeze({ 'otel.metric.overflow': true });

/** Series kept per metric by default: the SDK's own default, made explicit (see --metric-cardinality-limit). */
export const DEFAULT_CARDINALITY_LIMIT = 2000;

/**
 * The heartbeat is an observable gauge whose attributes change when the source does (a restart on another
 * hook, a fallback). Cumulative temporality would keep reporting the old attribute set forever next to the
 * new one; delta reports only what the callback observed, so exactly one `oomkill.receiver.up` series
 * exists per receiver. Everything else stays cumulative, as Prometheus needs.
 */
export function selectTemporality(type: InstrumentType, otherwise: AggregationTemporality = AggregationTemporality.CUMULATIVE): AggregationTemporality {
  return type === InstrumentType.OBSERVABLE_GAUGE ? AggregationTemporality.DELTA : otherwise;
}

export class ReceiverMetrics {
  readonly #node: Attributes;
  readonly #kills: Counter;
  readonly #missed: Counter;
  readonly #killLast: Gauge;
  readonly #missedLast: Gauge;
  readonly #events: Counter;
  readonly #restarts: Counter;
  readonly #up: ObservableGauge;
  /** Newest kill time per series, in seconds; also the series count the limit is held to. */
  readonly #killSeries = new Map<string, number>();
  readonly #missedSeries = new Map<string, number>();
  readonly #limit: number;
  readonly #logger: Logger;
  readonly #warnedFull = new Set<string>();
  #state: ReceiverState | undefined;

  constructor(meter: Meter, options: { nodeName: string; cardinalityLimit?: number; logger: Logger }) {
    this.#node = { [Sem.k8sNodeName]: options.nodeName };
    this.#limit = options.cardinalityLimit ?? DEFAULT_CARDINALITY_LIMIT;
    this.#logger = options.logger;
    this.#kills = meter.createCounter(Metric.kills, { description: 'Processes killed by the kernel OOM killer, by where they died', unit: '{kill}' });
    this.#missed = meter.createCounter(Metric.missedKills, {
      description: 'OOM kills the kernel counted that were never seen one by one (ring buffer full, receiver down)',
      unit: '{kill}',
    });
    this.#killLast = meter.createGauge(Metric.killLastTimestamp, {
      description: 'Unix time of the newest OOM kill counted in the oomkill.kills series with the same attributes (the kernel\'s time of the kill)',
      unit: 's',
    });
    this.#missedLast = meter.createGauge(Metric.missedKillLastTimestamp, {
      description: 'Unix time at which the oomkill.missed_kills series with the same attributes last grew (when the miss was found)',
      unit: 's',
    });
    this.#events = meter.createCounter(Metric.receiverEvents, { description: 'The receiver\'s own events by stage and outcome', unit: '{event}' });
    this.#restarts = meter.createCounter(Metric.sourceRestarts, { description: 'Restarts of a supervised source (the BPF loader died)', unit: '{restart}' });
    // No unit: the Prometheus name stays oomkill_receiver_up (a unit of 1 would append _ratio).
    this.#up = meter.createObservableGauge(Metric.receiverUp, { description: '1 while the receiver runs, with the source and hook it runs and whether it is degraded' });
    this.#up.addCallback((result) => {
      const state = this.#state;
      if (!state) return; // not before a source runs: absent means "no working receiver here"
      result.observe(1, {
        ...this.#node,
        [Attr.source]: state.source,
        [Attr.hook]: state.hook,
        [Attr.degraded]: state.degradedReasons.length > 0,
        [Attr.degradedReason]: state.degradedReasons.join(','),
      });
    });
  }

  /** One kill: its counter series grows by one and its last-kill gauge moves to the kill's time. */
  recordKill(enriched: EnrichedKill): void {
    const attributes = this.#bounded(Metric.kills, this.#killSeries, killCounterAttributes(enriched));
    this.#kills.add(1, attributes);
    const at = Number(enriched.kill.timeUnixNano) / 1e9;
    this.#recordLatest(this.#killLast, this.#killSeries, attributes, at);
  }

  /**
   * Kills that happened but were never seen one by one, where they happened (`location`: namespace,
   * container, workload; empty when unknown). Their kernel time is unknown: the gauge takes the time the
   * miss was found.
   */
  recordMissed(count: number, reason: string, location: Attributes = {}): void {
    const attributes = this.#bounded(Metric.missedKills, this.#missedSeries, { ...location, [Attr.missedReason]: reason });
    this.#missed.add(count, attributes);
    this.#recordLatest(this.#missedLast, this.#missedSeries, attributes, Date.now() / 1000);
  }

  recordReceiverEvent(stage: string, outcome: string, count = 1): void {
    this.#events.add(count, { ...this.#node, [Attr.stage]: stage, [Attr.outcome]: outcome });
  }

  recordSourceRestart(source: string): void {
    this.#restarts.add(1, { ...this.#node, [Attr.source]: source });
  }

  /** What the heartbeat reports from the next collection on. */
  setState(state: ReceiverState): void {
    this.#state = { ...state, degradedReasons: [...state.degradedReasons] };
  }

  /**
   * The series' attributes with the node's, or the overflow marker once `limit - 1` series exist (one is
   * kept for the overflow, as the SDK does). The SDK applies its limit per collection interval only, and a
   * cumulative series it has seen is kept for the process's lifetime: this holds the limit for the lifetime.
   * With attributes bounded by design the limit is a backstop; reaching it is logged once, at warn.
   */
  #bounded(metric: string, series: Map<string, number>, attributes: Attributes): Attributes {
    const full = { ...attributes, ...this.#node };
    const key = attributesKey(full);
    if (series.has(key) || series.size < this.#limit - 1) return full;
    if (!this.#warnedFull.has(metric)) {
      this.#warnedFull.add(metric);
      this.#logger.warn(`${metric} reached its limit of ${this.#limit} series: new series are counted in the one with otel.metric.overflow=true, which alerts do not group by`, {
        metric,
        limit: this.#limit,
        fix: 'raise --metric-cardinality-limit (OOMKILL_METRIC_CARDINALITY_LIMIT), or restart the receiver to start the series afresh',
      });
    }
    this.recordReceiverEvent('export', 'series-overflow');
    return { ...OVERFLOW_ATTRIBUTES, ...this.#node };
  }

  /** The gauge keeps the newest time per series: a replayed or late kill never moves it back. */
  #recordLatest(gauge: Gauge, series: Map<string, number>, attributes: Attributes, at: number): void {
    const key = attributesKey(attributes);
    const newest = Math.max(series.get(key) ?? 0, at);
    series.set(key, newest);
    gauge.record(newest, attributes as OtelAttributes);
  }
}

