// The spine, end to end: a real OOM kill in the kernel becomes an OTLP log record and a counter
// increment at a real gRPC receiver, attributed from the cgroup path the kernel program read at the kill.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Attr, Sem } from '../../src/attributes.ts';
import { HOG_NAME, startHog, startResident } from '../../src/demo/scratch-cgroup.ts';
import type { ScratchCgroup } from '../../src/demo/scratch-cgroup.ts';
import { scratchCgroups } from '../support/scratch.ts';
import { describeKernel } from '../support/kernel.ts';
import { startOtlpReceiver } from '../support/otlp-receiver.ts';
import type { OtlpReceiver, ReceivedLogRecord } from '../support/otlp-receiver.ts';
import { startReceiver } from '../support/receiver-process.ts';
import type { ReceiverProcess } from '../support/receiver-process.ts';

describeKernel('a real OOM kill, exported over OTLP gRPC', () => {
  const scratch = scratchCgroups('spine');
  let collector: OtlpReceiver;
  let receiver: ReceiverProcess;
  let cgroup: ScratchCgroup | undefined;

  beforeAll(async () => {
    collector = await startOtlpReceiver();
    receiver = startReceiver(['run', '--source', 'bpf'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_METRIC_EXPORT_INTERVAL: '60000', // the counter must arrive because of the kill, not the interval
      NODE_NAME: 'node-under-test',
    });
    await receiver.waitForLine(/"source: bpf, /);
  });
  afterAll(async () => {
    expect(await receiver.stop()).toBe(0);
    await collector.stop();
  });

  const forPid = (pid: number) => (r: ReceivedLogRecord): boolean => r.attributes[Sem.processPid] === pid;

  it('exports the victim\'s pid, name, pod UID and container ID, and counts the kill', async () => {
    cgroup = await scratch({ limitMiB: 48 });
    const hog = startHog(cgroup.dir);
    expect(await hog.exited).toBe('SIGKILL');
    const [record] = await collector.waitForLogRecords(1, 10_000, forPid(hog.pid));
    expect(record?.resource).toMatchObject({
      [Sem.serviceName]: 'oomkill-receiver',
      [Sem.k8sNodeName]: 'node-under-test',
      [Sem.k8sPodUid]: cgroup.podUid,
      [Sem.containerId]: cgroup.containerId,
      [Sem.containerRuntimeName]: 'containerd',
    });
    expect(record?.attributes).toMatchObject({
      // The kernel's task name (the hog renames itself) and the executable it runs are two things.
      [Attr.comm]: HOG_NAME,
      [Sem.processExecutableName]: 'tail',
      [Attr.cgroupPath]: cgroup.path,
      [Attr.constraint]: 'memcg',
      [Attr.mainProcess]: false,
      [Attr.source]: 'bpf',
      [Attr.memcgLimitBytes]: 48 * 1024 * 1024,
    });
    expect(record?.severityText).toBe('WARN');
    expect(record?.body).toBe(`OOM kill: pid ${hog.pid} (${HOG_NAME}) in pod ${cgroup.podUid} container ${cgroup.containerId}, anon-rss ${Math.round((record?.attributes[Attr.anonRssBytes] as number) / 1048576)} MiB, limit 48 MiB`);
    // The record's time is the kernel's time of the kill; it was observed (read) after it.
    expect(record?.observedTimeUnixNano).toBeGreaterThanOrEqual(record?.timeUnixNano ?? 0n);
    // The counter counts every kill the receiver exported: other OOM kills on this machine count too.
    await expect.poll(() => collector.counterTotal('oomkill.kills', { [Attr.source]: 'bpf' }) - collector.logRecords().length, { timeout: 5000 }).toBe(0);
    expect(collector.counterTotal('oomkill.kills', { [Attr.source]: 'bpf' })).toBeGreaterThanOrEqual(1);
    expect(cgroup.oomKills()).toBe(1);
  });

  it('exports a child killed while the cgroup\'s first process lives on', async () => {
    cgroup = await scratch({ limitMiB: 48 });
    const resident = startResident(cgroup.dir);
    const hog = startHog(cgroup.dir);
    expect(await hog.exited).toBe('SIGKILL');
    const [record] = await collector.waitForLogRecords(1, 10_000, forPid(hog.pid));
    expect(record?.resource[Sem.containerId]).toBe(cgroup.containerId);
    expect(() => process.kill(resident.pid, 0)).not.toThrow();
    expect(collector.logRecords().filter(forPid(resident.pid))).toEqual([]);
  });

  it('carries a hostile process name intact and harmless: quotes, newline, escape sequence, invalid UTF-8', async () => {
    const name = Buffer.from([0x22, 0x27, 0x0a, 0x1b, 0x5d, 0x30, 0x3b, 0x70, 0x77, 0x6e, 0x07, 0xff, 0xfe, 0x24, 0x28]); // "'\n ESC]0;pwn BEL \xff\xfe $(
    cgroup = await scratch({ limitMiB: 48 });
    const hog = startHog(cgroup.dir, { name });
    expect(await hog.exited).toBe('SIGKILL');
    const [record] = await collector.waitForLogRecords(1, 10_000, forPid(hog.pid));
    // The attribute holds the name decoded (U+FFFD for the invalid bytes) and the exact bytes in hex.
    expect(record?.attributes[Attr.comm]).toBe(new TextDecoder().decode(name));
    expect(record?.attributes[Attr.commRawHex]).toBe(name.toString('hex'));
    // The one-line body shows control characters as escapes: nothing in it can move a terminal's cursor.
    expect(record?.body).toContain('(\"\'\\x0a\\x1b]0;pwn\\x07\ufffd\ufffd$()');
    expect(String(record?.body)).not.toMatch(/[\u0000-\u001f]/);
  });

  it('counts a burst of 200 kills exactly as the kernel does', async () => {
    cgroup = await scratch({ limitMiB: 32 });
    const inCgroup = (r: ReceivedLogRecord): boolean => r.attributes[Attr.cgroupPath] === cgroup?.path;
    const waves = 20;
    for (let wave = 0; wave < 10; wave++) {
      const hogs = Array.from({ length: waves }, () => startHog(cgroup!.dir));
      await Promise.all(hogs.map((h) => h.exited));
    }
    const kernelCount = cgroup.oomKills();
    expect(kernelCount).toBeGreaterThanOrEqual(200);
    const records = await collector.waitForLogRecords(kernelCount, 20_000, inCgroup);
    await new Promise((r) => setTimeout(r, 500)); // anything beyond the kernel's count would show now
    expect(collector.logRecords().filter(inCgroup)).toHaveLength(kernelCount);
    expect(new Set(records.map((r) => r.attributes[Attr.eventId])).size).toBe(kernelCount);
    // The counter counts every kill this receiver exported, in this test and the ones before it.
    const exported = collector.logRecords().length;
    expect(await collector.waitForCounter('oomkill.kills', exported, 5000, { [Attr.source]: 'bpf' })).toBe(exported);
  });
});
