// Gate for tests that need the real kernel (BPF, memory cgroups, OOM kills). Without what they need they
// skip with the reason; under REQUIRE_BPF=1 (CI) the missing capability is a failure instead.
import { accessSync, constants, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import { memoryController } from '../../src/demo/scratch-cgroup.ts';

export const LOADER_PATH = fileURLToPath(new URL('../../bpf/.output/oomkill-loader', import.meta.url));

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelTestsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'kernel tests need root (BPF, memory cgroups)';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'no BTF at /sys/kernel/btf/vmlinux';
  if (!memoryController()) return 'no memory cgroup controller';
  try {
    accessSync(LOADER_PATH, constants.X_OK);
  } catch {
    return `the loader is not built (${LOADER_PATH}): run make -C bpf`;
  }
  return undefined;
}

/** describe() for kernel tests: runs, skips with a reason, or (REQUIRE_BPF=1) fails with it. */
export function describeKernel(name: string, body: () => void): void {
  const missing = kernelTestsUnavailable();
  if (missing === undefined) {
    describe(name, body);
  } else if (process.env.REQUIRE_BPF === '1') {
    describe(name, () => {
      throw new Error(`REQUIRE_BPF=1 but ${missing}`);
    });
  } else {
    describe.skip(`${name} (skipped: ${missing})`, body);
  }
}
