// The image's file tree, built outside Docker by the same script the Dockerfile runs, works: it holds
// what the runtime needs and nothing else, runs the demo, and its receiver runs unprivileged with only
// the loader holding capabilities. The benchmarks (bench/image.ts) build and start the same tree the
// same way, from the Dockerfile itself.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonSetReceiver, imageArgv, readDockerfile } from '../../bench/image.ts';
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
  it('holds the receiver as a bundle and the loader, and no node_modules, sources or dev tools', () => {
    for (const path of ['dist/main.js', 'bin/oomkill-receiver', 'bpf/.output/oomkill-loader', 'package.json']) {
      expect(existsSync(join(tree, path)), path).toBe(true);
    }
    for (const path of ['node_modules', 'src', 'test', 'bench', 'bpf/oomkill.bpf.c']) {
      expect(existsSync(join(tree, path)), path).toBe(false);
    }
  });

  it('encodes OTLP strings with the native UTF-8 encoder in every copy of the serializer (scripts/native-utf8.ts)', () => {
    const chunks = readdirSync(join(tree, 'dist')).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(tree, 'dist', f), 'utf8'));
    const writers = chunks.filter((text) => text.includes('writeString(str)'));
    expect(writers.length).toBeGreaterThan(0);
    for (const text of writers) {
      expect(text).toContain('encodeInto(str,');
      expect(text).not.toMatch(/isAscii/);
    }
  });

  it('keeps the Kubernetes client out of the main bundle: it is a chunk loaded only in Kubernetes mode', () => {
    const main = readFileSync(join(tree, 'dist/main.js'), 'utf8');
    expect(main).not.toMatch(/KubeConfig ?= ?class\b|class KubeConfig\b/);
    const chunks = readdirSync(join(tree, 'dist')).filter((f) => f.endsWith('.js')).map((f) => readFileSync(join(tree, 'dist', f), 'utf8'));
    expect(chunks.some((text) => /KubeConfig ?= ?class\b|class KubeConfig\b/.test(text))).toBe(true);
  });

  it('finds its loader where the tree puts it, with no OOMKILL_LOADER_PATH', () => {
    // Only the loader itself says "no BTF at": the receiver found it and ran it.
    const result = spawnSync(process.execPath, [join(tree, 'bin/oomkill-receiver'), 'run', '--source', 'bpf', '--btf', '/nonexistent-btf'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
    expect(result.stderr).toMatch(/"loader: no BTF at \/nonexistent-btf/);
    expect(result.stderr).not.toMatch(/cannot run the loader/);
  });

  it('answers --help, through the image\'s entry point and from dist/main.js', () => {
    for (const entry of ['bin/oomkill-receiver', 'dist/main.js']) {
      const result = spawnSync(process.execPath, [join(tree, entry), '--help'], { encoding: 'utf8' });
      expect(result.status, entry).toBe(0);
      expect(result.stdout, entry).toMatch(/^usage: oomkill-receiver/);
    }
  });
});

describe('the benchmark runs what the image runs', () => {
  it('the Dockerfile builds its tree with the script the benchmark and this test build with, and copies it to the app directory', () => {
    const image = readDockerfile();
    expect(image.buildScript).toBe('scripts/build-image-tree.sh');
    expect(image.appDir).toBe('/app');
    expect(image.env.NODE_ENV).toBe('production');
    expect(image.uid).toBe(65532);
  });

  it('the benchmark starts the tree with the Dockerfile\'s ENTRYPOINT and CMD, V8 flags included', () => {
    const image = readDockerfile();
    const argv = imageArgv(image, tree);
    expect(argv[0]).toBe(process.execPath);
    expect(argv.slice(1)).toEqual(image.argv.slice(1).map((a) => a.replace(/^\/app\//, `${tree}/`)));
    expect(argv).toContain(join(tree, 'bin/oomkill-receiver'));
    const result = spawnSync(argv[0] as string, [...argv.slice(1, -1), '--help'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...image.env } });
    expect(result.stdout).toMatch(/^usage: oomkill-receiver/);
  });

  it('the benchmark\'s memory limit and environment are the DaemonSet receiver\'s', () => {
    const receiver = daemonSetReceiver();
    expect(receiver.memoryLimitBytes).toBeGreaterThanOrEqual(64 * 2 ** 20);
    expect(receiver.env.OTEL_EXPORTER_OTLP_ENDPOINT).toMatch(/^http:\/\/localhost:4317$/);
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
