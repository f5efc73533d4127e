// CO-RE: the one BPF object relocates against kernels other than this one. The loader's --check opens the
// object with libbpf's btf_custom_path set to a kernel's BTF and loads it without attaching: libbpf
// relocates for that kernel, then this kernel's verifier checks the relocated code, so a relocation that
// fails on a path the program can take is a load failure. The kernels: Debian's 5.10, 6.1 and 6.12 kernels
// (fetched by scripts/fetch-kernel-btf.sh) and this machine's own.
//
// The fentry programs are not checked: this kernel refuses the tracing program type whatever the BTF. Their
// kprobe twins run the same code on the same arguments.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release as kernelRelease, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeKernel, LOADER_PATH } from '../support/kernel.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BTF_DIR = join(ROOT, '.cache', 'kernel-btf');
const FIXTURES = join(ROOT, 'test', 'testdata', 'btf');

/** Release as major.minor: the name the fetch script gives this kernel's BTF. */
const THIS_KERNEL = kernelRelease().split('.').slice(0, 2).join('.');
const KERNELS = [...new Set(['5.10', '6.1', '6.12', THIS_KERNEL])];

// Loader exit codes (bpf/loader.c).
const EXIT_NO_BTF = 3;
const EXIT_NO_HOOK = 5;

/** Hooks checked, with what the loader loads for each and the names of those programs in the object. */
const HOOKS = [
  { hook: 'tp_btf', loads: 'tp_btf/mark_victim', programs: ['tp_btf_mark_victim'] },
  { hook: 'raw_tp', loads: 'raw_tp/mark_victim', programs: ['raw_tp_mark_victim'] },
  {
    hook: 'kprobe',
    loads: 'kprobe/oom_kill_process+kprobe/oom_kill_memcg_member',
    programs: ['kprobe_oom_kill_process', 'kprobe_oom_kill_memcg_member'],
  },
] as const;

/**
 * Fields the kernel renamed or retyped, each read through two flavours in bpf/oomkill.bpf.c: the
 * accesses a kernel before `since` has, and those it has from `since` on. On each kernel exactly the
 * other era's accesses stay unresolved (dead code the verifier never walks); every other one resolves.
 */
const FLAVOURS = [
  { field: 'kernfs_node parent', since: '6.15', before: ['kernfs_node___pre615.parent'], after: ['kernfs_node___615.__parent'] },
  {
    field: 'mm_struct RSS counters',
    since: '6.2',
    before: ['mm_struct___pre62.rss_stat', 'mm_struct___pre62.rss_stat.count'],
    after: ['mm_struct.rss_stat'],
  },
] as const;

const versionAtLeast = (release: string, since: string): boolean => {
  const [major = 0, minor = 0] = release.split('.').map(Number);
  const [sinceMajor = 0, sinceMinor = 0] = since.split('.').map(Number);
  return major !== sinceMajor ? major > sinceMajor : minor >= sinceMinor;
};

const expectedUnresolved = (release: string): string[] =>
  FLAVOURS.flatMap((f) => (versionAtLeast(release, f.since) ? f.before : f.after)).sort();

const btfOf = (release: string) => join(BTF_DIR, `${release}.btf`);

const runLoader = (args: string[]) =>
  spawnSync(LOADER_PATH, args, { encoding: 'utf8', maxBuffer: 1 << 28 });

const check = (btf: string, hook?: string) => runLoader(['--check', ...(hook ? ['--hook', hook] : []), '--btf', btf]);

/**
 * The CO-RE relocations of `program` in libbpf's debug log, by local access (`kernfs_node___615.__parent`,
 * `cgroup_subsys_id::memory_cgrp_id`): whether each found its field in the target BTF. libbpf logs
 * `relo #N: <kind> [type] struct A.b (...)`, then `relo #N: matching candidate ...` or
 * `relo #N: no matching targets found`.
 */
function relocationOutcomes(log: string, program: string): Map<string, Set<boolean>> {
  const prefix = `prog '${program}': relo #`;
  const accessOf = new Map<string, string>();
  const outcomes = new Map<string, Set<boolean>>();
  const note = (relo: string, resolved: boolean) => {
    const access = accessOf.get(relo);
    if (access === undefined) throw new Error(`relo #${relo} has an outcome but no access in the log`);
    outcomes.set(access, (outcomes.get(access) ?? new Set()).add(resolved));
  };
  for (const line of log.split('\n')) {
    const at = line.indexOf(prefix);
    if (at < 0) continue;
    const [, relo = '', text = ''] = /^(\d+): (.*)$/.exec(line.slice(at + prefix.length)) ?? [];
    const access = /^<\w+> \[\d+\] (?:struct|union|typedef|enum) (\S+)/.exec(text)?.[1];
    if (access !== undefined) accessOf.set(relo, access);
    else if (text.startsWith('matching candidate')) note(relo, true);
    else if (text.startsWith('no matching targets found')) note(relo, false);
  }
  return outcomes;
}

describeKernel('CO-RE relocation against other kernels\' BTF', () => {
  let scratch = '';
  /** Compiles a C fixture into an ELF whose .BTF describes an imaginary kernel. */
  const fixtureBtf = (name: string): string => {
    const object = join(scratch, `${name}.o`);
    execFileSync('clang', ['-g', '-target', 'bpf', '-c', join(FIXTURES, `${name}.c`), '-o', object]);
    return object;
  };

  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), 'oomkill-btf-'));
    if (!KERNELS.every((release) => existsSync(btfOf(release)))) {
      execFileSync(join(ROOT, 'scripts', 'fetch-kernel-btf.sh'), [BTF_DIR], { stdio: 'inherit' });
    }
  }, 300_000);
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  for (const release of KERNELS) {
    for (const { hook, loads, programs } of HOOKS) {
      it(`loads the ${hook} programs relocated for ${release}, reporting no unresolved relocation`, () => {
        const result = check(btfOf(release), hook);
        expect(result.stderr).toBe(
          `oomkill-loader: check: ${loads} loads with every CO-RE relocation resolved against ${btfOf(release)}\n`,
        );
        expect(result.status).toBe(0);
      });

      for (const program of programs) {
        it(`relocates ${program} for ${release} through that era's flavours, and resolves every other field`, () => {
          const log = runLoader(['--check', '--hook', hook, '--btf', btfOf(release), '--verbose']).stderr;
          const outcomes = relocationOutcomes(log, program);
          const mixed = [...outcomes].filter(([, seen]) => seen.size > 1).map(([access]) => access);
          const unresolved = [...outcomes].filter(([, seen]) => !seen.has(true)).map(([access]) => access);
          expect(outcomes.size).toBeGreaterThan(20);
          expect(mixed).toEqual([]);
          expect(unresolved.sort()).toEqual(expectedUnresolved(release));
        });
      }
    }

    it(`prefers oom_kill_process with oom_kill_memcg_member on ${release}, which sees every kill of a group kill`, () => {
      // fentry is refused by this machine's kernel whatever the BTF: the kprobe pair is the best that loads here.
      const result = check(btfOf(release));
      expect(result.stderr).toMatch(
        /^oomkill-loader: check: kprobe\/oom_kill_process\+kprobe\/oom_kill_memcg_member loads with every CO-RE relocation resolved/,
      );
      expect(result.status).toBe(0);
    });

    it(`verifies each program for ${release} in a small fraction of the verifier's limit`, () => {
      // The cgroup path walk once took 968,000 of the million instructions the verifier allows, and 0.4 s a load.
      const log = runLoader(['--check', '--hook', 'kprobe,tp_btf', '--btf', btfOf(release), '--verbose']).stderr;
      const processed = [...log.matchAll(/^processed (\d+) insns/gm)].map((m) => Number(m[1]));
      expect(processed.length).toBeGreaterThan(0);
      for (const insns of processed) expect(insns).toBeLessThan(200_000);
    });
  }

  it('fails, naming the missing field, against a kernel whose task_struct lacks what the program reads', () => {
    const result = check(fixtureBtf('too-old-kernel'), 'raw_tp');
    expect(result.status).toBe(EXIT_NO_HOOK);
    expect(result.stderr).toMatch(
      /^oomkill-loader: failed to resolve CO-RE relocation <byte_off> \[\d+\] struct task_struct\.group_leader .*\n/,
    );
    expect(result.stderr).toMatch(
      /no hook could attach \(tried raw_tp\/mark_victim: load: .*failed to resolve CO-RE relocation .*struct task_struct\.group_leader/,
    );
  });

  it('passes over the mark_victim hooks where mark_victim passes only a pid, and oom_kill_memcg_member where it is not in BTF, saying why', () => {
    const result = check(fixtureBtf('mark-victim-pid-only'));
    const passedOver = 'mark_victim passes only a pid on this kernel (the victim task arrived in 6.8)';
    const absent = 'oom_kill_memcg_member is not in the kernel\'s BTF (inlined or absent)';
    expect(result.status).toBe(EXIT_NO_HOOK);
    expect(result.stderr).toContain(
      `no hook could attach (tried tp_btf/mark_victim: ${passedOver}; raw_tp/mark_victim: ${passedOver}; `
      + `fentry/oom_kill_memcg_member: ${absent}; kprobe/oom_kill_memcg_member: ${absent}; fentry/oom_kill_process: load: `,
    );
    // Then oom_kill_process alone, the last resort, is tried (and fails here on the fixture's missing types).
    expect(result.stderr).toContain('kprobe/oom_kill_process: load: ');
  });

  it('refuses a file that is not BTF with a clear reason', () => {
    const truncated = join(scratch, 'truncated.btf');
    writeFileSync(truncated, readFileSync(btfOf('6.1')).subarray(0, 100_000));
    for (const notBtf of [truncated, LOADER_PATH]) {
      const result = check(notBtf, 'tp_btf,raw_tp');
      expect(result.status).toBe(EXIT_NO_BTF);
      expect(result.stderr).toMatch(/^oomkill-loader: cannot read BTF from \S+ \(.+\): give a kernel's BTF, raw or in an ELF's \.BTF section\n$/);
    }
  });

  it('says there is no BTF at a path that does not exist', () => {
    const result = check(join(scratch, 'absent.btf'));
    expect(result.status).toBe(EXIT_NO_BTF);
    expect(result.stderr).toMatch(/^oomkill-loader: no BTF at \S+absent\.btf \(No such file or directory\)/);
  });
});
