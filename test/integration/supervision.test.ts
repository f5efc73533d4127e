// Supervision: when the loader dies, the receiver says it is not ready, restarts it with backoff, and
// is ready again, still exporting kills; the restart is counted and the heartbeat says the source was down.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';

const children = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
const ready = async (port: number): Promise<number> => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;

describeKernel('supervision of the loader', () => {
  let cgroup: ScratchCgroup | undefined;
  const scratch = scratchCgroups('supervision');

  it('goes unready when the loader dies, restarts it, and is ready and exporting again', async () => {
    const collector = await startOtlpReceiver();
    const port = 20_000 + (process.pid % 20_000);
    const receiver = startReceiver(['run', '--source', 'bpf', '--health-addr', `127.0.0.1:${port}`], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, NODE_NAME: 'node-supervised' });
    try {
      await receiver.waitForLine(/"source: bpf, /);
      expect(await ready(port)).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      const [loader] = children(receiver.child.pid as number);
      process.kill(loader as number, 'SIGKILL');
      await expect.poll(() => ready(port), { interval: 20 }).toBe(503);
      await receiver.waitForLine(/source bpf restarted/);
      expect(await ready(port)).toBe(200);
      cgroup = await scratch({ limitMiB: 32 });
      const hog = startHog(cgroup.dir);
      await hog.exited;
      await collector.waitForLogRecords(1, 5000, (r) => r.attributes['process.pid'] === hog.pid);
      await collector.waitForCounter('oomkill.receiver.events', 1, 15_000, { 'oomkill.stage': 'source', 'oomkill.outcome': 'restarted' });
      expect(await collector.waitForCounter(Metric.sourceRestarts, 1, 5000)).toBe(1);
      expect(collector.dataPoints(Metric.sourceRestarts).at(-1)?.attributes).toEqual({ [Sem.k8sNodeName]: 'node-supervised', [Attr.source]: 'bpf' });
      // While the loader was down the heartbeat said so; now it runs as before.
      const heartbeats = collector.dataPoints(Metric.receiverUp);
      expect(heartbeats.some((p) => String(p.attributes[Attr.degradedReason]).split(',').includes('source-down') && p.attributes[Attr.degraded] === true)).toBe(true);
      expect(String(heartbeats.at(-1)?.attributes[Attr.degradedReason]).split(',')).not.toContain('source-down');
      expect(heartbeats.at(-1)?.attributes[Attr.source]).toBe('bpf');
    } finally {
      expect(await receiver.stop()).toBe(0);
      await collector.stop();
    }
  }, 60_000);
});
