// The console default must be harmless whatever a process calls itself.
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { describe, expect, it } from 'vitest';
import { ConsoleKillLogExporter } from '../../src/export/console-exporters.ts';
import { killAttributes, killBody, printable } from '../../src/export/kill-record.ts';
import type { EnrichedKill } from '../../src/export/kill-record.ts';

const hostile = '"\'\n\r\t\u001b]0;owned\u0007\u001b[2J\u009b31m\u2028$(rm -rf /)`x`\ufffd';
const enriched: EnrichedKill = {
  kill: {
    source: 'bpf', eventId: 'e', timeUnixNano: 1_800_000_000_000_000_000n, observedUnixNano: 1_800_000_000_001_000_000n,
    constraint: 'memcg', constraintInferred: false, victim: { pid: 7, comm: { text: hostile, rawHex: 'ff' } },
    memory: { anonRssBytes: 64 << 20 }, cgroup: { path: `/kubepods/pod${hostile}`, pathTruncated: true },
  },
  identity: { path: '/x', isKubernetes: false },
  enrichment: { resource: { 'k8s.pod.name': hostile, 'k8s.namespace.name': 'ns' } },
};

describe('hostile process names and paths', () => {
  it('are escaped in the one-line body: no control character, no line break', () => {
    const body = killBody(enriched);
    expect(body).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
    expect(body).toContain('pid 7 ("\'\\x0a\\x0d\\x09\\x1b]0;owned\\x07\\x1b[2J\\x9b31m\\u2028$(rm -rf /)`x`\ufffd)');
  });

  it('are kept exact in the attributes, where they are data, not text on a terminal', () => {
    expect(killAttributes(enriched)).toMatchObject({ 'oomkill.victim.comm': hostile, 'oomkill.victim.comm_raw_hex': 'ff', 'oomkill.cgroup.path_truncated': true });
  });

  it('cannot move the cursor or forge a line on the console', async () => {
    let out = '';
    const provider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: new ConsoleKillLogExporter((t) => (out += t)) })] });
    provider.getLogger('t').emit({ body: killBody(enriched), attributes: killAttributes(enriched), severityText: 'WARN' });
    await provider.forceFlush();
    expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029]/); // only the two newlines that end its lines
    expect(out.split('\n')).toHaveLength(3);
    expect(JSON.parse(out.split('\n')[1] as string).attributes['oomkill.victim.comm']).toBe(hostile);
  });

  it.each([['\u0000', '\\x00'], ['\u007f', '\\x7f'], ['ok', 'ok'], ['é', 'é']])('printable(%j) is %j', (input, expected) => {
    expect(printable(input)).toBe(expected);
  });
});
