// --source auto on a node where BPF cannot run: the receiver falls back to the kernel log, says why in
// one line, and still exports every kill with its pod attribution.
import { expect, it } from 'vitest';
import { Attr, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';

describeKernel('--source auto without BPF', () => {
  let cgroup: ScratchCgroup | undefined;
  const scratch = scratchCgroups('fallback');

  it('falls back to /dev/kmsg, says why, and exports the kill with its pod', async () => {
    const collector = await startOtlpReceiver();
    const receiver = startReceiver(['run', '--btf', '/nonexistent/vmlinux'], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint });
    try {
      const line = await receiver.waitForLine(/"source: kmsg/);
      expect(JSON.parse(line).msg).toBe('source: kmsg, /dev/kmsg from the end of the buffer (not bpf: no BTF at /nonexistent/vmlinux (No such file or directory))');
      await new Promise((r) => setTimeout(r, 5500)); // let the kernel's report rate limit reset (10 per 5 s)
      cgroup = await scratch({ limitMiB: 48 });
      const hog = startHog(cgroup.dir);
      await hog.exited;
      const [record] = await collector.waitForLogRecords(1, 10_000, (r) => r.attributes[Sem.processPid] === hog.pid);
      expect(record?.attributes).toMatchObject({ [Attr.source]: 'kmsg', [Attr.cgroupPath]: cgroup.path });
      expect(record?.resource).toMatchObject({ [Sem.k8sPodUid]: cgroup.podUid, [Sem.containerId]: cgroup.containerId });
      await collector.waitForCounter('oomkill.kills', 1, 5000, { [Attr.source]: 'kmsg' });
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
      await receiver.waitForLine(/"source: cgroup, OOM kill counters of \d+ cgroups under /);
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
