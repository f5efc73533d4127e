// Runs the real oomkill-receiver CLI as a child process, as a user would, and watches its diagnostics.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../bin/oomkill-receiver', import.meta.url));

export interface ReceiverProcess {
  child: ChildProcess;
  stdout(): string;
  stderrLines(): string[];
  /** Resolves with the first diagnostic line matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** SIGTERM (or the given signal), then the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * `entry` defaults to the CLI (the TypeScript sources), run by this Node; benchmarks pass the compiled
 * dist/main.js. An entry that is not a .ts/.js file is run as a program itself, with `args`.
 */
export function startReceiver(args: string[], env: Record<string, string> = {}, entry = CLI): ReceiverProcess {
  const script = entry === CLI || /\.(ts|js)$/.test(entry);
  const child = spawn(script ? process.execPath : entry, script ? [entry, ...args] : args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let out = '';
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  if (child.stderr) {
    createInterface({ input: child.stderr }).on('line', (line) => {
      lines.push(line);
      for (const w of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    });
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderrLines: () => [...lines],
    waitForLine(pattern, timeoutMs = 20_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms; stderr:\n${lines.join('\n')}`)), timeoutMs);
        waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolve(line)) });
        void exited.then((code) => reject(new Error(`receiver exited (${code}) before a line matching ${pattern}; stderr:\n${lines.join('\n')}`)));
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
    exited,
  };
}
