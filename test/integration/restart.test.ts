// The receiver SIGKILLed in the middle of a burst of real OOM kills, then restarted. With the BPF program
// pinned, the kills made while it was down wait in the ring buffer and nothing is lost; without, the
// reconciler counts exactly the ones nobody saw, so delivered + missed equals the kernel's count. The pod is
// served by the fake API server, so the missed kills' series say where they happened (its namespace and
// container): OOM kills elsewhere on this shared machine, missed too, count in their own series.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Attr, Sem } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { pod, startFakeApiServer } from '../support/fake-apiserver.ts';
import type { FakeApiServer } from '../support/fake-apiserver.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel, LOADER_PATH } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';

describeKernel('receiver SIGKILLed during a burst of 200 kills', () => {
  const scratch = scratchCgroups('restart');
  let cgroup: ScratchCgroup | undefined;
  let collector: OtlpReceiver | undefined;
  let api: FakeApiServer | undefined;
  const receivers: ReceiverProcess[] = [];
  const pinDir = `/sys/fs/bpf/oomkill-test-restart-${process.pid}`;
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.stop('SIGKILL');
    execFileSync(LOADER_PATH, ['--pin-dir', pinDir, '--unpin'], { stdio: 'ignore' });
    await collector?.stop();
    await api?.stop();
    cgroup = collector = api = undefined;
  });

  const burstWithRestart = async (pinned: boolean): Promise<{ kernel: number; delivered: number; missed: number }> => {
    if (pinned && !execFileSync('mount', { encoding: 'utf8' }).includes(' /sys/fs/bpf type bpf')) execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    collector = await startOtlpReceiver();
    api = await startFakeApiServer();
    const state = mkdtempSync(join(tmpdir(), 'oomkill-state-'));
    const kubeconfig = api.writeKubeconfig(mkdtempSync(join(tmpdir(), 'kc-')));
    const args = ['run', '--source', 'bpf', '--spool-dir', state, '--reconcile-interval-ms', '500', '--kubeconfig', kubeconfig, ...(pinned ? ['--pin-dir', pinDir] : [])];
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '500', NODE_NAME: 'node-restart' };
    cgroup = await scratch({ limitMiB: 32 });
    api.upsert(pod({ name: 'burst', namespace: 'restart', uid: cgroup.podUid, nodeName: 'node-restart', containers: [{ name: 'hog', id: cgroup.containerId }] }));
    const first = startReceiver(args, env);
    receivers.push(first);
    await first.waitForLine(/"source: bpf, /);
    await first.waitForLine(/watching the pods of this node/);

    let second: ReceiverProcess | undefined;
    for (let i = 0; i < 200; i++) {
      await startHog(cgroup.dir).exited;
      if (i === 60) await first.stop('SIGKILL');
      if (i === 120) {
        second = startReceiver(args, env);
        receivers.push(second);
        await second.waitForLine(/"source: bpf, /);
      }
    }
    const kernel = cgroup.oomKills();
    const inCgroup = (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup?.path;
    await new Promise((r) => setTimeout(r, 3000)); // deliveries, two reconciliation rounds, a metric export
    const delivered = new Set(collector.logRecords().filter(inCgroup).map((r) => r.attributes[Attr.eventId])).size;
    const missed = collector.counterTotal('oomkill.missed_kills', { [Attr.missedReason]: 'reconciliation', [Sem.k8sNamespaceName]: 'restart', [Sem.k8sContainerName]: 'hog' });
    return { kernel, delivered, missed };
  };

  it('with the program pinned, loses nothing', async () => {
    const { kernel, delivered, missed } = await burstWithRestart(true);
    expect(kernel).toBe(200);
    expect({ delivered, missed }).toEqual({ delivered: kernel, missed: 0 });
  }, 120_000);

  it('without pinning, counts as missed exactly the kills it never delivered', async () => {
    const { kernel, delivered, missed } = await burstWithRestart(false);
    expect(kernel).toBe(200);
    expect(missed).toBeGreaterThan(0); // the kills made while no receiver ran
    expect(delivered + missed).toBe(kernel);
  }, 120_000);
});
