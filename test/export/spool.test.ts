import { appendFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { EnrichedKill } from '../../src/export/kill-record.ts';
import { Spool } from '../../src/export/spool.ts';
import { createLogger, silentLogger } from '../../src/log.ts';

const kill = (n: number): EnrichedKill => ({
  kill: {
    source: 'bpf', eventId: `boot:bpf:${n}:1`, timeUnixNano: 1_800_000_000_000_000_000n + BigInt(n), observedUnixNano: 1n,
    constraint: 'memcg', constraintInferred: true, victim: { pid: n, comm: { text: 'x\n"y', rawHex: 'ff' } }, memory: {}, cgroup: { path: '/a', pathTruncated: false, id: 2n ** 63n },
  },
  identity: { path: '/a', isKubernetes: false },
  enrichment: { resource: { 'k8s.pod.name': 'p' } },
});

describe('Spool', () => {
  it('keeps undelivered kills across a restart, bigints and hostile strings intact', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const first = new Spool({ dir, logger: silentLogger });
    [1, 2, 3].forEach((n) => first.add(kill(n)));
    first.ack(['boot:bpf:2:1']);
    first.close();
    const second = new Spool({ dir, logger: silentLogger });
    expect(second.pending()).toEqual([kill(1), kill(3)]);
  });

  it('skips a line torn by a crash and loses nothing before it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const first = new Spool({ dir, logger: silentLogger });
    first.add(kill(1));
    first.close();
    appendFileSync(join(dir, 'spool.jsonl'), '{"k":{"kill":{"source":"bp');
    const warnings: string[] = [];
    const second = new Spool({ dir, logger: createLogger({ write: (l) => warnings.push(l) }) });
    expect(second.pending().map((k) => k.kill.eventId)).toEqual(['boot:bpf:1:1']);
    expect(warnings.join('')).toMatch(/torn by a crash/);
  });

  it('drops and counts the oldest past its bound', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    let dropped = 0;
    const spool = new Spool({ dir, maxPending: 3, logger: silentLogger, onDropped: (n) => (dropped += n) });
    [1, 2, 3, 4, 5].forEach((n) => spool.add(kill(n)));
    expect(spool.pending().map((k) => k.kill.victim.pid)).toEqual([3, 4, 5]);
    expect(dropped).toBe(2);
  });

  it('rewrites its file when it grows, keeping only what is pending', () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const spool = new Spool({ dir, compactBytes: 4096, logger: silentLogger });
    for (let n = 0; n < 50; n++) {
      spool.add(kill(n));
      if (n < 48) spool.ack([`boot:bpf:${n}:1`]);
    }
    const lines = readFileSync(join(dir, 'spool.jsonl'), 'utf8').split('\n').filter(Boolean);
    expect(lines.length).toBeLessThan(20);
    spool.close();
    expect(new Spool({ dir, logger: silentLogger }).pending().map((k) => k.kill.victim.pid)).toEqual([48, 49]);
  });

  it('has each kill in its file when add returns (a crash of the receiver keeps it), and closes with a flush under way', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-'));
    const spool = new Spool({ dir, logger: silentLogger });
    for (let n = 0; n < 20; n++) {
      spool.add(kill(n));
      expect(readFileSync(join(dir, 'spool.jsonl'), 'utf8').trim().split('\n')).toHaveLength(n + 1);
    }
    spool.close(); // the flush to disk runs on the thread pool meanwhile
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(new Spool({ dir, logger: silentLogger }).pending()).toHaveLength(20);
  });

  it('does not spool the same kill twice', () => {
    const spool = new Spool({ dir: mkdtempSync(join(tmpdir(), 'spool-')), logger: silentLogger });
    spool.add(kill(1));
    spool.add(kill(1));
    expect(spool.size).toBe(1);
  });
});
