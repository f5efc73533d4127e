// The kernel tier's results: the README's support table is made from the last recorded run, never typed by
// hand, and a kernel whose guest died shows every check it did not finish as a failure.
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CHECK_NAMES, LAST_RUN_PATH, README_PATH, gather, supportTable, withSupportTable } from '../../scripts/kernel-tier/results.ts';
import type { KernelResult, TierRun } from '../../scripts/kernel-tier/results.ts';

const pass = (check: string, data?: Record<string, unknown>) => ({ check, status: 'PASS' as const, detail: 'ok', seconds: 1, ...(data ? { data } : {}) });

describe('the README kernel support table', () => {
  it('is exactly what the generator makes from test/testdata/kernel-tier/last-run.json', () => {
    const run = JSON.parse(readFileSync(LAST_RUN_PATH, 'utf8')) as TierRun;
    const readme = readFileSync(README_PATH, 'utf8');
    expect(readme).toContain(supportTable(run));
    expect(withSupportTable(readme, run)).toBe(readme);
  });

  it('names the auto hook, the hooks that delivered kills, the group-kill outcome and what failed', () => {
    const kernel: KernelResult = {
      kernel: '5.10',
      release: '5.10.0-1-amd64',
      checks: [
        pass('hook-fentry', { offered: true }),
        pass('hook-kprobe', { offered: true }),
        pass('hook-tp_btf', { offered: false }),
        { check: 'hook-raw_tp', status: 'FAIL', detail: 'receiver did not start', seconds: 3 },
        pass('k8s-layout', { autoHook: 'fentry/oom_kill_process' }),
        { check: 'group-kill', status: 'FAIL', detail: '1 records (want 3)', seconds: 9 },
        { check: 'daemonset', status: 'FAIL', detail: 'launcher missing', seconds: 0 },
      ],
    };
    const table = supportTable({ finished: '2026-12-01T04:00:00Z', kernels: [kernel] });
    expect(table.split('\n')).toContain(
      '| 5.10 (5.10.0-1-amd64) | fentry/oom_kill_process | fentry, kprobe | incomplete: 1 records (want 3) | no tp_btf (not offered); hook-raw_tp: receiver did not start; daemonset: launcher missing |',
    );
  });
});

describe('gather', () => {
  it('fails every check a kernel did not report, with why its guest ended', () => {
    const run = mkdtempSync(join(tmpdir(), 'kernel-tier-'));
    try {
      mkdirSync(join(run, '6.1'));
      writeFileSync(join(run, '6.1', 'status'), '124\n');
      writeFileSync(join(run, '6.1', 'results.json'), JSON.stringify({ kernel: '6.1', release: '6.1.0-57-amd64', checks: [pass('hook-fentry', { offered: true })] }));
      const { run: result, passed, lines } = gather(run, ['6.1']);
      expect(passed).toBe(false);
      const checks = result.kernels[0]?.checks ?? [];
      expect(checks.map((c) => c.check)).toEqual(CHECK_NAMES);
      expect(checks.filter((c) => c.status === 'FAIL')).toHaveLength(CHECK_NAMES.length - 1);
      expect(lines).toContain(`kernel-tier 6.1 hook-kprobe FAIL not run: the guest did not finish within its timeout (console: ${join(run, '6.1', 'console.log')}) (0s)`);
    } finally {
      rmSync(run, { recursive: true, force: true });
    }
  });
});
