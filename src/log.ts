// The receiver's own diagnostics: one JSON object per line on stderr. OOM events never go here;
// they are the product and leave as OTLP (or through the console exporter on stdout).

import { safeJson } from './safe-json.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(
  options: { level?: Level; write?: (line: string) => void; base?: Record<string, unknown> } = {},
): Logger {
  const minimum = RANK[options.level ?? 'info'];
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const base = options.base ?? {};
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < minimum) return;
    const record = { time: new Date().toISOString(), level, msg, ...base, ...fields };
    write(`${safeJson(record, errorReplacer)}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger({ ...options, base: { ...base, ...fields } }),
  };
}

/** Errors serialise as their message and cause chain, not as `{}`. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) {
    return { message: value.message, ...(value.cause !== undefined ? { cause: value.cause } : {}) };
  }
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** A logger that keeps nothing: for tests and benchmarks that do not look at diagnostics. */
export const silentLogger: Logger = createLogger({ write: () => {} });
