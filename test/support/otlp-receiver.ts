// An OTLP gRPC receiver for tests: the real protocol on @grpc/grpc-js, decoded with the official OTLP
// protobuf definitions (generated, in @opentelemetry/otlp-transformer 0.57). One of the two test doubles
// this project allows, because no Collector can be installed here. It can also misbehave on purpose.
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';

const require = createRequire(import.meta.url);
// The 0.57 package ships the protobufjs-generated root; its typings are empty, so it is typed here.
interface Message { [field: string]: unknown }
interface MessageType {
  decode(bytes: Uint8Array): Message;
  encode(message: Message): { finish(): Uint8Array };
  toObject(message: Message, options: { longs: typeof String; bytes: typeof String; defaults: boolean }): Message;
  create(properties?: Message): Message;
}
const { opentelemetry } = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: Record<'logs' | 'metrics', { v1: Record<string, MessageType> }> } };
};
const LogsRequest = opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest as MessageType;
const LogsResponse = opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse as MessageType;
const MetricsRequest = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest as MessageType;
const MetricsResponse = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse as MessageType;

export type Behaviour = 'ok' | 'unavailable' | 'resource-exhausted' | 'invalid-argument' | 'hang';

export interface ReceivedLogRecord {
  resource: Record<string, unknown>;
  scopeName: string;
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: unknown;
  attributes: Record<string, unknown>;
  /** When this receiver decoded it (Unix ns, microsecond precision). */
  receivedUnixNano: bigint;
}

export interface ReceivedDataPoint {
  metric: string;
  resource: Record<string, unknown>;
  attributes: Record<string, unknown>;
  value: number;
  startTimeUnixNano: bigint;
  timeUnixNano: bigint;
  monotonic?: boolean;
  temporality?: 'cumulative' | 'delta';
}

export interface OtlpReceiver {
  /** http://127.0.0.1:<port>, for OTLPLogExporter({ url }) or OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  port: number;
  logRecords(): ReceivedLogRecord[];
  dataPoints(metric?: string): ReceivedDataPoint[];
  /** Sum over attribute sets of the latest cumulative value, for sets matching `filter`. */
  counterTotal(metric: string, filter?: Record<string, unknown>): number;
  waitForLogRecords(count: number, timeoutMs?: number, predicate?: (r: ReceivedLogRecord) => boolean): Promise<ReceivedLogRecord[]>;
  waitForCounter(metric: string, atLeast: number, timeoutMs?: number, filter?: Record<string, unknown>): Promise<number>;
  setBehaviour(behaviour: Behaviour): void;
  exportCalls(): { logs: number; metrics: number };
  /** The gRPC metadata (headers) of the latest export call, e.g. to check that OTEL_EXPORTER_OTLP_HEADERS arrive. */
  lastMetadata(): Record<string, string>;
  clear(): void;
  stop(): Promise<void>;
}

const STATUS: Partial<Record<Behaviour, grpc.status>> = {
  unavailable: grpc.status.UNAVAILABLE,
  'resource-exhausted': grpc.status.RESOURCE_EXHAUSTED,
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
};

export async function startOtlpReceiver(options: { port?: number } = {}): Promise<OtlpReceiver> {
  const records: ReceivedLogRecord[] = [];
  const points: ReceivedDataPoint[] = [];
  const calls = { logs: 0, metrics: 0 };
  const hanging: Array<() => void> = [];
  let behaviour: Behaviour = 'ok';
  let metadata: Record<string, string> = {};

  const handler = (kind: 'logs' | 'metrics', request: MessageType, response: MessageType, store: (m: Message) => void): grpc.handleUnaryCall<Buffer, Buffer> =>
    (call, callback) => {
      calls[kind]++;
      metadata = Object.fromEntries(Object.entries(call.metadata.getMap()).map(([k, v]) => [k, String(v)]));
      if (behaviour === 'hang') {
        hanging.push(() => callback({ code: grpc.status.UNAVAILABLE, details: 'receiver stopped' }));
        return;
      }
      const status = STATUS[behaviour];
      if (status !== undefined) {
        callback({ code: status, details: `test receiver: ${behaviour}` });
        return;
      }
      let message: Message;
      try {
        message = request.toObject(request.decode(call.request), { longs: String, bytes: String, defaults: false });
      } catch (error) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: `undecodable: ${(error as Error).message}` });
        return;
      }
      store(message);
      callback(null, Buffer.from(response.encode(response.create({})).finish()));
    };

  const raw = { serialize: (b: Buffer) => b, deserialize: (b: Buffer) => b };
  const service = (path: string): grpc.ServiceDefinition => ({
    Export: {
      path,
      requestStream: false,
      responseStream: false,
      requestSerialize: raw.serialize,
      requestDeserialize: raw.deserialize,
      responseSerialize: raw.serialize,
      responseDeserialize: raw.deserialize,
    },
  });

  const server = new grpc.Server();
  server.addService(service('/opentelemetry.proto.collector.logs.v1.LogsService/Export'), {
    Export: handler('logs', LogsRequest, LogsResponse, (m) => records.push(...flattenLogs(m))),
  });
  server.addService(service('/opentelemetry.proto.collector.metrics.v1.MetricsService/Export'), {
    Export: handler('metrics', MetricsRequest, MetricsResponse, (m) => points.push(...flattenMetrics(m))),
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });

  const matches = (attributes: Record<string, unknown>, filter?: Record<string, unknown>): boolean =>
    Object.entries(filter ?? {}).every(([k, v]) => attributes[k] === v);
  const counterTotal = (metric: string, filter?: Record<string, unknown>): number => {
    const latest = new Map<string, ReceivedDataPoint>();
    for (const p of points) {
      if (p.metric !== metric || !matches(p.attributes, filter)) continue;
      const key = JSON.stringify(Object.entries(p.attributes).sort());
      const seen = latest.get(key);
      if (!seen || seen.timeUnixNano <= p.timeUnixNano) latest.set(key, p);
    }
    return [...latest.values()].reduce((sum, p) => sum + p.value, 0);
  };
  const poll = async <T>(ready: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = ready();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`OTLP receiver: timed out after ${timeoutMs} ms waiting for ${what()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    logRecords: () => [...records],
    dataPoints: (metric) => points.filter((p) => metric === undefined || p.metric === metric),
    counterTotal,
    waitForLogRecords: (count, timeoutMs = 10_000, predicate = () => true) =>
      poll(() => {
        const found = records.filter(predicate);
        return found.length >= count ? found : undefined;
      }, timeoutMs, () => `${count} log records (have ${records.filter(predicate).length} matching of ${records.length})`),
    waitForCounter: (metric, atLeast, timeoutMs = 10_000, filter) =>
      poll(() => {
        const total = counterTotal(metric, filter);
        return total >= atLeast ? total : undefined;
      }, timeoutMs, () => `${metric} >= ${atLeast} (have ${counterTotal(metric, filter)}; metrics seen: ${[...new Set(points.map((p) => p.metric))].join(', ')})`),
    setBehaviour: (next) => {
      behaviour = next;
      if (next !== 'hang') for (const release of hanging.splice(0)) release();
    },
    exportCalls: () => ({ ...calls }),
    lastMetadata: () => ({ ...metadata }),
    clear: () => {
      records.length = 0;
      points.length = 0;
    },
    stop: async () => {
      for (const release of hanging.splice(0)) release();
      server.forceShutdown();
    },
  };
}

/** An OTLP AnyValue (as protobufjs's toObject gives it, longs as strings) to a plain value. */
export function anyValue(v: Message | undefined): unknown {
  if (v === undefined) return undefined;
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) {
    const n = BigInt(v.intValue as string);
    return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n;
  }
  if ('doubleValue' in v) return v.doubleValue;
  if ('bytesValue' in v) return Buffer.from(v.bytesValue as string, 'base64');
  if ('arrayValue' in v) return (((v.arrayValue as Message).values as Message[] | undefined) ?? []).map(anyValue);
  if ('kvlistValue' in v) return keyValues((v.kvlistValue as Message).values as Message[] | undefined);
  return undefined;
}

const keyValues = (list: Message[] | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map((kv) => [kv.key as string, anyValue(kv.value as Message | undefined)]));
const nanos = (v: unknown): bigint => BigInt((v as string | undefined) ?? 0);

function flattenLogs(request: Message): ReceivedLogRecord[] {
  const out: ReceivedLogRecord[] = [];
  const receivedUnixNano = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;
  for (const rl of (request.resourceLogs as Message[] | undefined) ?? []) {
    const resource = keyValues((rl.resource as Message | undefined)?.attributes as Message[] | undefined);
    for (const sl of (rl.scopeLogs as Message[] | undefined) ?? []) {
      const scopeName = ((sl.scope as Message | undefined)?.name as string | undefined) ?? '';
      for (const r of (sl.logRecords as Message[] | undefined) ?? []) {
        out.push({
          resource,
          scopeName,
          timeUnixNano: nanos(r.timeUnixNano),
          observedTimeUnixNano: nanos(r.observedTimeUnixNano),
          severityNumber: (r.severityNumber as number | undefined) ?? 0,
          severityText: (r.severityText as string | undefined) ?? '',
          body: anyValue(r.body as Message | undefined),
          attributes: keyValues(r.attributes as Message[] | undefined),
          receivedUnixNano,
        });
      }
    }
  }
  return out;
}

function flattenMetrics(request: Message): ReceivedDataPoint[] {
  const out: ReceivedDataPoint[] = [];
  for (const rm of (request.resourceMetrics as Message[] | undefined) ?? []) {
    const resource = keyValues((rm.resource as Message | undefined)?.attributes as Message[] | undefined);
    for (const sm of (rm.scopeMetrics as Message[] | undefined) ?? []) {
      for (const m of (sm.metrics as Message[] | undefined) ?? []) {
        const data = (m.sum ?? m.gauge) as Message | undefined;
        if (!data) continue;
        const temporality = data.aggregationTemporality;
        for (const p of (data.dataPoints as Message[] | undefined) ?? []) {
          out.push({
            metric: m.name as string,
            resource,
            attributes: keyValues(p.attributes as Message[] | undefined),
            value: 'asInt' in p ? Number(p.asInt) : Number(p.asDouble ?? 0),
            startTimeUnixNano: nanos(p.startTimeUnixNano),
            timeUnixNano: nanos(p.timeUnixNano),
            ...(typeof data.isMonotonic === 'boolean' && { monotonic: data.isMonotonic }),
            ...(temporality !== undefined && { temporality: temporality === 2 || temporality === 'AGGREGATION_TEMPORALITY_CUMULATIVE' ? 'cumulative' : 'delta' }),
          });
        }
      }
    }
  }
  return out;
}
