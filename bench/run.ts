// The receiver's figures beside their goals and beside bare Node in the same run (issue 12).
//   npm run bench                  the full run (root: memory cgroups, BPF, real OOM kills); writes bench/results.json
//   npm run bench -- --smoke       a short run that checks every figure can be measured (CI); writes nothing
//   npm run bench -- --json FILE   writes the figures to FILE as well
// Absolute figures move with the machine's load; the ratios to bare Node in the same run hold better.
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { benchDecoder } from './decoder.ts';
import { benchFootprint, FULL, SMOKE } from './footprint.ts';
import type { FootprintResult } from './footprint.ts';
import { ROOT } from './image.ts';
import { benchLoader } from './loader.ts';

interface Row { figure: string; measured: string; bare: string; goal: string; met: boolean | undefined }

const mib = (v: number): string => `${v.toFixed(1)} MB`;
const ms = (v: number): string => (v < 10 ? `${v.toFixed(2)} ms` : `${Math.round(v)} ms`);
/** Bare Node reading a loader of its own through the same kills: the floor under the receiver's delays. */
const floor = (q: FootprintResult['single']['floor']): string => `kill → read p50 ${ms(q.p50Ms)}, p99 ${ms(q.p99Ms)} (${q.count} kills)`;

export function tableRows(r: FootprintResult): Row[] {
  const ratio = (v: number): string => `${mib(r.bare.rssMiB)} (${(v / r.bare.rssMiB).toFixed(2)}×)`;
  // A receiver that fell back from bpf (its loader too slow or refused) has no loader to measure: say so.
  const fellBack = (m: { source: string }): string => (m.source === 'bpf' ? '' : ` [source ${m.source}: no loader]`);
  const [few, many] = r.pods;
  const readyMs = Math.max(...r.idle.execToReadyMs);
  // The receiver handles every OOM kill on the node: on a shared machine, other processes' kills fall in
  // the idle window. Net of them, at the CPU per kill measured in the burst, is what idle costs.
  const cpuRow = (figure: string, percent: number, nodeKills: number): Row => {
    const net = Math.max(0, percent - (nodeKills * r.burst.cpuMsPerKill) / (r.cpuSeconds * 1000) * 100);
    const others = nodeKills > 0 ? `; ${nodeKills} other OOM kills on the node meanwhile (${r.burst.cpuMsPerKill.toFixed(1)} ms each): net ${net.toFixed(3)} %` : '';
    return { figure, measured: `${percent.toFixed(3)} % of a core${others}`, bare: `${r.bare.cpuPercent.toFixed(3)} %`, goal: '≤ 0.1 %', met: net <= 0.1 };
  };
  return [
    { figure: 'idle RSS, Node + loader, no Kubernetes', measured: `${mib(r.idle.total)} (${mib(r.idle.node)} + ${mib(r.idle.loader)})${fellBack(r.idle)}`, bare: ratio(r.idle.total), goal: '≤ 64 MB', met: r.idle.source === 'bpf' ? r.idle.total <= 64 : undefined },
    ...[[few, 96], [many, 128]].filter(([p]) => p !== undefined).map(([p, goal]) => {
      const pods = p as FootprintResult['pods'][number];
      return { figure: `idle RSS, ${pods.pods.toLocaleString('en')} pods on the node`, measured: `${mib(pods.total)} (${mib(pods.node)} + ${mib(pods.loader)}); peak ${mib(pods.peakSinceStart)}${fellBack(pods)}`, bare: ratio(pods.total), goal: `≤ ${goal as number} MB`, met: pods.source === 'bpf' ? pods.total <= (goal as number) : undefined };
    }),
    { figure: 'loader RSS after attach', measured: `${mib(r.idle.loader)}${fellBack(r.idle)}`, bare: '', goal: '≤ 4 MB', met: r.idle.source === 'bpf' ? r.idle.loader <= 4 : undefined },
    cpuRow(`idle CPU, both processes, ${r.cpuSeconds} s`, r.idle.cpuPercent, r.idle.nodeKills),
    ...(few?.cpuPercent !== undefined ? [cpuRow(`idle CPU, ${few.pods} pods and their cgroups, ${r.cpuSeconds} s`, few.cpuPercent, few.nodeKills ?? 0)] : []),
    { figure: 'exec → ready (/readyz 200)', measured: `${ms(readyMs)} (slowest of ${r.idle.execToReadyMs.map((v) => Math.round(v)).join(', ')}; with pods ${r.pods.map((p) => Math.round(p.execToReadyMs)).join(', ')}); the loader alone ${r.idle.loaderStartMs.map((v) => Math.round(v)).join(', ')} ms`, bare: `${ms(r.bare.execMs)} (node -e 0)`, goal: '≤ 1 s', met: readyMs <= 1000 },
    { figure: `kill → OTLP log arrival, ${r.single.kills} single kills`, measured: `p50 ${ms(r.single.p50Ms)}, p99 ${ms(r.single.p99Ms)} (kill → read p50 ${ms(r.single.readP50Ms)}, p99 ${ms(r.single.readP99Ms)})`, bare: floor(r.single.floor), goal: 'p99 ≤ 5 ms', met: r.single.p99Ms <= 5 },
    { figure: `within a ${r.burst.kills}-kill burst (${r.burst.seconds.toFixed(1)} s)`, measured: `p50 ${ms(r.burst.p50Ms)}, p99 ${ms(r.burst.p99Ms)} (kill → read p50 ${ms(r.burst.readP50Ms)}, p99 ${ms(r.burst.readP99Ms)}); peak ${mib(r.burst.peakMiB)} = ${(r.burst.peakMiB / r.burst.idleMiB).toFixed(2)} × idle; ${r.burst.cpuMsPerKill.toFixed(1)} ms CPU per kill`, bare: floor(r.burst.floor), goal: 'p99 ≤ 50 ms, peak ≤ 1.5 × idle', met: r.burst.p99Ms <= 50 && r.burst.peakMiB <= 1.5 * r.burst.idleMiB },
  ];
}

export function formatTable(rows: Row[]): string {
  const lines = ['| figure | measured | bare Node 24, same run | goal | met |', '|---|---|---|---|---|'];
  for (const row of rows) lines.push(`| ${row.figure} | ${row.measured} | ${row.bare} | ${row.goal} | ${row.met === undefined ? '' : row.met ? 'yes' : 'no'} |`);
  return lines.join('\n');
}

const { values } = parseArgs({ options: { smoke: { type: 'boolean' }, json: { type: 'string' } } });
const smoke = values.smoke === true;
const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

for (const [name, value] of Object.entries(benchDecoder())) process.stdout.write(`${name}: ${value}\n`);
if (process.getuid?.() !== 0) {
  process.stderr.write('bench: the footprint figures need root (memory cgroups, BPF, real OOM kills)\n');
  process.exit(1);
}
for (const [name, value] of Object.entries(await benchLoader(smoke ? 1 : 5))) process.stdout.write(`${name}: ${value}\n`);
const loadBefore = loadavg();
const startedAt = new Date();
const result = await benchFootprint({ ...(smoke ? SMOKE : FULL), log });
const loadAfter = loadavg();
const rows = tableRows(result);
const load = `load average (1 min) ${loadBefore[0]?.toFixed(2)} before, ${loadAfter[0]?.toFixed(2)} after, on ${navigator.hardwareConcurrency} cores`;
process.stdout.write(`\n${formatTable(rows)}\n\n${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, \`npm run bench${smoke ? ' -- --smoke' : ''}\`, Node ${process.version}, ${load}; memory cgroup limit ${result.memoryLimitMiB} MiB (deploy/daemonset.yaml)\n`);
const o = result.outage;
process.stdout.write([
  `OTLP endpoint down through ${o.kills} kills (${result.pods[0]?.pods} pods): peak ${mib(o.peakMiB)} = ${(o.peakMiB / o.idleMiB).toFixed(2)} × idle, cgroup peak ${mib(o.cgroupPeakMiB)}; all delivered ${o.drainSeconds.toFixed(1)} s after it returned`,
  `memory cgroup (page cache included; Node's binary pages are charged to whichever cgroup first touched them): burst peak ${mib(result.burst.cgroupPeakMiB)}; ${result.pods.at(-1)?.pods}-pod run peak ${mib(result.pods.at(-1)?.cgroupPeakSinceStart ?? NaN)}`,
  '',
].join('\n'));

const missing = rows.filter((row) => /NaN|undefined/.test(row.measured));
if (missing.length > 0) {
  process.stderr.write(`bench: no figure for ${missing.map((r) => r.figure).join(', ')}\n`);
  process.exit(1);
}
const jsonPath = values.json ?? (smoke ? undefined : join(ROOT, 'bench', 'results.json'));
if (jsonPath !== undefined) {
  writeFileSync(jsonPath, `${JSON.stringify({ date: startedAt.toISOString(), command: 'npm run bench', node: process.version, smoke, loadBefore, loadAfter, rows, result }, null, 2)}\n`);
  log(`wrote ${jsonPath}`);
}
