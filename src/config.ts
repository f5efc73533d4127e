// The receiver's configuration: every setting defined once (flag, environment variable, default, help),
// parsed and validated once at startup into a frozen object. Nothing else reads process.env, except the
// OpenTelemetry SDK, which owns the OTEL_* variables (endpoint, headers, TLS, resource): they are not
// parsed again here, only looked at to choose between OTLP and the console default.
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SOURCE_NAMES } from './event.ts';
import { DEFAULT_CARDINALITY_LIMIT } from './export/receiver-metrics.ts';

export const COMMANDS = ['run', 'demo', 'help', 'version'] as const;
export type Command = (typeof COMMANDS)[number];
export const SOURCE_CHOICES = ['auto', ...SOURCE_NAMES] as const;
export type SourceChoice = (typeof SOURCE_CHOICES)[number];
const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
const SWITCH = ['auto', 'on', 'off'] as const;
/** The OTLP transports, as OTEL_EXPORTER_OTLP_PROTOCOL names them. gRPC stays our default (the spec's is http/protobuf). */
export const OTLP_PROTOCOLS = ['grpc', 'http/protobuf', 'http/json'] as const;
export type OtlpProtocol = (typeof OTLP_PROTOCOLS)[number];
export const OTLP_SIGNALS = ['logs', 'metrics', 'traces'] as const;
export type OtlpSignal = (typeof OTLP_SIGNALS)[number];
/** Where one signal goes over OTLP. */
export interface OtlpTarget {
  protocol: OtlpProtocol;
  /**
   * The endpoint as the exporter resolves it, for diagnostics only: the exporter reads the OTEL_EXPORTER_OTLP_*
   * variables itself (endpoint, headers, timeout, certificates, compression).
   */
  endpoint: string;
}

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface Config {
  command: Command;
  source: SourceChoice;
  bpf: { loaderPath: string; hooks: string; btfPath?: string; ringbufKib: number; statsIntervalMs: number; pinDir?: string };
  kmsg: { path: string; replay: boolean };
  cgroup: { root?: string; pollIntervalMs: number };
  /** How often kernel OOM counters are compared with the kills seen; 0: never. */
  reconcileIntervalMs: number;
  nodeName: string;
  /** k8s.cluster.name: Kubernetes has no name for its cluster, so it is configured. */
  clusterName?: string;
  kubernetes: {
    enabled: boolean;
    kubeconfig?: string;
    podWaitMs: number;
    tombstoneTtlMs: number;
    podLabels: string[];
    podAnnotations: string[];
  };
  export: {
    /** How kill records leave: over OTLP (export.otlp.logs is set) or on stdout. */
    mode: 'otlp' | 'console';
    /** The signals that go over OTLP, each with its own protocol and endpoint; an absent one does not. */
    otlp: { [S in OtlpSignal]?: OtlpTarget };
    metricIntervalMs: number;
    spoolDir?: string;
    maxSpooled: number;
    metrics: {
      /** Where metrics are pushed: OTLP, the console, or nowhere (prometheus or none only). */
      push?: 'otlp' | 'console';
      /** Served for scraping (OTEL_METRICS_EXPORTER includes prometheus). */
      prometheus?: { host: string; port: number };
      /** Series per metric at most; past it, new series are counted in the overflow series. */
      cardinalityLimit: number;
    };
  };
  /** host:port of the /healthz and /readyz endpoint; undefined: not served. */
  health?: { host: string; port: number };
  logLevel: (typeof LOG_LEVELS)[number];
  demo: { limitMiB: number; keep: boolean };
}

type Kind = 'string' | 'boolean';
interface Setting {
  flag: string;
  env?: string;
  kind: Kind;
  help: string;
}

/** Every setting, in the order --help lists them. */
export const SETTINGS = {
  source: { flag: 'source', env: 'OOMKILL_SOURCE', kind: 'string', help: 'auto | bpf | kmsg | cgroup (default auto: the best that works here)' },
  loader: { flag: 'loader', env: 'OOMKILL_LOADER_PATH', kind: 'string', help: 'the BPF loader binary (default bpf/.output/oomkill-loader)' },
  hook: { flag: 'hook', env: 'OOMKILL_HOOKS', kind: 'string', help: 'BPF hooks to allow: auto or a list of fentry,kprobe,tp_btf,raw_tp; the best this kernel allows is chosen' },
  btf: { flag: 'btf', env: 'OOMKILL_BTF_PATH', kind: 'string', help: 'kernel BTF (default /sys/kernel/btf/vmlinux)' },
  ringbufKib: { flag: 'ringbuf-kib', env: 'OOMKILL_RINGBUF_KIB', kind: 'string', help: 'BPF ring buffer size in KiB, a power of two (default 256)' },
  pinDir: { flag: 'pin-dir', env: 'OOMKILL_PIN_DIR', kind: 'string', help: 'keep the BPF program and ring buffer pinned in this bpffs directory across restarts (e.g. /sys/fs/bpf/oomkill)' },
  kmsgPath: { flag: 'kmsg-path', env: 'OOMKILL_KMSG_PATH', kind: 'string', help: 'kernel log device for the kmsg source (default /dev/kmsg)' },
  kmsgReplay: { flag: 'kmsg-replay', env: 'OOMKILL_KMSG_REPLAY', kind: 'boolean', help: 'kmsg source: also report kills still in the kernel log at start' },
  cgroupRoot: { flag: 'cgroup-root', env: 'OOMKILL_CGROUP_ROOT', kind: 'string', help: 'cgroup source: the memory controller root (default: detected)' },
  cgroupPollMs: { flag: 'cgroup-poll-ms', env: 'OOMKILL_CGROUP_POLL_MS', kind: 'string', help: 'cgroup source: poll interval on cgroup v1 (default 1000)' },
  reconcileMs: { flag: 'reconcile-interval-ms', env: 'OOMKILL_RECONCILE_INTERVAL_MS', kind: 'string', help: 'compare the kernel\'s OOM counters with the kills seen this often, 0 to never (default 5000; a check while the node has had no OOM kill reads only /proc/vmstat)' },
  nodeName: { flag: 'node-name', env: 'NODE_NAME', kind: 'string', help: 'this node (default the host name; set from the downward API)' },
  clusterName: { flag: 'cluster-name', env: 'OOMKILL_CLUSTER_NAME', kind: 'string', help: 'this cluster\'s name, exported as k8s.cluster.name (default: none)' },
  kubernetes: { flag: 'kubernetes', env: 'OOMKILL_KUBERNETES', kind: 'string', help: 'auto | on | off: look up pods in the API server (auto: in a cluster or with a kubeconfig)' },
  kubeconfig: { flag: 'kubeconfig', env: 'KUBECONFIG', kind: 'string', help: 'kubeconfig file (default: in-cluster service account)' },
  podWaitMs: { flag: 'pod-wait-ms', env: 'OOMKILL_POD_WAIT_MS', kind: 'string', help: 'how long a kill waits for a pod the cache does not know yet (default 2000)' },
  tombstoneTtlMs: { flag: 'tombstone-ttl-ms', env: 'OOMKILL_TOMBSTONE_TTL_MS', kind: 'string', help: 'how long deleted pods stay resolvable (default 300000)' },
  podLabels: { flag: 'pod-labels', env: 'OOMKILL_POD_LABELS', kind: 'string', help: 'pod labels to export as k8s.pod.label.<key>, comma-separated' },
  podAnnotations: { flag: 'pod-annotations', env: 'OOMKILL_POD_ANNOTATIONS', kind: 'string', help: 'pod annotations to export as k8s.pod.annotation.<key>, comma-separated' },
  console: { flag: 'console', kind: 'boolean', help: 'print kills on stdout even when an OTLP endpoint is configured' },
  spoolDir: { flag: 'spool-dir', env: 'OOMKILL_SPOOL_DIR', kind: 'string', help: 'keep undelivered kills on disk here, across outages and restarts (default: in memory only)' },
  maxSpooled: { flag: 'max-spooled', env: 'OOMKILL_MAX_SPOOLED', kind: 'string', help: 'undelivered kills kept at most; past it the oldest are dropped and counted (default 10000)' },
  cardinalityLimit: { flag: 'metric-cardinality-limit', env: 'OOMKILL_METRIC_CARDINALITY_LIMIT', kind: 'string', help: 'series kept per metric; past it, new series go to one overflow series (default 2000)' },
  healthAddr: { flag: 'health-addr', env: 'OOMKILL_HEALTH_ADDR', kind: 'string', help: 'serve /healthz and /readyz here, e.g. :8089 (default: not served)' },
  logLevel: { flag: 'log-level', env: 'OOMKILL_LOG_LEVEL', kind: 'string', help: 'debug | info | warn | error (default info); diagnostics go to stderr' },
  demoLimitMib: { flag: 'demo-limit-mib', kind: 'string', help: 'demo: the scratch cgroup\'s memory limit (default 64)' },
  demoKeep: { flag: 'demo-keep', kind: 'boolean', help: 'demo: keep running after the demo kill, like run' },
  help: { flag: 'help', kind: 'boolean', help: 'show this help' },
} as const satisfies Record<string, Setting>;

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

export function loadConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Readonly<Config> {
  const problems: string[] = [];
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(Object.values(SETTINGS).map((s) => [s.flag, { type: s.kind }])),
    });
  } catch (error) {
    throw new ConfigError([(error as Error).message]);
  }
  const value = (key: keyof typeof SETTINGS): string | undefined => {
    const setting: Setting = SETTINGS[key];
    const fromFlag = parsed.values[setting.flag];
    if (typeof fromFlag === 'string') return fromFlag;
    if (fromFlag === true) return 'true';
    const fromEnv = setting.env !== undefined ? env[setting.env] : undefined;
    return fromEnv === '' ? undefined : fromEnv;
  };
  const where = (key: keyof typeof SETTINGS): string => {
    const s: Setting = SETTINGS[key];
    return s.env !== undefined ? `--${s.flag} (${s.env})` : `--${s.flag}`;
  };
  const oneOf = <T extends string>(key: keyof typeof SETTINGS, choices: readonly T[], fallback: T): T => {
    const raw = value(key);
    if (raw === undefined) return fallback;
    if ((choices as readonly string[]).includes(raw)) return raw as T;
    problems.push(`${where(key)}: '${raw}' is not one of ${choices.join(', ')}`);
    return fallback;
  };
  const integer = (key: keyof typeof SETTINGS, fallback: number, min: number, max: number): number => {
    const raw = value(key);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      problems.push(`${where(key)}: '${raw}' is not a whole number from ${min} to ${max}`);
      return fallback;
    }
    return n;
  };
  const flag = (key: keyof typeof SETTINGS): boolean => {
    const raw = value(key);
    if (raw === undefined) return false;
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    problems.push(`${where(key)}: '${raw}' is not true or false`);
    return false;
  };
  const list = (key: keyof typeof SETTINGS): string[] => (value(key) ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');

  const [commandWord, ...extra] = parsed.positionals;
  let command: Command = parsed.values.help === true ? 'help' : 'run';
  if (commandWord !== undefined && parsed.values.help !== true) {
    if ((COMMANDS as readonly string[]).includes(commandWord)) command = commandWord as Command;
    else problems.push(`unknown command '${commandWord}' (commands: ${COMMANDS.join(', ')})`);
  }
  if (extra.length > 0) problems.push(`unexpected argument '${extra[0]}'`);

  const ringbufKib = integer('ringbufKib', 256, 4, 1 << 20);
  if ((ringbufKib & (ringbufKib - 1)) !== 0) problems.push(`${where('ringbufKib')}: ${ringbufKib} is not a power of two`);
  const hooks = value('hook') ?? 'auto';
  if (!/^(auto|((fentry|kprobe|tp_btf|raw_tp)(,(fentry|kprobe|tp_btf|raw_tp))*))$/.test(hooks)) {
    problems.push(`${where('hook')}: '${hooks}' is not auto or a comma-separated list of fentry, kprobe, tp_btf, raw_tp`);
  }

  const kubeconfig = value('kubeconfig');
  const kubernetesSwitch = oneOf('kubernetes', SWITCH, 'auto');
  const inCluster = env.KUBERNETES_SERVICE_HOST !== undefined && env.KUBERNETES_SERVICE_HOST !== '';
  const label = /^([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
  const podLabels = list('podLabels');
  const podAnnotations = list('podAnnotations');
  for (const key of [...podLabels, ...podAnnotations]) {
    if (!label.test(key)) problems.push(`'${key}' is not a valid label or annotation key`);
  }

  const clusterName = value('clusterName');
  if (clusterName !== undefined && !/^[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?$/.test(clusterName)) {
    problems.push(`${where('clusterName')}: '${clusterName}' is not a cluster name (letters, digits, '.', '_', '-', at most 253, starting and ending with a letter or digit)`);
  }

  let health: Config['health'];
  const healthAddr = value('healthAddr');
  if (healthAddr !== undefined) {
    const match = /^(.*):(\d{1,5})$/.exec(healthAddr);
    const port = Number(match?.[2]);
    if (!match || port > 65_535) problems.push(`${where('healthAddr')}: '${healthAddr}' is not host:port or :port`);
    else health = { host: match[1] === '' ? '0.0.0.0' : (match[1] ?? '0.0.0.0'), port };
  }

  const consoleOnly = flag('console');
  const otlp = otlpTargets(env, problems);
  if (consoleOnly) {
    delete otlp.logs;
    delete otlp.metrics;
  }
  const metricIntervalRaw = env.OTEL_METRIC_EXPORT_INTERVAL; // the metrics SDK's reader takes it as an option only
  let metricIntervalMs = 10_000;
  if (metricIntervalRaw !== undefined && metricIntervalRaw !== '') {
    metricIntervalMs = Number(metricIntervalRaw);
    if (!/^\d+$/.test(metricIntervalRaw) || metricIntervalMs < 100) {
      problems.push(`OTEL_METRIC_EXPORT_INTERVAL: '${metricIntervalRaw}' is not a number of milliseconds >= 100`);
      metricIntervalMs = 10_000;
    }
  }

  const mode = otlp.logs !== undefined ? 'otlp' : 'console';
  const metrics = metricExporters(env, problems);
  // Counters go over OTLP only when OTEL_METRICS_EXPORTER asks for it (the default) and an endpoint says where.
  if (metrics.push !== 'otlp') delete otlp.metrics;

  const config: Config = {
    command,
    source: oneOf('source', SOURCE_CHOICES, 'auto'),
    bpf: {
      loaderPath: value('loader') ?? join(REPO_ROOT, 'bpf', '.output', 'oomkill-loader'),
      hooks,
      ...(value('btf') !== undefined && { btfPath: value('btf') }),
      ringbufKib,
      // The loader's stats frame wakes Node only to say nothing changed, unless the ring buffer dropped kills
      // (counted as missed) or the wall clock was stepped: every 10 s rather than every second. Kept well
      // under the reconciliation interval, so dropped kills are counted as ring-buffer drops first.
      statsIntervalMs: 10_000,
      ...(value('pinDir') !== undefined && { pinDir: value('pinDir') }),
    },
    kmsg: { path: value('kmsgPath') ?? '/dev/kmsg', replay: flag('kmsgReplay') },
    cgroup: { ...(value('cgroupRoot') !== undefined && { root: value('cgroupRoot') }), pollIntervalMs: integer('cgroupPollMs', 1000, 10, 600_000) },
    // Each check walks every memory cgroup and reads its counter, synchronously: 20-30 ms for the 344
    // cgroups of a node of 110 pods, 50-90 ms in the image's V8 lite mode (bench/, README Measured). Every
    // 5 s that was 1-2 % of a core; every 60 s it is about 0.1 %, and a missed kill is still counted
    // within a minute (the alerts look at 10 minutes).
    reconcileIntervalMs: integer('reconcileMs', 5000, 0, 3_600_000),
    nodeName: value('nodeName') ?? hostname(),
    ...(clusterName !== undefined && { clusterName }),
    kubernetes: {
      enabled: kubernetesSwitch === 'on' || (kubernetesSwitch === 'auto' && (inCluster || kubeconfig !== undefined)),
      ...(kubeconfig !== undefined && { kubeconfig }),
      podWaitMs: integer('podWaitMs', 2000, 0, 60_000),
      tombstoneTtlMs: integer('tombstoneTtlMs', 300_000, 0, 86_400_000),
      podLabels,
      podAnnotations,
    },
    export: {
      mode,
      otlp,
      metricIntervalMs,
      ...(value('spoolDir') !== undefined && { spoolDir: value('spoolDir') }),
      maxSpooled: integer('maxSpooled', 10_000, 1, 10_000_000),
      metrics: {
        ...metrics,
        // otlp with no endpoint (or --console) prints on stdout, as the kills do.
        ...(metrics.push === 'otlp' && otlp.metrics === undefined && { push: 'console' as const }),
        cardinalityLimit: integer('cardinalityLimit', DEFAULT_CARDINALITY_LIMIT, 2, 1_000_000),
      },
    },
    ...(health !== undefined && { health }),
    logLevel: oneOf('logLevel', LOG_LEVELS, 'info'),
    demo: { limitMiB: integer('demoLimitMib', 64, 8, 4096), keep: flag('demoKeep') },
  };
  if (kubernetesSwitch === 'on' && !inCluster && kubeconfig === undefined) {
    problems.push(`${where('kubernetes')}: 'on' needs a kubeconfig (--kubeconfig, KUBECONFIG) or an in-cluster service account`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

export const METRICS_EXPORTERS = ['otlp', 'prometheus', 'console', 'none'] as const;

/**
 * OTEL_METRICS_EXPORTER (the specification's variable: a comma-separated list, default otlp) and the
 * Prometheus endpoint's OTEL_EXPORTER_PROMETHEUS_HOST (default localhost) and _PORT (default 9464). The SDK
 * reads them only in its NodeSDK, which this program does not use: they are read here, once.
 */
function metricExporters(env: Readonly<Record<string, string | undefined>>, problems: string[]): Omit<Config['export']['metrics'], 'cardinalityLimit'> {
  const raw = env.OTEL_METRICS_EXPORTER ?? '';
  const names = (raw.trim() === '' ? 'otlp' : raw).split(',').map((s) => s.trim().toLowerCase());
  const unknown = names.filter((n) => !(METRICS_EXPORTERS as readonly string[]).includes(n));
  if (unknown.length > 0) {
    problems.push(`OTEL_METRICS_EXPORTER: '${raw}' is not a comma-separated list of ${METRICS_EXPORTERS.join(', ')} (unknown: ${unknown.join(', ')})`);
    return { push: 'otlp' };
  }
  if (names.includes('none') && names.length > 1) problems.push(`OTEL_METRICS_EXPORTER: '${raw}': none cannot be combined with other exporters`);
  if (names.includes('otlp') && names.includes('console')) problems.push(`OTEL_METRICS_EXPORTER: '${raw}': choose one of otlp and console`);
  const push = names.includes('console') ? 'console' : names.includes('otlp') ? 'otlp' : undefined;
  if (!names.includes('prometheus')) return push !== undefined ? { push } : {};
  const host = (env.OTEL_EXPORTER_PROMETHEUS_HOST ?? '') === '' ? 'localhost' : (env.OTEL_EXPORTER_PROMETHEUS_HOST as string);
  const rawPort = env.OTEL_EXPORTER_PROMETHEUS_PORT ?? '';
  let port = 9464;
  if (rawPort !== '') {
    port = Number(rawPort);
    if (!/^\d{1,5}$/.test(rawPort) || port > 65_535) {
      problems.push(`OTEL_EXPORTER_PROMETHEUS_PORT: '${rawPort}' is not a port number (0 to 65535; 0 picks a free one)`);
      port = 9464;
    }
  }
  return { ...(push !== undefined && { push }), prometheus: { host, port } };
}

export function helpText(): string {
  const lines = Object.values(SETTINGS).map((s: Setting) => {
    const name = `--${s.flag}${s.kind === 'string' ? ' VALUE' : ''}`;
    return `  ${name.padEnd(32)} ${s.help}${s.env !== undefined ? ` [${s.env}]` : ''}`;
  });
  return [
    'usage: oomkill-receiver [run | demo | version | help] [options]',
    '',
    'Every OOM kill on this node becomes an OpenTelemetry log record and a counter increment,',
    'attributed to its pod and container from the cgroup path the kernel held at the kill.',
    '',
    'commands:',
    '  run       watch for OOM kills and export them (default)',
    '  demo      OOM-kill a process in a scratch cgroup at a Kubernetes-shaped path, show its record, clean up',
    '  version   print the version',
    '',
    'options:',
    ...lines,
    '',
    'export: set OTEL_EXPORTER_OTLP_ENDPOINT (or a signal\'s own OTEL_EXPORTER_OTLP_{LOGS,METRICS,TRACES}_ENDPOINT)',
    'to export over OTLP; OTEL_EXPORTER_OTLP_PROTOCOL (or ..._{LOGS,METRICS,TRACES}_PROTOCOL) chooses grpc (the',
    'default), http/protobuf or http/json. Headers, timeouts, TLS certificates, OTEL_SERVICE_NAME and',
    'OTEL_RESOURCE_ATTRIBUTES are read by the OpenTelemetry SDK. Without an endpoint, kills are printed on stdout.',
    'A span per kill: OTEL_TRACES_EXPORTER=otlp, or a traces endpoint.',
    'metrics: OTEL_METRICS_EXPORTER=otlp (default) | prometheus | otlp,prometheus | console | none;',
    'prometheus serves /metrics on OTEL_EXPORTER_PROMETHEUS_HOST:OTEL_EXPORTER_PROMETHEUS_PORT (default localhost:9464).',
  ].join('\n');
}

/**
 * Which signals go over OTLP, with which protocol, following the OpenTelemetry specification's variables:
 * a signal is exported when its own endpoint or the common one is set (traces only when also asked for, with
 * OTEL_TRACES_EXPORTER=otlp or a traces endpoint: a span per kill is opt-in). Only what must fail at start-up
 * is checked here (a protocol or exporter name we do not know, an endpoint that is not a URL); the exporters
 * read the rest themselves.
 */
function otlpTargets(env: Readonly<Record<string, string | undefined>>, problems: string[]): { [S in OtlpSignal]?: OtlpTarget } {
  const get = (name: string): string | undefined => {
    const raw = env[name]?.trim();
    return raw === '' ? undefined : raw;
  };
  const protocolOf = (name: string): OtlpProtocol | undefined => {
    const raw = get(name);
    if (raw === undefined) return undefined;
    if ((OTLP_PROTOCOLS as readonly string[]).includes(raw)) return raw as OtlpProtocol;
    problems.push(`${name}: '${raw}' is not one of ${OTLP_PROTOCOLS.join(', ')}`);
    return undefined;
  };
  const url = (name: string): string | undefined => {
    const raw = get(name);
    if (raw === undefined) return undefined;
    if (!/^https?:\/\/[^/]/.test(raw) || !URL.canParse(raw)) {
      problems.push(`${name}: '${raw}' is not an http:// or https:// URL`);
      return undefined;
    }
    return raw;
  };
  const tracesExporter = get('OTEL_TRACES_EXPORTER');
  if (tracesExporter !== undefined && !['otlp', 'none'].includes(tracesExporter)) {
    problems.push(`OTEL_TRACES_EXPORTER: '${tracesExporter}' is not supported (otlp or none)`);
  }
  const common = url('OTEL_EXPORTER_OTLP_ENDPOINT');
  const commonProtocol = protocolOf('OTEL_EXPORTER_OTLP_PROTOCOL') ?? 'grpc';
  const targets: { [S in OtlpSignal]?: OtlpTarget } = {};
  for (const signal of OTLP_SIGNALS) {
    const upper = signal.toUpperCase();
    const own = url(`OTEL_EXPORTER_OTLP_${upper}_ENDPOINT`);
    const protocol = protocolOf(`OTEL_EXPORTER_OTLP_${upper}_PROTOCOL`) ?? commonProtocol;
    const wanted = signal === 'traces'
      ? tracesExporter !== 'none' && (own !== undefined || tracesExporter === 'otlp')
      : own !== undefined || common !== undefined;
    if (!wanted) continue;
    targets[signal] = { protocol, endpoint: resolvedEndpoint(signal, protocol, own, common) };
  }
  return targets;
}

/**
 * The specification's rule, as the exporters apply it: a signal's own endpoint is used as it is; over HTTP the
 * common endpoint gets /v1/<signal> appended; with neither, the default collector on this host.
 */
function resolvedEndpoint(signal: OtlpSignal, protocol: OtlpProtocol, own: string | undefined, common: string | undefined): string {
  if (own !== undefined) return withoutCredentials(own);
  if (protocol === 'grpc') return withoutCredentials(common ?? 'http://localhost:4317');
  const base = withoutCredentials(common ?? 'http://localhost:4318');
  return `${base.endsWith('/') ? base : `${base}/`}v1/${signal}`;
}

/** The endpoint is logged: a user:password in it must not be. */
function withoutCredentials(endpoint: string): string {
  const url = new URL(endpoint);
  if (url.username === '' && url.password === '') return endpoint;
  url.username = '***';
  url.password = '';
  return url.toString();
}

function deepFreeze<T extends object>(value: T): Readonly<T> {
  for (const child of Object.values(value)) if (typeof child === 'object' && child !== null) deepFreeze(child as object);
  return Object.freeze(value);
}
