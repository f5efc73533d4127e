// A real Prometheus for tests: Debian's `prometheus` binary on a free loopback port, with a temporary
// config that scrapes the given targets and loads the given rule files at a short scrape and evaluation
// interval, queried through its HTTP API. Everything it writes lives in a temporary directory, removed
// on stop.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

/** A rule as /api/v1/rules reports it, alerting or recording. */
export interface RuleState {
  group: string;
  name: string;
  type: 'alerting' | 'recording';
  query: string;
  health: string;
  lastError?: string;
  lastEvaluation: string;
  /** Alerting rules only. */
  state?: 'inactive' | 'pending' | 'firing';
  alerts?: Array<{ labels: Record<string, string>; annotations: Record<string, string>; state: string; value: string }>;
}

export interface PrometheusOptions {
  /** host:port of each endpoint to scrape (path /metrics). */
  targets: string[];
  /** Rule files to load, as paths (resolved here). */
  ruleFiles?: string[];
  /** Default 1s for both. */
  scrapeInterval?: string;
  evaluationInterval?: string;
  /** The scrape job's name (the `job` label); default oomkill-receiver. */
  job?: string;
}

export interface Prometheus {
  url: string;
  /** An instant query; rejects with Prometheus's own error (a bad query, a bad label matcher). */
  query(expr: string, time?: Date): Promise<Sample[]>;
  /** Every rule of every loaded group, with its health and last error. */
  rules(): Promise<RuleState[]>;
  /** The scrape targets' health, e.g. to wait for the first scrape. */
  targets(): Promise<Array<{ scrapeUrl: string; health: string; lastScrape: string; lastError: string }>>;
  /** Polls `ready` until it returns something other than undefined; the message says what was awaited. */
  waitFor<T>(ready: () => Promise<T | undefined>, what: string, timeoutMs?: number): Promise<T>;
  /** Resolves once every target was scraped successfully after `since`. */
  waitForScrape(since?: Date, timeoutMs?: number): Promise<void>;
  /** Resolves once every rule was evaluated after `since`. */
  waitForRuleEvaluation(since?: Date, timeoutMs?: number): Promise<RuleState[]>;
  /** Prometheus's own log (stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** A port nobody listens on right now, on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'oomkill-prometheus-'));
  const port = await freePort();
  const interval = options.scrapeInterval ?? '1s';
  const config = {
    global: { scrape_interval: interval, scrape_timeout: interval, evaluation_interval: options.evaluationInterval ?? '1s' },
    rule_files: (options.ruleFiles ?? []).map((f) => resolve(f)),
    scrape_configs: [{ job_name: options.job ?? 'oomkill-receiver', static_configs: [{ targets: options.targets }] }],
  };
  writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
  const child = spawn(PROMETHEUS_BIN, [
    `--config.file=${join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${port}`,
    '--log.level=warn',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const url = `http://127.0.0.1:${port}`;

  const api = async <T>(path: string, params: Record<string, string> = {}): Promise<T> => {
    const response = await fetch(`${url}${path}?${new URLSearchParams(params).toString()}`);
    const body = (await response.json()) as { status: string; data: T; error?: string; errorType?: string };
    if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.errorType ?? ''} ${body.error ?? response.statusText}`);
    return body.data;
  };
  const waitFor = async <T>(ready: () => Promise<T | undefined>, what: string, timeoutMs = 20_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}) while waiting for ${what}:\n${log}`);
      try {
        const value = await ready();
        if (value !== undefined) return value;
      } catch (error) {
        last = error;
      }
      if (Date.now() > deadline) throw new Error(`Prometheus: no ${what} within ${timeoutMs} ms${last ? ` (${String(last)})` : ''}\n${log}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const prometheus: Prometheus = {
    url,
    async query(expr, time) {
      const data = await api<{ resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> }>('/api/v1/query', {
        query: expr,
        ...(time && { time: String(time.getTime() / 1000) }),
      });
      if (data.resultType === 'scalar') {
        const [, v] = data.result as unknown as [number, string];
        return [{ metric: {}, value: Number(v) }];
      }
      return data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
    async rules() {
      const data = await api<{ groups: Array<{ name: string; rules: Array<Omit<RuleState, 'group'>> }> }>('/api/v1/rules');
      return data.groups.flatMap((g) => g.rules.map((r) => ({ ...r, group: g.name })));
    },
    async targets() {
      const data = await api<{ activeTargets: Array<{ scrapeUrl: string; health: string; lastScrape: string; lastError: string }> }>('/api/v1/targets');
      return data.activeTargets;
    },
    waitFor,
    async waitForScrape(since = new Date(), timeoutMs) {
      await waitFor(async () => {
        const targets = await prometheus.targets();
        return targets.length > 0 && targets.every((t) => t.health === 'up' && new Date(t.lastScrape) > since) ? true : undefined;
      }, `scrape of every target after ${since.toISOString()}`, timeoutMs);
    },
    async waitForRuleEvaluation(since = new Date(), timeoutMs) {
      return waitFor(async () => {
        const rules = await prometheus.rules();
        return rules.length > 0 && rules.every((r) => new Date(r.lastEvaluation) > since) ? rules : undefined;
      }, `evaluation of every rule after ${since.toISOString()}`, timeoutMs);
    },
    log: () => log,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await waitFor(async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 'readiness');
  } catch (error) {
    await prometheus.stop();
    throw error;
  }
  return prometheus;
}

/** The Prometheus queries of a Grafana dashboard's panels, with their variables filled in. */
export function dashboardQueries(path: string, variables: Record<string, string>): Array<{ panel: string; expr: string }> {
  interface Panel { title: string; type: string; datasource?: { type?: string; uid?: string }; targets?: Array<{ expr?: string; datasource?: { type?: string; uid?: string } }> }
  const dashboard = JSON.parse(readFileSync(path, 'utf8')) as { panels: Panel[] };
  const isPrometheus = (d?: { type?: string; uid?: string }): boolean => d?.type === 'prometheus' || d?.uid === '${prometheus}';
  // Longest names first: $__rate_interval must not be read as $__rate followed by text.
  const names = Object.keys(variables).sort((a, b) => b.length - a.length);
  const render = (expr: string): string => names.reduce((e, name) => e.replaceAll(`$${name}`, variables[name] as string).replaceAll(`\${${name}}`, variables[name] as string), expr);
  return dashboard.panels.flatMap((panel) =>
    (panel.targets ?? [])
      .filter((t) => t.expr !== undefined && isPrometheus(t.datasource ?? panel.datasource))
      .map((t) => ({ panel: panel.title, expr: render(t.expr as string) })));
}
