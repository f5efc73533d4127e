// The receiver's Prometheus endpoint names series as the Collector's Prometheus exporters name the same
// OTLP metrics (the specification's translation), with the node's label on each series exactly once.
import { createServer } from 'node:net';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { Metric } from '../../src/attributes.ts';
import { PrometheusEndpoint, unitSuffix } from '../../src/export/prometheus-endpoint.ts';
import { ReceiverMetrics } from '../../src/export/receiver-metrics.ts';
import { silentLogger } from '../../src/log.ts';

describe('unitSuffix', () => {
  it.each([
    ['s', false, 'seconds'], ['ms', false, 'milliseconds'], ['By', false, 'bytes'], ['By/s', false, 'bytes_per_second'],
    ['{kill}', false, ''], ['{packet}/s', false, 'per_second'], ['1', true, 'ratio'], ['1', false, ''], ['', true, ''], ['%', true, 'percent'],
  ])('%j (gauge %j) -> %j', (unit, gauge, expected) => {
    expect(unitSuffix(unit, gauge)).toBe(expected);
  });
});

describe('PrometheusEndpoint', () => {
  it('serves every metric under its contract name, the node label once on each series', async () => {
    const endpoint = new PrometheusEndpoint({ host: '127.0.0.1', port: 0, logger: silentLogger });
    const provider = new MeterProvider({ readers: [endpoint] });
    const metrics = new ReceiverMetrics(provider.getMeter('oomkill-receiver'), { nodeName: 'node-1', logger: silentLogger });
    try {
      const url = await endpoint.listen();
      metrics.recordKill({
        kill: { source: 'bpf', eventId: 'e', timeUnixNano: 1_800_000_000_500_000_000n, observedUnixNano: 1_800_000_000_500_000_000n, constraint: 'memcg', constraintInferred: false, victim: { isNamespaceInit: true }, memory: {}, cgroup: { pathTruncated: false } },
        identity: { path: '/', isKubernetes: false },
        enrichment: { resource: { 'k8s.namespace.name': 'shop' } },
      });
      metrics.recordMissed(2, 'reconciliation');
      metrics.recordReceiverEvent('export', 'delivered');
      metrics.recordSourceRestart('bpf');
      metrics.setState({ source: 'bpf', hook: 'tp_btf/mark_victim+fentry/oom_kill_process', degradedReasons: [] });
      const text = await (await fetch(url)).text();
      const samples = text.split('\n').filter((l) => l.startsWith('oomkill_'));
      const names = new Set(samples.map((l) => /^[a-z_]+/.exec(l)?.[0]));
      expect([...names].sort()).toEqual([
        'oomkill_kill_last_timestamp_seconds', 'oomkill_kills_total', 'oomkill_missed_kill_last_timestamp_seconds', 'oomkill_missed_kills_total',
        'oomkill_receiver_events_total', 'oomkill_receiver_source_restarts_total', 'oomkill_receiver_up',
      ]);
      expect(names.size).toBe(Object.keys(Metric).length);
      for (const line of samples) expect(line.match(/[{,]k8s_node_name="node-1"/g), line).toHaveLength(1);
      expect(text).toContain('oomkill_kill_last_timestamp_seconds{oomkill_source="bpf",oomkill_constraint="memcg",k8s_namespace_name="shop",oomkill_victim_main_process="true",k8s_node_name="node-1",otel_scope_name="oomkill-receiver"} 1800000000.5');
      expect(text).toContain('oomkill_receiver_up{k8s_node_name="node-1",oomkill_source="bpf",oomkill_hook="tp_btf/mark_victim+fentry/oom_kill_process",oomkill_degraded="false",oomkill_degraded_reason="",otel_scope_name="oomkill-receiver"} 1');
      expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await provider.shutdown();
    }
  });

  it('refuses to start, with the reason, on a port it cannot bind', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const { port } = taken.address() as { port: number };
    const endpoint = new PrometheusEndpoint({ host: '127.0.0.1', port, logger: silentLogger });
    try {
      await expect(endpoint.listen()).rejects.toThrow(`cannot serve Prometheus metrics on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`);
    } finally {
      taken.close();
    }
  });
});
