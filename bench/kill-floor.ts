// The floor under the kill latency: bare Node reading the loader's frames and nothing else (no enrichment,
// no spool, no export), run beside the receiver through the same kills. Prints, when stdin closes, the
// delay from each kill in the cgroup path given to its read here, in ms, as a JSON array.
//   node bench/kill-floor.ts LOADER CGROUP_PATH
import { spawn } from 'node:child_process';
import { FrameDecoder } from '../src/sources/bpf-frames.ts';
import { nowUnixNano } from '../src/sources/kernel-clock.ts';

const [loaderPath, cgroupPath] = process.argv.slice(2) as [string, string];
const loader = spawn(loaderPath, ['--hook', 'auto'], { stdio: ['ignore', 'pipe', 'ignore'] });
const decoder = new FrameDecoder();
const delays: number[] = [];
let realtimeMinusBoottime: bigint | undefined;
loader.stdout.on('data', (chunk: Buffer) => {
  const now = nowUnixNano();
  for (const frame of decoder.push(chunk)) {
    if (frame instanceof Error) continue;
    if (frame.type === 'hello' && realtimeMinusBoottime === undefined) process.stderr.write('attached\n');
    if (frame.type === 'hello' || frame.type === 'stats') realtimeMinusBoottime = frame.realtimeNs - frame.boottimeNs;
    else if (realtimeMinusBoottime !== undefined && frame.cgroupPath === cgroupPath) delays.push(Number(now - (frame.boottimeNs + realtimeMinusBoottime)) / 1e6);
  }
});
process.stdin.resume();
process.stdin.on('end', () => {
  loader.kill();
  process.stdout.write(`${JSON.stringify(delays)}\n`);
});
