// --source auto: the first source that starts wins; a node that runs less than the best warns once, with
// what is lost, why and the fix, and a node that runs the best says so at level info.
import { describe, expect, it } from 'vitest';
import type { SourceName } from '../../src/event.ts';
import { createLogger } from '../../src/log.ts';
import { degradationsOf, startFirstWorking } from '../../src/sources/select.ts';
import type { Degradation, Source, SourceHandlers, SourceInfo } from '../../src/sources/source.ts';

const handlers: SourceHandlers = { onKill: () => {}, onLost: () => {}, onProblem: () => {} };
const refusing = (name: SourceName, reason: string): Source => ({ name, start: () => Promise.reject(new Error(`${name}: ${reason}`)), stop: async () => {} });
const starting = (info: SourceInfo): Source => ({ name: info.name, start: async () => info, stop: async () => {} });

function capture(): { logger: ReturnType<typeof createLogger>; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  return { logger: createLogger({ write: (l) => lines.push(JSON.parse(l) as Record<string, unknown>) }), lines };
}

describe('startFirstWorking', () => {
  it('says at level info which source runs when it is the best', async () => {
    const { logger, lines } = capture();
    const started = await startFirstWorking([starting({ name: 'bpf', detail: 'tp_btf/mark_victim on Linux 6.18', hook: 'tp_btf/mark_victim' })], handlers, logger);
    expect(started.degraded).toEqual([]);
    expect(lines).toMatchObject([{ level: 'info', msg: 'source: bpf, tp_btf/mark_victim on Linux 6.18' }]);
  });

  it('warns once on a fallback: the source, each better source\'s reason, what is lost and the fix', async () => {
    const { logger, lines } = capture();
    const started = await startFirstWorking([refusing('bpf', 'not permitted (CAP_BPF)'), refusing('kmsg', 'cannot open /dev/kmsg (EPERM)'), starting({ name: 'cgroup', detail: 'OOM kill counters of 3 cgroups' })], handlers, logger);
    expect(started.degraded.map((d) => d.reason)).toEqual(['fallback-source']);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', source: 'cgroup', degraded: ['fallback-source'], refused: ['bpf: not permitted (CAP_BPF)', 'kmsg: cannot open /dev/kmsg (EPERM)'] });
    const msg = lines[0]?.msg as string;
    expect(msg).toMatch(/^source: cgroup, OOM kill counters of 3 cgroups \(not bpf: not permitted \(CAP_BPF\); kmsg: cannot open \/dev\/kmsg \(EPERM\)\); degraded: fallback-source: /);
    expect(msg).toContain('no process (no pid, name, memory figures or main-process flag)');
    expect(msg).toContain('fix: ');
  });

  it('warns when the best source runs but gives up something itself, with its own reason and fix', async () => {
    const { logger, lines } = capture();
    const unpinned: Degradation = { reason: 'unpinned', lost: 'kills made while the receiver restarts', fix: 'give the loader a bpffs directory it can write' };
    const started = await startFirstWorking([starting({ name: 'bpf', detail: 'raw_tp/mark_victim on Linux 6.1', hook: 'raw_tp/mark_victim', degraded: [unpinned] })], handlers, logger);
    expect(started.degraded).toEqual([unpinned]);
    expect(lines).toMatchObject([{ level: 'warn', msg: 'source: bpf, raw_tp/mark_victim on Linux 6.1; degraded: unpinned: kills made while the receiver restarts; fix: give the loader a bpffs directory it can write', hook: 'raw_tp/mark_victim', degraded: ['unpinned'] }]);
  });

  it('fails listing every reason when nothing can run', async () => {
    const { logger } = capture();
    await expect(startFirstWorking([refusing('bpf', 'no BTF'), refusing('cgroup', 'no memory controller')], handlers, logger))
      .rejects.toThrow('no OOM kill source can run on this node: bpf: no BTF; cgroup: no memory controller');
  });
});

describe('degradationsOf', () => {
  it('is a fallback only when a better source was refused, not when a source was chosen on purpose', () => {
    expect(degradationsOf({ name: 'kmsg', detail: '' }, [])).toEqual([]);
    expect(degradationsOf({ name: 'kmsg', detail: '' }, ['bpf: no BTF']).map((d) => d.reason)).toEqual(['fallback-source']);
  });
});
