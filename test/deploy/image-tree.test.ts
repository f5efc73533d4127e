// The image's file tree, built outside Docker by the same script the Dockerfile runs, works: it holds
// what the runtime needs and nothing else, runs the demo, and its receiver runs unprivileged with only
// the loader holding capabilities.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeKernel } from '../support/kernel.ts';
import { startReceiver } from '../support/receiver-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let tree = '';

beforeAll(() => {
  const parent = mkdtempSync(join(tmpdir(), 'oomkill-image-'));
  chmodSync(parent, 0o755); // the unprivileged user of the last test must reach it
  tree = join(parent, 'app');
  execFileSync(join(ROOT, 'scripts', 'build-image-tree.sh'), [tree], { cwd: ROOT, stdio: 'pipe' });
}, 300_000);
afterAll(() => rmSync(join(tree, '..'), { recursive: true, force: true }));

describe('the image tree', () => {
  it('holds the compiled receiver, production dependencies and the loader, and no sources or dev tools', () => {
    for (const path of ['dist/main.js', 'bin/oomkill-receiver', 'bpf/.output/oomkill-loader', 'node_modules/@opentelemetry/sdk-logs', 'node_modules/@kubernetes/client-node']) {
      expect(existsSync(join(tree, path)), path).toBe(true);
    }
    for (const path of ['src', 'test', 'node_modules/typescript', 'node_modules/vitest', 'bpf/oomkill.bpf.c']) {
      expect(existsSync(join(tree, path)), path).toBe(false);
    }
  });

  it('finds its loader where the tree puts it, with no OOMKILL_LOADER_PATH', () => {
    const script = `const { loadConfig } = await import(${JSON.stringify(join(tree, 'dist/config.js'))}); console.log(loadConfig(['run'], {}).bpf.loaderPath);`;
    const printed = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }).trim();
    expect(printed).toBe(join(tree, 'bpf/.output/oomkill-loader'));
  });

  it('answers --help, through the image\'s entry point and from dist/main.js', () => {
    for (const entry of ['bin/oomkill-receiver', 'dist/main.js']) {
      const result = spawnSync(process.execPath, [join(tree, entry), '--help'], { encoding: 'utf8' });
      expect(result.status, entry).toBe(0);
      expect(result.stdout, entry).toMatch(/^usage: oomkill-receiver/);
    }
  });
});

describeKernel('the image tree on this kernel', () => {
  it('runs the demo: a real OOM kill, shown and cleaned up', () => {
    const result = spawnSync(process.execPath, [join(tree, 'bin/oomkill-receiver'), 'demo'], { encoding: 'utf8', timeout: 60_000 });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/WARN OOM kill: pid \d+ \(oomkill-hog\) in pod [0-9a-f-]{36} container [0-9a-f]{64}, anon-rss \d+ MiB, limit 64 MiB/);
    expect(result.stderr).toMatch(/demo: removed \/oomkill-demo-/);
  });

  it('runs unprivileged: the receiver as nobody with no capabilities, the loader with its file capabilities', async () => {
    expect(execFileSync('getcap', [join(tree, 'bpf/.output/oomkill-loader')], { encoding: 'utf8' })).toMatch(/cap_perfmon,cap_bpf=p/);
    const wrapper = join(tree, '..', 'as-nobody.sh');
    execFileSync('sh', ['-c', `printf '#!/bin/sh\\nexec setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all "$@"\\n' > ${wrapper} && chmod 755 ${wrapper}`]);
    const receiver = startReceiver([process.execPath, join(tree, 'bin/oomkill-receiver'), 'run', '--source', 'bpf'], {}, wrapper);
    try {
      await receiver.waitForLine(/"source: bpf, (tp_btf|raw_tp)\/mark_victim/);
      const status = execFileSync('cat', [`/proc/${receiver.child.pid}/status`], { encoding: 'utf8' });
      expect(status).toMatch(/^Uid:\s+65534/m);
      expect(status).toMatch(/^CapEff:\s+0000000000000000$/m);
    } finally {
      expect(await receiver.stop()).toBe(0);
    }
  });
});
