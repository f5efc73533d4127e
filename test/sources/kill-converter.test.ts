// The bpf source's conversion of a kill frame: when the kernel's OOM began, for the kill's span.
import { describe, expect, it } from 'vitest';
import { FrameDecoder, KillFlag } from '../../src/sources/bpf-frames.ts';
import type { HelloFrame, KillFrame } from '../../src/sources/bpf-frames.ts';
import { KillConverter } from '../../src/sources/bpf-source.ts';
import { helloFrame, killFrame } from '../support/frames.ts';

const decode = (fields: Parameters<typeof killFrame>[0]): { hello: HelloFrame; kill: KillFrame } => {
  const [hello, kill] = new FrameDecoder().push(Buffer.concat([helloFrame({ realtimeNs: 1_700_000_000_000_000_000n, boottimeNs: 1_000_000_000n }), killFrame(fields)]));
  return { hello: hello as HelloFrame, kill: kill as KillFrame };
};

describe('KillConverter', () => {
  it('starts the OOM where an oom_kill_process program saw it, in wall time', () => {
    const { hello, kill } = decode({ boottimeNs: 5_000_000_000n, oomId: 4_999_000_000n });
    const converted = new KillConverter(hello).toOomKill(kill);
    expect(converted.oomStartUnixNano).toBe(1_700_000_003_999_000_000n);
    expect(converted.timeUnixNano).toBe(1_700_000_004_000_000_000n);
  });

  it('claims no start when the OOM id was inferred (the first victim\'s kill time, not the OOM\'s start)', () => {
    const { hello, kill } = decode({ boottimeNs: 5_000_000_000n, oomId: 4_000_000_000n, flags: KillFlag.oomIdInferred });
    expect(new KillConverter(hello).toOomKill(kill).oomStartUnixNano).toBeUndefined();
  });
});
