// CO-RE: the one BPF object relocates against kernels other than this one. Debian's 6.1 and 6.12 cloud
// kernels still name the kernfs parent `parent`; this machine's 6.18 names it `__parent`. The loader's
// --check opens the object with libbpf's btf_custom_path set to each kernel's BTF and loads it (the
// verifier of this kernel runs on code relocated for that one), without attaching.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { describeKernel, LOADER_PATH } from '../support/kernel.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BTF_DIR = join(ROOT, '.cache', 'kernel-btf');
const KERNELS = [
  { name: '6.1', parentField: 'kernfs_node___pre615.parent' },
  { name: '6.12', parentField: 'kernfs_node___pre615.parent' },
  { name: 'running', parentField: 'kernfs_node___615.__parent' },
] as const;
const HOOKS = ['kprobe', 'tp_btf', 'raw_tp'] as const;

const check = (btf: string, hook: string, verbose = false) =>
  spawnSync(LOADER_PATH, ['--check', '--hook', hook, '--btf', btf, ...(verbose ? ['--verbose'] : [])], { encoding: 'utf8', maxBuffer: 1 << 28 });

describeKernel('CO-RE relocation against other kernels\' BTF', () => {
  beforeAll(() => {
    if (!KERNELS.every((k) => existsSync(join(BTF_DIR, `${k.name}.btf`)))) {
      execFileSync(join(ROOT, 'scripts', 'fetch-kernel-btf.sh'), [BTF_DIR], { stdio: 'inherit' });
    }
  }, 300_000);

  for (const kernel of KERNELS) {
    for (const hook of HOOKS) {
      it(`loads the ${hook} program relocated for ${kernel.name}`, () => {
        const result = check(join(BTF_DIR, `${kernel.name}.btf`), hook);
        expect(result.stderr).toMatch(new RegExp(`check: ${hook}/\\S+ loads with every CO-RE relocation resolved`));
        expect(result.stderr).not.toMatch(/failed to resolve CO-RE relocation/);
        expect(result.status).toBe(0);
      });
    }

    it(`reads the kernfs parent through ${kernel.parentField} on ${kernel.name}`, () => {
      const log = check(join(BTF_DIR, `${kernel.name}.btf`), 'raw_tp', true).stderr;
      expect(log).toMatch(new RegExp(`raw_tp_mark_victim': relo #\\d+: <byte_off> \\[\\d+\\] struct ${kernel.parentField.replace('.', '\\.')} .*\\n.*matching candidate`));
    });
  }

  it('fails, naming the missing field, against a kernel whose task_struct lacks what the program reads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'oomkill-btf-'));
    const object = join(dir, 'too-old-kernel.o');
    execFileSync('clang', ['-g', '-target', 'bpf', '-c', join(ROOT, 'test/testdata/btf/too-old-kernel.c'), '-o', object]);
    const result = check(object, 'raw_tp');
    expect(result.status).toBe(5);
    expect(result.stderr).toMatch(/no hook could attach \(tried raw_tp\/mark_victim: load: .*failed to resolve CO-RE relocation .*struct task_struct\.cred/);
  });

  it('refuses a file that is not BTF with a clear reason', () => {
    const result = check(LOADER_PATH, 'raw_tp');
    expect(result.status).toBe(5);
    expect(result.stderr).toMatch(/raw_tp\/mark_victim: cannot read the kernel's BTF/);
  });
});
