import { describe, expect, it } from 'vitest';
import { ConfigError, helpText, loadConfig } from '../src/config.ts';

const problems = (argv: string[], env: Record<string, string> = {}): string[] => {
  try {
    loadConfig(argv, env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
};

describe('loadConfig', () => {
  it('defaults to running the best source and printing to the console', () => {
    const config = loadConfig([], {});
    expect(config).toMatchObject({ command: 'run', source: 'auto', export: { mode: 'console', maxSpooled: 10_000 }, kubernetes: { enabled: false } });
    expect(config.bpf.loaderPath).toMatch(/bpf\/\.output\/oomkill-loader$/);
    expect(config.health).toBeUndefined();
  });

  it('exports over OTLP when the standard endpoint variable is set, unless --console', () => {
    expect(loadConfig([], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' }).export.mode).toBe('otlp');
    expect(loadConfig([], { OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://c:4317' }).export.mode).toBe('otlp');
    expect(loadConfig(['--console'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' }).export.mode).toBe('console');
  });

  it('chooses the metric exporters with OTEL_METRICS_EXPORTER: otlp by default, prometheus beside or instead of it, or none', () => {
    const otlp = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' };
    const metrics = (env: Record<string, string>): unknown => loadConfig([], env).export.metrics;
    expect(metrics(otlp)).toEqual({ push: 'otlp', cardinalityLimit: 2000 });
    expect(metrics({})).toEqual({ push: 'console', cardinalityLimit: 2000 }); // no endpoint: on stdout, as the kills
    expect(metrics({ ...otlp, OTEL_METRICS_EXPORTER: 'prometheus' })).toEqual({ prometheus: { host: 'localhost', port: 9464 }, cardinalityLimit: 2000 });
    expect(metrics({ ...otlp, OTEL_METRICS_EXPORTER: 'otlp, Prometheus', OTEL_EXPORTER_PROMETHEUS_HOST: '0.0.0.0', OTEL_EXPORTER_PROMETHEUS_PORT: '9100' }))
      .toEqual({ push: 'otlp', prometheus: { host: '0.0.0.0', port: 9100 }, cardinalityLimit: 2000 });
    expect(metrics({ ...otlp, OTEL_METRICS_EXPORTER: 'none' })).toEqual({ cardinalityLimit: 2000 });
    expect(metrics({ ...otlp, OTEL_METRICS_EXPORTER: 'console' })).toEqual({ push: 'console', cardinalityLimit: 2000 });
    expect(loadConfig(['--metric-cardinality-limit', '50'], {}).export.metrics.cardinalityLimit).toBe(50);
  });

  it('refuses a metric exporter it does not know, a bad Prometheus port or series limit, each named', () => {
    expect(problems([], { OTEL_METRICS_EXPORTER: 'otlp,prometeus' })).toEqual([
      "OTEL_METRICS_EXPORTER: 'otlp,prometeus' is not a comma-separated list of otlp, prometheus, console, none (unknown: prometeus)",
    ]);
    expect(problems([], { OTEL_METRICS_EXPORTER: 'none,otlp' })).toEqual(["OTEL_METRICS_EXPORTER: 'none,otlp': none cannot be combined with other exporters"]);
    expect(problems([], { OTEL_METRICS_EXPORTER: 'prometheus', OTEL_EXPORTER_PROMETHEUS_PORT: '70000' })).toEqual([
      "OTEL_EXPORTER_PROMETHEUS_PORT: '70000' is not a port number (0 to 65535; 0 picks a free one)",
    ]);
    expect(problems(['--metric-cardinality-limit', '1'], {})).toEqual([
      "--metric-cardinality-limit (OOMKILL_METRIC_CARDINALITY_LIMIT): '1' is not a whole number from 2 to 1000000",
    ]);
  });

  it('chooses each signal\'s protocol and endpoint as the OpenTelemetry variables say', () => {
    const otlp = (env: Record<string, string>) => loadConfig([], env).export.otlp;
    // gRPC by default, the common endpoint as it is.
    expect(otlp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317' })).toEqual({
      logs: { protocol: 'grpc', endpoint: 'http://c:4317' },
      metrics: { protocol: 'grpc', endpoint: 'http://c:4317' },
    });
    // Over HTTP the common endpoint gets /v1/<signal>; a signal's own endpoint is used as it is.
    expect(otlp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c:4318/otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'https://m/ingest', OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' })).toEqual({
      logs: { protocol: 'http/protobuf', endpoint: 'https://c:4318/otlp/v1/logs' },
      metrics: { protocol: 'http/json', endpoint: 'https://m/ingest' },
    });
    // A signal's own endpoint switches that signal on by itself, and only that one.
    expect(otlp({ OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:4317' })).toEqual({ metrics: { protocol: 'grpc', endpoint: 'http://m:4317' } });
    expect(loadConfig([], { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:4317' }).export.mode).toBe('console');
    // Spans are opt-in: a traces endpoint or OTEL_TRACES_EXPORTER=otlp, never the common endpoint alone.
    expect(otlp({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4318/v1/traces', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }).traces)
      .toEqual({ protocol: 'http/protobuf', endpoint: 'http://t:4318/v1/traces' });
    expect(otlp({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_TRACES_EXPORTER: 'otlp' }).traces)
      .toEqual({ protocol: 'http/json', endpoint: 'http://c:4318/v1/traces' });
    expect(otlp({ OTEL_TRACES_EXPORTER: 'otlp' }).traces).toEqual({ protocol: 'grpc', endpoint: 'http://localhost:4317' });
    expect(otlp({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://t:4317', OTEL_TRACES_EXPORTER: 'none' }).traces).toBeUndefined();
    // --console keeps kills and counters on stdout; spans asked for still go.
    expect(loadConfig(['--console'], { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_TRACES_EXPORTER: 'otlp' }).export.otlp)
      .toEqual({ traces: { protocol: 'grpc', endpoint: 'http://c:4317' } });
  });

  it('refuses an OTLP protocol, exporter or endpoint it cannot use, at start-up', () => {
    expect(problems([], {
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'grpc/json',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'collector:4317',
      OTEL_TRACES_EXPORTER: 'jaeger',
    })).toEqual([
      "OTEL_TRACES_EXPORTER: 'jaeger' is not supported (otlp or none)",
      "OTEL_EXPORTER_OTLP_PROTOCOL: 'http' is not one of grpc, http/protobuf, http/json",
      "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'grpc/json' is not one of grpc, http/protobuf, http/json",
      "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'collector:4317' is not an http:// or https:// URL",
    ]);
  });

  it('takes the cluster\'s name, and refuses one that is not a name', () => {
    expect(loadConfig(['--cluster-name', 'prod-eu-1'], {}).clusterName).toBe('prod-eu-1');
    expect(loadConfig([], { OOMKILL_CLUSTER_NAME: 'gke_proj_europe-west1_main' }).clusterName).toBe('gke_proj_europe-west1_main');
    expect(loadConfig([], {}).clusterName).toBeUndefined();
    expect(problems(['--cluster-name', 'prod eu'])).toEqual([
      "--cluster-name (OOMKILL_CLUSTER_NAME): 'prod eu' is not a cluster name (letters, digits, '.', '_', '-', at most 253, starting and ending with a letter or digit)",
    ]);
  });

  it('prefers flags over environment variables', () => {
    expect(loadConfig(['--source', 'kmsg'], { OOMKILL_SOURCE: 'cgroup' }).source).toBe('kmsg');
    expect(loadConfig([], { OOMKILL_SOURCE: 'cgroup' }).source).toBe('cgroup');
  });

  it('enables Kubernetes lookups in a cluster or with a kubeconfig, and never when off', () => {
    expect(loadConfig([], { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).kubernetes.enabled).toBe(true);
    expect(loadConfig(['--kubeconfig', '/k'], {}).kubernetes.enabled).toBe(true);
    expect(loadConfig(['--kubernetes', 'off'], { KUBERNETES_SERVICE_HOST: '10.0.0.1' }).kubernetes.enabled).toBe(false);
  });

  it('parses the node name, health address and label lists', () => {
    const config = loadConfig(['--health-addr', ':8089', '--pod-labels', 'app, team'], { NODE_NAME: 'node-7' });
    expect(config.nodeName).toBe('node-7');
    expect(config.health).toEqual({ host: '0.0.0.0', port: 8089 });
    expect(config.kubernetes.podLabels).toEqual(['app', 'team']);
  });

  it('reports every problem at once, naming the flag and its variable', () => {
    const found = problems(['--source', 'ebpf', '--ringbuf-kib', '100', '--hook', 'kprobe,uprobe'], { OOMKILL_POD_WAIT_MS: '-1', OOMKILL_HEALTH_ADDR: 'nope' });
    expect(new Set(found)).toEqual(new Set([
      "--source (OOMKILL_SOURCE): 'ebpf' is not one of auto, bpf, kmsg, cgroup",
      "--pod-wait-ms (OOMKILL_POD_WAIT_MS): '-1' is not a whole number from 0 to 60000",
      '--ringbuf-kib (OOMKILL_RINGBUF_KIB): 100 is not a power of two',
      "--hook (OOMKILL_HOOKS): 'kprobe,uprobe' is not auto or a comma-separated list of fentry, kprobe, tp_btf, raw_tp",
      "--health-addr (OOMKILL_HEALTH_ADDR): 'nope' is not host:port or :port",
    ]));
  });

  it('rejects unknown flags and commands with a clear message', () => {
    expect(problems(['--frobnicate'])[0]).toMatch(/Unknown option '--frobnicate'/);
    expect(problems(['launch'])).toEqual(["unknown command 'launch' (commands: run, demo, help, version)"]);
    expect(problems(['--kubernetes', 'on'])).toEqual([
      "--kubernetes (OOMKILL_KUBERNETES): 'on' needs a kubeconfig (--kubeconfig, KUBECONFIG) or an in-cluster service account",
    ]);
  });

  it('returns a frozen object', () => {
    const config = loadConfig([], {});
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.bpf)).toBe(true);
  });

  it('documents every flag with its environment variable in --help', () => {
    expect(helpText()).toContain('--source VALUE');
    expect(helpText()).toContain('[OOMKILL_SOURCE]');
    expect(helpText()).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
  });
});

describe('loadConfig: delivery and reliability settings', () => {
  it('takes the spool, pin directory and reconciliation interval', () => {
    const config = loadConfig(['--spool-dir', '/var/lib/o', '--pin-dir', '/sys/fs/bpf/o', '--reconcile-interval-ms', '0', '--max-spooled', '50'], {});
    expect(config.export).toMatchObject({ spoolDir: '/var/lib/o', maxSpooled: 50 });
    expect(config.bpf.pinDir).toBe('/sys/fs/bpf/o');
    expect(config.reconcileIntervalMs).toBe(0);
    expect(loadConfig([], {}).reconcileIntervalMs).toBe(5000);
  });
});
