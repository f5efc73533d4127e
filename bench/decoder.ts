// Decoder throughput: how many kill frames per second the bpf source can decode and convert.
import { FrameDecoder } from '../src/sources/bpf-frames.ts';
import type { HelloFrame } from '../src/sources/bpf-frames.ts';
import { KillConverter } from '../src/sources/bpf-source.ts';
import { helloFrame, killFrame } from '../test/support/frames.ts';

export function benchDecoder(): Record<string, string> {
  const frames = 20_000;
  const stream = Buffer.concat([helloFrame(), ...Array.from({ length: frames }, (_, i) => killFrame({ victimTgid: i + 1 }))]);
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += 65_536) chunks.push(stream.subarray(at, at + 65_536)); // pipe-sized reads
  const start = process.hrtime.bigint();
  const decoder = new FrameDecoder();
  let converter: KillConverter | undefined;
  let kills = 0;
  for (const chunk of chunks) {
    for (const item of decoder.push(chunk)) {
      if (!('type' in item)) continue;
      if (item.type === 'hello') converter = new KillConverter(item as HelloFrame);
      else if (item.type === 'kill' && converter) {
        converter.toOomKill(item);
        kills++;
      }
    }
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return { 'decode+convert kill frames': `${Math.round(kills / seconds).toLocaleString('en')} frames/s (${kills} frames of ${stream.length / frames | 0} bytes)` };
}
