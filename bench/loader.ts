// The loader's own cost, as a node pays it at every start: exec to its HELLO frame (hook decisions,
// verification, attach) and its resident memory once attached. Needs root.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FRAME_HEADER_SIZE, HELLO_SIZE } from '../src/sources/bpf-frames.ts';

const LOADER = fileURLToPath(new URL('../bpf/.output/oomkill-loader', import.meta.url));

/** One start: milliseconds from exec to the HELLO frame, then the loader's VmRSS in kB after `settleMs`. */
async function startOnce(settleMs: number): Promise<{ helloMs: number; rssKb: number }> {
  const started = process.hrtime.bigint();
  const child = spawn(LOADER, [], { stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const helloMs = await new Promise<number>((resolve, reject) => {
      let received = 0;
      child.stdout.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received >= FRAME_HEADER_SIZE + HELLO_SIZE) resolve(Number(process.hrtime.bigint() - started) / 1e6);
      });
      child.on('exit', (code) => reject(new Error(`the loader exited (${code}) before its HELLO frame`)));
    });
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    const rss = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
    return { helloMs, rssKb: Number(rss?.[1]) };
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('close', resolve));
  }
}

export async function benchLoader(runs = 5): Promise<Record<string, string>> {
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await startOnce(500));
  const ms = results.map((r) => r.helloMs).sort((a, b) => a - b);
  const rss = results.map((r) => r.rssKb).sort((a, b) => a - b);
  const median = (values: number[]): number => values[Math.floor(values.length / 2)] ?? NaN;
  return {
    [`loader exec to HELLO, median of ${runs} (min-max)`]: `${median(ms).toFixed(0)} ms (${ms[0]?.toFixed(0)}-${ms.at(-1)?.toFixed(0)})`,
    [`loader RSS after attach, median of ${runs} (goal <= 4 MB)`]: `${(median(rss) / 1024).toFixed(1)} MB (${((rss[0] ?? 0) / 1024).toFixed(1)}-${((rss.at(-1) ?? 0) / 1024).toFixed(1)})`,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const [name, value] of Object.entries(await benchLoader())) process.stdout.write(`${name.padEnd(64)} ${value}\n`);
}
