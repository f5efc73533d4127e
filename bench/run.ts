// Prints the speed and memory figures. Run as root for the end-to-end part: npm run bench
import { benchDecoder } from './decoder.ts';
import { benchEndToEnd } from './end-to-end.ts';
import { benchLoader } from './loader.ts';
import { benchOutage } from './outage.ts';

const print = (figures: Record<string, string>): void => {
  for (const [name, value] of Object.entries(figures)) process.stdout.write(`${name.padEnd(64)} ${value}\n`);
};

print(benchDecoder());
if (process.getuid?.() === 0) {
  print(await benchLoader());
  print(await benchEndToEnd());
  print(await benchOutage());
}
else process.stdout.write('end-to-end figures need root (memory cgroups and BPF): skipped\n');
