// Memory while the OTLP endpoint is down for a whole burst of real OOM kills: the delivery queue holds at
// most 2000 records in memory and the rest wait in the spool, so the receiver's RSS has a ceiling.
import { readFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Attr } from '../src/attributes.ts';
import { createScratchCgroup, startHog } from '../src/demo/scratch-cgroup.ts';
import { startOtlpReceiver } from '../test/support/otlp-receiver.ts';
import { startReceiver } from '../test/support/receiver-process.ts';

const rssMiB = (pid: number): number => Math.round(Number(/^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024);

export async function benchOutage(kills = 3000): Promise<Record<string, string>> {
  let collector = await startOtlpReceiver();
  const port = collector.port;
  const compiled = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  const receiver = startReceiver(['run', '--source', 'bpf', '--spool-dir', mkdtempSync(join(tmpdir(), 'bench-spool-')), '--max-spooled', '100000'],
    { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint }, compiled);
  const cgroup = await createScratchCgroup({ parentName: `oomkill-bench-outage-${process.pid}`, limitMiB: 32 });
  try {
    await receiver.waitForLine(/"source: bpf, /);
    const pid = receiver.child.pid as number;
    const idle = rssMiB(pid);
    await collector.stop();
    let peak = idle;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(pid))), 100);
    const started = performance.now();
    while (cgroup.oomKills() < kills) await Promise.all(Array.from({ length: 20 }, () => startHog(cgroup.dir).exited));
    const burstSeconds = (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    const total = cgroup.oomKills();
    clearInterval(sampler);
    const down = rssMiB(pid);
    collector = await startOtlpReceiver({ port });
    const back = performance.now();
    await collector.waitForLogRecords(total, 120_000, (r) => r.attributes[Attr.cgroupPath] === cgroup.path);
    const drainSeconds = (performance.now() - back) / 1000;
    return {
      'endpoint down for a burst': `${total} kills in ${burstSeconds.toFixed(1)} s, none delivered until it returned`,
      'receiver RSS while the endpoint is down': `${idle} MiB idle, peak ${peak} MiB, ${down} MiB at the end (2000 records in memory at most, the rest in the spool)`,
      'after the endpoint returns': `all ${total} records delivered in ${drainSeconds.toFixed(1)} s`,
    };
  } finally {
    await receiver.stop();
    await collector.stop();
    await cgroup.remove();
  }
}
