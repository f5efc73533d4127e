// Real OOM kills through the real CLI to a real gRPC receiver: kernel time of the kill to arrival of the
// log record at the receiver, and the receiver's memory. Needs root (memory cgroups, BPF).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Attr } from '../src/attributes.ts';
import { createScratchCgroup, startHog } from '../src/demo/scratch-cgroup.ts';
import { startOtlpReceiver } from '../test/support/otlp-receiver.ts';
import type { ReceivedLogRecord } from '../test/support/otlp-receiver.ts';
import { startReceiver } from '../test/support/receiver-process.ts';

const rssMiB = (pid: number): number => {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Math.round(Number(match?.[1] ?? 0) / 1024);
};
const percentile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

export async function benchEndToEnd(): Promise<Record<string, string>> {
  const collector = await startOtlpReceiver();
  // The compiled build, as the image runs it (type stripping at startup costs memory the image does not pay).
  const compiled = fileURLToPath(new URL('../dist/main.js', import.meta.url));
  execFileSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-p', fileURLToPath(new URL('../tsconfig.build.json', import.meta.url))]);
  const receiver = startReceiver(['run', '--source', 'bpf'], { OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint, NODE_NAME: 'bench' }, compiled);
  const cgroup = await createScratchCgroup({ parentName: `oomkill-bench-${process.pid}`, limitMiB: 32 });
  try {
    await receiver.waitForLine(/"source: bpf, /);
    const pid = receiver.child.pid as number;
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMiB(pid);

    // Sequential kills: each one's latency is measured alone.
    const latencies: number[] = [];
    for (let i = 0; i < 50; i++) {
      const hog = startHog(cgroup.dir);
      await hog.exited;
      const [record] = await collector.waitForLogRecords(1, 5000, (r) => r.attributes['process.pid'] === hog.pid);
      latencies.push(Number((record as ReceivedLogRecord).receivedUnixNano - (record as ReceivedLogRecord).timeUnixNano) / 1e6);
    }
    latencies.sort((a, b) => a - b);

    // A burst: 20 waves of 20 concurrent hogs.
    const burstStart = performance.now();
    for (let wave = 0; wave < 20; wave++) await Promise.all(Array.from({ length: 20 }, () => startHog(cgroup.dir).exited));
    const total = cgroup.oomKills();
    await collector.waitForLogRecords(total, 30_000, (r) => r.attributes[Attr.cgroupPath] === cgroup.path);
    const burstMs = performance.now() - burstStart;
    const afterBurst = rssMiB(pid);
    return {
      'kill -> OTLP log record at the receiver (50 sequential kills)': `median ${percentile(latencies, 0.5).toFixed(1)} ms, p90 ${percentile(latencies, 0.9).toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
      'burst': `${total - 50} kills in ${(burstMs / 1000).toFixed(1)} s (the kernel's pace), all ${total} records delivered`,
      'receiver RSS': `${idle} MiB idle, ${afterBurst} MiB after ${total} kills`,
    };
  } finally {
    await receiver.stop();
    await collector.stop();
    await cgroup.remove();
  }
}
