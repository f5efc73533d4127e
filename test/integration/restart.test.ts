// The receiver SIGKILLed in the middle of a burst of real OOM kills, then restarted. With the BPF program
// pinned, the kills made while it was down wait in the ring buffer and nothing is lost; without, the
// reconciler counts exactly the ones nobody saw, so delivered + missed equals the kernel's count.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { Attr } from '../../src/attributes.ts';
import { startHog } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
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
  const receivers: ReceiverProcess[] = [];
  const pinDir = `/sys/fs/bpf/oomkill-test-restart-${process.pid}`;
  afterEach(async () => {
    for (const r of receivers.splice(0)) await r.stop('SIGKILL');
    execFileSync(LOADER_PATH, ['--pin-dir', pinDir, '--unpin'], { stdio: 'ignore' });
    await collector?.stop();
    cgroup = collector = undefined;
  });

  const burstWithRestart = async (pinned: boolean): Promise<{ kernel: number; delivered: number; missed: number }> => {
    if (pinned && !execFileSync('mount', { encoding: 'utf8' }).includes(' /sys/fs/bpf type bpf')) execFileSync('mount', ['-t', 'bpf', 'bpf', '/sys/fs/bpf']);
    collector = await startOtlpReceiver();
    const state = mkdtempSync(join(tmpdir(), 'oomkill-state-'));
    const args = ['run', '--source', 'bpf', '--spool-dir', state, '--reconcile-interval-ms', '500', ...(pinned ? ['--pin-dir', pinDir] : [])];
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, OTEL_METRIC_EXPORT_INTERVAL: '500' };
    const first = startReceiver(args, env);
    receivers.push(first);
    await first.waitForLine(/"source: bpf, /);
    cgroup = await scratch({ limitMiB: 32 });

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
    const missed = collector.counterTotal('oomkill.missed_kills', { [Attr.missedReason]: 'reconciliation' });
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
