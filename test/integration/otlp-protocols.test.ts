// OTLP over gRPC, HTTP/protobuf and HTTP/JSON, as the standard variables choose: one real kill, seen by
// three receivers at once (one per protocol), arrives as the same record, counter and span at the collector,
// with the same event id, trace and span ids from each observer; and over TLS, with the SDK's own reading
// of the certificate and headers variables.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedDataPoint, Transport } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';
import { scratchCgroups } from '../support/scratch.ts';

const PROTOCOLS: readonly Transport[] = ['grpc', 'http/protobuf', 'http/json'];
/** A self-signed certificate for 127.0.0.1, and its key: the test collector's, for OTLP/HTTP over TLS. */
const TLS_DIR = fileURLToPath(new URL('../testdata/tls/', import.meta.url));

describeKernel('OTLP over gRPC and HTTP', () => {
  const scratch = scratchCgroups('protocols');
  let collector: OtlpReceiver | undefined;
  let receivers: ReceiverProcess[] = [];
  afterEach(async () => {
    for (const receiver of receivers) expect(await receiver.stop()).toBe(0);
    await collector?.stop();
    receivers = [];
    collector = undefined;
  });

  it('exports the same kill as the same record, counter and span over each protocol', async () => {
    const c = (collector = await startOtlpReceiver());
    receivers = PROTOCOLS.map((protocol) => startReceiver(['run', '--source', 'bpf', '--reconcile-interval-ms', '0'], {
      OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
      OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? c.endpoint : c.httpEndpoint,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '60000', // the counter arrives because of the kill
      NODE_NAME: 'node-protocols',
    }));
    // Three loaders start at once on a shared machine: give them time.
    for (const receiver of receivers) await receiver.waitForLine(/"source: bpf, /, 60_000);
    const cgroup = await scratch({ limitMiB: 32 });
    const hog = startHog(cgroup.dir);
    expect(await hog.exited).toBe('SIGKILL');

    const ofHog = (r: { attributes: Record<string, unknown> }): boolean => r.attributes[Sem.processPid] === hog.pid;
    const records = await c.waitForLogRecords(3, 10_000, ofHog);
    const spans = await c.waitForSpans(3, 10_000, ofHog);
    await expect.poll(() => new Set(c.dataPoints(Metric.kills).filter((p) => p.attributes[Attr.source] === 'bpf').map((p) => p.transport)).size, { timeout: 10_000 }).toBe(3);

    const by = <T extends { transport: Transport }>(items: T[], protocol: Transport): T => {
      const found = items.filter((i) => i.transport === protocol);
      expect(found, `${protocol}: exactly one`).toHaveLength(1);
      return found[0] as T;
    };
    const grpcRecord = by(records, 'grpc');
    const grpcSpan = by(spans, 'grpc');
    // The counter may go out more than once (each export carries the cumulative count): the latest.
    const latestPoint = (protocol: Transport): ReceivedDataPoint | undefined =>
      c.dataPoints(Metric.kills).filter((p) => p.attributes[Attr.source] === 'bpf' && p.transport === protocol).at(-1);
    const grpcPoint = latestPoint('grpc');
    for (const protocol of ['http/protobuf', 'http/json'] as const) {
      const record = by(records, protocol);
      expect(record).toMatchObject({
        resource: grpcRecord.resource,
        scopeName: grpcRecord.scopeName,
        severityNumber: grpcRecord.severityNumber,
        severityText: grpcRecord.severityText,
        body: grpcRecord.body,
        attributes: grpcRecord.attributes,
        // Two observers, the same kill: the same event id, so the same trace and span.
        traceId: grpcRecord.traceId,
        spanId: grpcRecord.spanId,
      });
      // The kernel's time of the kill, read by each observer's own program: the same to the millisecond.
      expect(Number(record.timeUnixNano - grpcRecord.timeUnixNano) / 1e6).toBeCloseTo(0, -1);

      const span = by(spans, protocol);
      expect(span).toMatchObject({
        resource: grpcSpan.resource,
        scopeName: grpcSpan.scopeName,
        name: grpcSpan.name,
        kind: grpcSpan.kind,
        status: grpcSpan.status,
        attributes: grpcSpan.attributes,
        traceId: grpcSpan.traceId,
        spanId: grpcSpan.spanId,
      });
      expect(span.events.map((e) => e.name)).toEqual(grpcSpan.events.map((e) => e.name));

      // Without Kubernetes names the series is the node's (other tests' kills on this machine count in it too).
      expect(latestPoint(protocol)).toMatchObject({ attributes: grpcPoint?.attributes, resource: grpcPoint?.resource, monotonic: true, temporality: 'cumulative' });
      expect(latestPoint(protocol)?.value).toBeGreaterThanOrEqual(1);
    }
  }, 150_000);

  it('says at level warn, with the endpoint and the error, when every export fails (an endpoint that speaks another protocol)', async () => {
    const c = (collector = await startOtlpReceiver());
    // OTLP/HTTP sent to the gRPC port: every export of every signal fails.
    const receiver = startReceiver(['run', '--source', 'bpf', '--reconcile-interval-ms', '0'], {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: c.endpoint,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRIC_EXPORT_INTERVAL: '500',
    });
    receivers = [receiver];
    await receiver.waitForLine(/"source: bpf, /);
    const cgroup = await scratch({ limitMiB: 32 });
    await startHog(cgroup.dir).exited;
    for (const signal of ['logs', 'metrics', 'traces']) {
      const line = JSON.parse(await receiver.waitForLine(new RegExp(`"OTLP ${signal} export to [^"]* failed`), 15_000)) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 'warn', signal, endpoint: `${c.endpoint}/v1/${signal}` });
      expect(line.error).toEqual(expect.any(String));
      expect(line.error).not.toBe('unknown error');
    }
    // Bounded: the exports keep failing several times a second, the warnings do not.
    await new Promise((r) => setTimeout(r, 4000));
    const warnings = receiver.stderrLines().filter((l) => /"OTLP \w+ export to .* failed/.test(l));
    expect(warnings.length).toBeLessThanOrEqual(3);
    expect(c.logRecords()).toEqual([]);
  }, 60_000);

  it('speaks OTLP/HTTP over TLS with the certificate and headers the SDK reads itself, and says so when it cannot trust the collector', async () => {
    const c = (collector = await startOtlpReceiver({ tls: { cert: readFileSync(`${TLS_DIR}collector.crt`), key: readFileSync(`${TLS_DIR}collector.key`) } }));
    expect(c.httpEndpoint).toMatch(/^https:/);
    const env = (node: string): Record<string, string> => ({
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_ENDPOINT: c.httpEndpoint,
      OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=tenant-7',
      NODE_NAME: node,
    });
    const trusted = startReceiver(['run', '--source', 'bpf', '--reconcile-interval-ms', '0'], { ...env('node-trusted'), OTEL_EXPORTER_OTLP_CERTIFICATE: `${TLS_DIR}collector.crt` });
    const untrusted = startReceiver(['run', '--source', 'bpf', '--reconcile-interval-ms', '0'], env('node-untrusted'));
    receivers = [trusted, untrusted];
    for (const receiver of receivers) await receiver.waitForLine(/"source: bpf, /, 60_000);
    // The heartbeat goes out as soon as the source runs: no kill needed.
    const from = (node: string) => c.dataPoints().filter((p) => p.attributes[Sem.k8sNodeName] === node);
    await expect.poll(() => from('node-trusted').length, { timeout: 10_000 }).toBeGreaterThan(0);
    expect(from('node-trusted')[0]?.transport).toBe('http/protobuf');
    expect(c.lastMetadata()['x-tenant']).toBe('tenant-7');
    const warning = JSON.parse(await untrusted.waitForLine(/"OTLP metrics export to https:[^"]* failed/, 15_000)) as Record<string, unknown>;
    expect(warning).toMatchObject({ level: 'warn', endpoint: `${c.httpEndpoint}/v1/metrics` });
    expect(warning.error).toMatch(/certificate/i);
    expect(from('node-untrusted')).toEqual([]);
  }, 120_000);
});
