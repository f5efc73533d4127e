import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.ts';
import { ExportFailures } from '../../src/export/export-failures.ts';

describe('ExportFailures', () => {
  const setup = () => {
    const lines: Array<Record<string, unknown>> = [];
    let now = 1_000_000;
    const failures = new ExportFailures({
      signal: 'logs',
      endpoint: 'http://collector:4318/v1/logs',
      consequence: 'the kills wait in the spool and are retried',
      intervalMs: 60_000,
      logger: createLogger({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
      now: () => now,
    });
    return { lines, failures, advance: (ms: number) => (now += ms) };
  };

  it('warns when failures start, then at most once per interval with the count in between, and says when exports work again', () => {
    const { lines, failures, advance } = setup();
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:4318'), { code: 'ECONNREFUSED' });
    failures.failed(refused);
    expect(lines).toEqual([expect.objectContaining({
      level: 'warn',
      msg: expect.stringMatching(/^OTLP logs export to http:\/\/collector:4318\/v1\/logs failed: the kills wait in the spool/),
      endpoint: 'http://collector:4318/v1/logs',
      error: 'connect ECONNREFUSED 10.0.0.1:4318',
      failures: 1,
    })]);
    for (let i = 0; i < 100; i++) {
      advance(500);
      failures.failed(refused);
    }
    expect(lines).toHaveLength(1); // 50 s of failures: nothing more yet
    advance(10_001);
    failures.failed(refused);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 'warn', failures: 101, failingForMs: 60_001 });
    advance(1000);
    failures.succeeded();
    expect(lines[2]).toMatchObject({ level: 'info', msg: 'OTLP logs export to http://collector:4318/v1/logs works again', failures: 102 });
    failures.succeeded();
    expect(lines).toHaveLength(3);
    failures.failed(new Error('again'));
    expect(lines[3]).toMatchObject({ level: 'warn', failures: 1, error: 'again' });
  });

  it('names an HTTP status and what the endpoint answered', () => {
    const { lines, failures } = setup();
    failures.failed(Object.assign(new Error('Unsupported Media Type'), { code: 415, data: 'grpc expected' }));
    expect(lines[0]?.error).toBe('Unsupported Media Type (code 415): grpc expected');
  });
});
