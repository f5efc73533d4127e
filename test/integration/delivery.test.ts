// Never lose an OOM kill to a collector outage: kills that happen while the OTLP endpoint is down are
// kept (in memory and in the spool), retried, and delivered once it is back, each exactly once.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Attr } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';

describeKernel('delivery through a collector outage', () => {
  const scratch = scratchCgroups('delivery');
  let cgroup: ScratchCgroup | undefined;
  let collector: OtlpReceiver | undefined;
  let receiver: ReceiverProcess | undefined;
  afterEach(async () => {
    await receiver?.stop();
    await collector?.stop();
    cgroup = collector = receiver = undefined;
  });
  const inCgroup = (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup?.path;

  it('delivers every one of 100 kills made during a 60 s outage, once each, within 5 s of its end', async () => {
    collector = await startOtlpReceiver();
    const port = collector.port;
    receiver = startReceiver(['run', '--source', 'bpf', '--spool-dir', mkdtempSync(join(tmpdir(), 'spool-'))], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    await receiver.waitForLine(/"source: bpf, /);
    cgroup = await scratch({ limitMiB: 32 });

    await collector.stop();
    const outageStart = Date.now();
    for (let i = 0; i < 100; i++) await startHog(cgroup.dir).exited;
    expect(cgroup.oomKills()).toBe(100);
    await new Promise((r) => setTimeout(r, Math.max(0, 60_000 - (Date.now() - outageStart))));

    collector = await startOtlpReceiver({ port });
    const back = Date.now();
    const records = await collector.waitForLogRecords(100, 5000, inCgroup);
    expect(Date.now() - back).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 1000)); // a duplicate would show now
    const ids = collector.logRecords().filter(inCgroup).map((r) => r.attributes[Attr.eventId]);
    expect(ids).toHaveLength(100);
    expect(new Set(ids).size).toBe(100);
    expect(records.every((r) => r.timeUnixNano < BigInt(back) * 1_000_000n)).toBe(true); // kernel times kept
    const stderr = receiver.stderrLines().join('\n');
    expect(stderr).not.toMatch(/rejected/);
  }, 120_000);

  it('logs a rejection once with its reason, and goes on delivering what follows', async () => {
    collector = await startOtlpReceiver();
    receiver = startReceiver(['run', '--source', 'bpf'], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    await receiver.waitForLine(/"source: bpf, /);
    cgroup = await scratch({ limitMiB: 32 });
    collector.setBehaviour('invalid-argument');
    for (let i = 0; i < 3; i++) await startHog(cgroup.dir).exited;
    await receiver.waitForLine(/rejected OOM kill records/);
    collector.setBehaviour('ok');
    const hog = startHog(cgroup.dir);
    await hog.exited;
    await collector.waitForLogRecords(1, 5000, (r) => r.attributes['process.pid'] === hog.pid);
    expect(receiver.stderrLines().filter((l) => l.includes('rejected OOM kill records'))).toHaveLength(1);
  }, 60_000);

  it('never writes the OTLP headers or the Kubernetes token to its logs, even when everything fails', async () => {
    const { startFakeApiServer } = await import('../support/fake-apiserver.ts');
    const api = await startFakeApiServer();
    api.setDown(true);
    collector = await startOtlpReceiver();
    collector.setBehaviour('invalid-argument');
    receiver = startReceiver(['run', '--source', 'bpf', '--kubeconfig', api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-'))), '--log-level', 'debug'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer s3cr3t-otlp-token,x-api-key=s3cr3t-api-key',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
    });
    try {
      await receiver.waitForLine(/"source: bpf, /);
      await receiver.waitForLine(/pod watch failed/);
      cgroup = await scratch({ limitMiB: 32 });
      await startHog(cgroup.dir).exited;
      await receiver.waitForLine(/rejected OOM kill records/);
      await new Promise((r) => setTimeout(r, 500));
      // The headers do reach the endpoint, through the SDK's own reading of OTEL_EXPORTER_OTLP_HEADERS.
      expect(collector.lastMetadata()).toMatchObject({ authorization: 'Bearer s3cr3t-otlp-token', 'x-api-key': 's3cr3t-api-key' });
      const everything = receiver.stderrLines().join('\n') + receiver.stdout();
      for (const secret of ['s3cr3t-otlp-token', 's3cr3t-api-key', 'fake-token-not-a-secret']) expect(everything).not.toContain(secret);
    } finally {
      await api.stop();
    }
  }, 60_000);

  it('survives an endpoint that accepts connections and never answers', async () => {
    collector = await startOtlpReceiver();
    receiver = startReceiver(['run', '--source', 'bpf'], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_EXPORTER_OTLP_TIMEOUT: '1000' });
    await receiver.waitForLine(/"source: bpf, /);
    cgroup = await scratch({ limitMiB: 32 });
    collector.setBehaviour('hang');
    const hog = startHog(cgroup.dir);
    await hog.exited;
    await new Promise((r) => setTimeout(r, 2500)); // a deadline or two passes
    expect(collector.exportCalls().logs).toBeGreaterThanOrEqual(2); // it timed out and retried
    collector.setBehaviour('ok');
    await collector.waitForLogRecords(1, 5000, (r) => r.attributes['process.pid'] === hog.pid);
  }, 60_000);
});
