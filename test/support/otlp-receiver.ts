// An OTLP receiver for tests: gRPC on @grpc/grpc-js and OTLP/HTTP (protobuf and JSON) on node:http, all
// decoded with the official OTLP protobuf definitions (generated, in @opentelemetry/otlp-transformer 0.57).
// One of the two test doubles this project allows, because no Collector can be installed here. It can also
// misbehave on purpose, the same way on both transports.
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';

const require = createRequire(import.meta.url);
// The 0.57 package ships the protobufjs-generated root; its typings are empty, so it is typed here.
interface Message { [field: string]: unknown }
interface MessageType {
  decode(bytes: Uint8Array): Message;
  encode(message: Message): { finish(): Uint8Array };
  toObject(message: Message, options: { longs: typeof String; bytes: typeof String; defaults: boolean }): Message;
  fromObject(object: Message): Message;
  create(properties?: Message): Message;
}
const { opentelemetry } = require('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: Record<'logs' | 'metrics' | 'trace', { v1: Record<string, MessageType> }> } };
};
type Kind = 'logs' | 'metrics' | 'traces';
/** Request and response types, and the gRPC method, per signal. */
const SIGNALS: Record<Kind, { request: MessageType; response: MessageType; grpcPath: string }> = {
  logs: {
    request: opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest as MessageType,
    response: opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse as MessageType,
    grpcPath: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  },
  metrics: {
    request: opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest as MessageType,
    response: opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse as MessageType,
    grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  },
  traces: {
    request: opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest as MessageType,
    response: opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse as MessageType,
    grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  },
};

/** How an export arrived. */
export type Transport = 'grpc' | 'http/protobuf' | 'http/json';

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
  /** 32 lowercase hex digits; '' when the record carries none. */
  traceId: string;
  /** 16 lowercase hex digits; '' when the record carries none. */
  spanId: string;
  /** When this receiver decoded it (Unix ns, microsecond precision). */
  receivedUnixNano: bigint;
  transport: Transport;
}

export interface ReceivedSpan {
  resource: Record<string, unknown>;
  scopeName: string;
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** The OTLP SpanKind number (1 internal). */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, unknown>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  events: Array<{ name: string; timeUnixNano: bigint; attributes: Record<string, unknown> }>;
  transport: Transport;
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
  transport: Transport;
  /** When this receiver decoded it (Unix ns, microsecond precision). */
  receivedUnixNano: bigint;
}

export interface OtlpReceiver {
  /** http://127.0.0.1:<port>, for OTLPLogExporter({ url }) or OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  port: number;
  /** OTLP/HTTP: http://127.0.0.1:<httpPort> (https:// with `tls`), serving /v1/logs, /v1/metrics and /v1/traces. */
  httpEndpoint: string;
  httpPort: number;
  logRecords(): ReceivedLogRecord[];
  spans(): ReceivedSpan[];
  waitForSpans(count: number, timeoutMs?: number, predicate?: (s: ReceivedSpan) => boolean): Promise<ReceivedSpan[]>;
  dataPoints(metric?: string): ReceivedDataPoint[];
  /** Sum over attribute sets of the latest cumulative value, for sets matching `filter`. */
  counterTotal(metric: string, filter?: Record<string, unknown>): number;
  waitForLogRecords(count: number, timeoutMs?: number, predicate?: (r: ReceivedLogRecord) => boolean): Promise<ReceivedLogRecord[]>;
  waitForCounter(metric: string, atLeast: number, timeoutMs?: number, filter?: Record<string, unknown>): Promise<number>;
  setBehaviour(behaviour: Behaviour): void;
  exportCalls(): { logs: number; metrics: number; traces: number };
  /** The gRPC metadata or HTTP headers of the latest export call, e.g. to check that OTEL_EXPORTER_OTLP_HEADERS arrive. */
  lastMetadata(): Record<string, string>;
  clear(): void;
  stop(): Promise<void>;
}

const STATUS: Partial<Record<Behaviour, grpc.status>> = {
  unavailable: grpc.status.UNAVAILABLE,
  'resource-exhausted': grpc.status.RESOURCE_EXHAUSTED,
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
};
/** The same refusals over HTTP, as the OTLP/HTTP specification maps them. */
const HTTP_STATUS: Partial<Record<Behaviour, number>> = { unavailable: 503, 'resource-exhausted': 429, 'invalid-argument': 400 };

export async function startOtlpReceiver(options: { port?: number; httpPort?: number; tls?: { cert: Buffer; key: Buffer } } = {}): Promise<OtlpReceiver> {
  const records: ReceivedLogRecord[] = [];
  const points: ReceivedDataPoint[] = [];
  const spans: ReceivedSpan[] = [];
  const calls = { logs: 0, metrics: 0, traces: 0 };
  const hanging: Array<() => void> = [];
  let behaviour: Behaviour = 'ok';
  let metadata: Record<string, string> = {};

  const store = (kind: Kind, message: Message, transport: Transport): void => {
    if (kind === 'logs') records.push(...flattenLogs(message, transport));
    else if (kind === 'metrics') points.push(...flattenMetrics(message, transport));
    else spans.push(...flattenSpans(message, transport));
  };
  const toObject = (type: MessageType, message: Message): Message => type.toObject(message, { longs: String, bytes: String, defaults: false });

  const handler = (kind: Kind): grpc.handleUnaryCall<Buffer, Buffer> => (call, callback) => {
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
    const { request, response } = SIGNALS[kind];
    let message: Message;
    try {
      message = toObject(request, request.decode(call.request));
    } catch (error) {
      callback({ code: grpc.status.INVALID_ARGUMENT, details: `undecodable: ${(error as Error).message}` });
      return;
    }
    store(kind, message, 'grpc');
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
  for (const kind of Object.keys(SIGNALS) as Kind[]) server.addService(service(SIGNALS[kind].grpcPath), { Export: handler(kind) });
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });

  // OTLP/HTTP: POST /v1/<signal>, a protobuf or JSON body (maybe gzipped), answered in the same encoding.
  const serveHttp = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const kind = ({ '/v1/logs': 'logs', '/v1/metrics': 'metrics', '/v1/traces': 'traces' } as Record<string, Kind | undefined>)[req.url ?? ''];
      if (req.method !== 'POST' || kind === undefined) {
        res.writeHead(404).end();
        return;
      }
      calls[kind]++;
      metadata = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      if (behaviour === 'hang') {
        hanging.push(() => res.destroy());
        return;
      }
      const status = HTTP_STATUS[behaviour];
      if (status !== undefined) {
        res.writeHead(status, { 'content-type': 'text/plain' }).end(`test receiver: ${behaviour}`);
        return;
      }
      const json = (req.headers['content-type'] ?? '').startsWith('application/json');
      const { request, response } = SIGNALS[kind];
      let message: Message;
      try {
        let body = Buffer.concat(chunks);
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        message = toObject(request, json ? request.fromObject(hexIdsToBase64(JSON.parse(body.toString('utf8')) as Message)) : request.decode(body));
      } catch (error) {
        res.writeHead(400, { 'content-type': 'text/plain' }).end(`undecodable: ${(error as Error).message}`);
        return;
      }
      store(kind, message, json ? 'http/json' : 'http/protobuf');
      if (json) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      else res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(Buffer.from(response.encode(response.create({})).finish()));
    });
  };
  const httpServer = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, serveHttp) : createServer(serveHttp);
  const httpPort = await new Promise<number>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.httpPort ?? 0, '127.0.0.1', () => resolve((httpServer.address() as { port: number }).port));
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
    httpEndpoint: `${options.tls ? 'https' : 'http'}://127.0.0.1:${httpPort}`,
    httpPort,
    logRecords: () => [...records],
    spans: () => [...spans],
    waitForSpans: (count, timeoutMs = 10_000, predicate = () => true) =>
      poll(() => {
        const found = spans.filter(predicate);
        return found.length >= count ? found : undefined;
      }, timeoutMs, () => `${count} spans (have ${spans.filter(predicate).length} matching of ${spans.length})`),
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
      spans.length = 0;
    },
    stop: async () => {
      for (const release of hanging.splice(0)) release();
      server.forceShutdown();
      httpServer.closeAllConnections();
      await new Promise((resolve) => httpServer.close(resolve));
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
const hex = (v: unknown): string => Buffer.from((v as string | undefined) ?? '', 'base64').toString('hex');
const nowUnixNano = (): bigint => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000)) * 1000n;

/** OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping (and fromObject) wants base64. */
function hexIdsToBase64(value: Message): Message {
  for (const [key, child] of Object.entries(value)) {
    if (['traceId', 'spanId', 'parentSpanId'].includes(key) && typeof child === 'string') value[key] = Buffer.from(child, 'hex').toString('base64');
    else if (typeof child === 'object' && child !== null) hexIdsToBase64(child as Message);
  }
  return value;
}

function flattenLogs(request: Message, transport: Transport): ReceivedLogRecord[] {
  const out: ReceivedLogRecord[] = [];
  const receivedUnixNano = nowUnixNano();
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
          traceId: hex(r.traceId),
          spanId: hex(r.spanId),
          receivedUnixNano,
          transport,
        });
      }
    }
  }
  return out;
}

function flattenMetrics(request: Message, transport: Transport): ReceivedDataPoint[] {
  const out: ReceivedDataPoint[] = [];
  const receivedUnixNano = nowUnixNano();
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
            transport,
            receivedUnixNano,
          });
        }
      }
    }
  }
  return out;
}

function flattenSpans(request: Message, transport: Transport): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (request.resourceSpans as Message[] | undefined) ?? []) {
    const resource = keyValues((rs.resource as Message | undefined)?.attributes as Message[] | undefined);
    for (const ss of (rs.scopeSpans as Message[] | undefined) ?? []) {
      const scopeName = ((ss.scope as Message | undefined)?.name as string | undefined) ?? '';
      for (const s of (ss.spans as Message[] | undefined) ?? []) {
        const status = (s.status as Message | undefined) ?? {};
        out.push({
          resource,
          scopeName,
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          name: (s.name as string | undefined) ?? '',
          kind: (s.kind as number | undefined) ?? 0,
          startTimeUnixNano: nanos(s.startTimeUnixNano),
          endTimeUnixNano: nanos(s.endTimeUnixNano),
          attributes: keyValues(s.attributes as Message[] | undefined),
          status: { code: (status.code as number | undefined) ?? 0, message: (status.message as string | undefined) ?? '' },
          events: ((s.events as Message[] | undefined) ?? []).map((e) => ({
            name: (e.name as string | undefined) ?? '',
            timeUnixNano: nanos(e.timeUnixNano),
            attributes: keyValues(e.attributes as Message[] | undefined),
          })),
          transport,
        });
      }
    }
  }
  return out;
}
