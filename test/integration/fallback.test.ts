// --source auto on a node where BPF cannot run: the receiver falls back to the kernel log, warns once with
// what is lost, why and the fix, says so on its heartbeat, and still exports every kill with its pod
// attribution.
import { expect, it } from 'vitest';
import { Attr, Metric, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedDataPoint } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';

/** The heartbeat's latest point: there is exactly one series, whatever the source did before. */
async function heartbeat(collector: OtlpReceiver): Promise<ReceivedDataPoint> {
  const deadline = Date.now() + 5000;
  while (collector.dataPoints(Metric.receiverUp).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const points = collector.dataPoints(Metric.receiverUp);
  const latest = points.reduce((a, b) => (a.timeUnixNano >= b.timeUnixNano ? a : b));
  expect(points.filter((p) => p.timeUnixNano === latest.timeUnixNano)).toHaveLength(1);
  return latest;
}

describeKernel('--source auto without BPF', () => {
  let cgroup: ScratchCgroup | undefined;
  const scratch = scratchCgroups('fallback');

  it('falls back to /dev/kmsg, warns once with what is lost, why and the fix, exports the degraded heartbeat and the kill with its pod', async () => {
    const collector = await startOtlpReceiver();
    const receiver = startReceiver(['run', '--btf', '/nonexistent/vmlinux'], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, NODE_NAME: 'node-fallback' });
    try {
      const line = await receiver.waitForLine(/"source: kmsg/);
      const warning = JSON.parse(line) as { level: string; msg: string; degraded: string[]; refused: string[] };
      expect(warning.level).toBe('warn');
      expect(warning.msg).toMatch(/^source: kmsg, \/dev\/kmsg from the end of the buffer \(not bpf: no BTF at \/nonexistent\/vmlinux \(No such file or directory\)\); degraded: fallback-source: kills are read from the kernel log: no main-process flag .*; fix: .*--source kmsg/);
      expect(warning).toMatchObject({ degraded: ['fallback-source'], refused: ['bpf: no BTF at /nonexistent/vmlinux (No such file or directory)'] });
      const up = await heartbeat(collector);
      expect(up.value).toBe(1);
      expect(up.attributes).toEqual({
        [Sem.k8sNodeName]: 'node-fallback', [Attr.source]: 'kmsg', [Attr.hook]: '', [Attr.degraded]: true, [Attr.degradedReason]: 'fallback-source',
      });
      await new Promise((r) => setTimeout(r, 5500)); // let the kernel's report rate limit reset (10 per 5 s)
      cgroup = await scratch({ limitMiB: 48 });
      const hog = startHog(cgroup.dir);
      await hog.exited;
      const [record] = await collector.waitForLogRecords(1, 10_000, (r) => r.attributes[Sem.processPid] === hog.pid);
      expect(record?.attributes).toMatchObject({ [Attr.source]: 'kmsg', [Attr.cgroupPath]: cgroup.path });
      expect(record?.resource).toMatchObject({ [Sem.k8sPodUid]: cgroup.podUid, [Sem.containerId]: cgroup.containerId });
      await collector.waitForCounter('oomkill.kills', 1, 5000, { [Attr.source]: 'kmsg' });
      expect(receiver.stderrLines().filter((l) => l.includes('"level":"warn"') && l.includes('degraded'))).toHaveLength(1);
    } finally {
      expect(await receiver.stop()).toBe(0);
      await collector.stop();
    }
  });
});

describeKernel('--source cgroup', () => {
  const scratch = scratchCgroups('fallback-cgroup');

  it('exports each counted kill with its pod and container, and says it knows no process', async () => {
    const cgroup = await scratch({ limitMiB: 32 });
    const collector = await startOtlpReceiver();
    const receiver = startReceiver(['run', '--source', 'cgroup', '--cgroup-root', cgroup.parentDir, '--cgroup-poll-ms', '100'], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    try {
      const line = await receiver.waitForLine(/"source: cgroup, OOM kill counters of \d+ cgroups under /);
      // Chosen on purpose, not a fallback: no warning, and the heartbeat says not degraded.
      expect(JSON.parse(line).level).toBe('info');
      expect((await heartbeat(collector)).attributes).toMatchObject({ [Attr.source]: 'cgroup', [Attr.hook]: '', [Attr.degraded]: false, [Attr.degradedReason]: '' });
      for (let i = 0; i < 3; i++) await startHog(cgroup.dir).exited;
      const records = await collector.waitForLogRecords(3, 10_000, (r) => r.attributes[Attr.cgroupPath] === cgroup.path);
      expect(records[0]?.attributes).toMatchObject({ [Attr.source]: 'cgroup', [Attr.constraint]: 'memcg' });
      expect(records[0]?.attributes[Sem.processPid]).toBeUndefined();
      expect(records[0]?.resource).toMatchObject({ [Sem.k8sPodUid]: cgroup.podUid, [Sem.containerId]: cgroup.containerId });
      expect(records[0]?.body).toBe(`OOM kill: a process (this source does not see pids) in pod ${cgroup.podUid} container ${cgroup.containerId}`);
      await collector.waitForCounter('oomkill.kills', 3, 5000, { [Attr.source]: 'cgroup' });
    } finally {
      expect(await receiver.stop()).toBe(0);
      await collector.stop();
    }
  });
});
