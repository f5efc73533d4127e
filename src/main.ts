// Wiring and signals only: config -> sources -> pipeline (enrichment, export). Each stage is built here
// and nowhere else knows them all.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import type { Resource } from '@opentelemetry/resources';
import { agentAttributes } from './agent-identity.ts';
import { ConfigError, helpText, loadConfig } from './config.ts';
import type { Config } from './config.ts';
import { runDemo } from './demo/demo.ts';
import { SOURCE_NAMES } from './event.ts';
import type { LostKills, OomKill, SourceName } from './event.ts';
import { createCgroupEnricher } from './enrichment/cgroup-enricher.ts';
import type { Enricher } from './enrichment/enricher.ts';
import { ConsoleCounterExporter, ConsoleKillLogExporter } from './export/console-exporters.ts';
import type { KillExporter } from './export/kill-exporter.ts';
import type { EnrichedKill } from './export/kill-record.ts';
import { ExportFailures } from './export/export-failures.ts';
import { MetricDelivery } from './export/metric-delivery.ts';
import { createOtelExporter } from './export/otel-exporter.ts';
import { loadOtlpExporters } from './export/otlp-exporters.ts';
import { PrometheusEndpoint } from './export/prometheus-endpoint.ts';
import { Spool } from './export/spool.ts';
import { startHealthServer } from './health.ts';
import type { HealthServer } from './health.ts';
import { createLogger } from './log.ts';
import type { Logger } from './log.ts';
import { createPipeline } from './pipeline.ts';
import type { Pipeline } from './pipeline.ts';
import { createBpfSource } from './sources/bpf-source.ts';
import { CgroupCounters } from './sources/cgroup-counters.ts';
import { createCgroupSource } from './sources/cgroup-source.ts';
import { createKmsgSource } from './sources/kmsg-source.ts';
import { Reconciler } from './sources/reconciler.ts';
import { degradationsOf, startFirstWorking, warnDegraded } from './sources/select.ts';
import type { StartedSource } from './sources/select.ts';
import type { Source, SourceInfo } from './sources/source.ts';
import { supervise } from './sources/supervisor.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
/** SIGTERM must not wait on a dead collector forever: what is not out by then stays in the spool. */
const SHUTDOWN_BUDGET_MS = 10_000;
/** How long start-up waits for the kube-system namespace's UID (k8s.cluster.uid). */
const CLUSTER_UID_WAIT_MS = 2000;

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  let config: Readonly<Config>;
  try {
    config = loadConfig(argv, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`oomkill-receiver: ${error.message}\nsee oomkill-receiver --help\n`);
    return 2;
  }
  if (config.command === 'help') {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  if (config.command === 'version') {
    process.stdout.write(`oomkill-receiver ${VERSION}\n`);
    return 0;
  }

  const logger = createLogger({ level: config.logLevel });
  const prometheus = config.export.metrics.prometheus && new PrometheusEndpoint({ ...config.export.metrics.prometheus, logger });
  const kubeConfig = config.kubernetes.enabled ? await loadKubeConfig(config) : undefined;
  const clusterUid = kubeConfig && await lookUpClusterUid(kubeConfig, logger);
  const exporter = await createExporter(config, await agentResource(config, clusterUid?.uid), prometheus, logger);
  if (clusterUid?.uid === undefined && kubeConfig) exporter.recordReceiverEvent('enrichment', 'cluster-uid-unavailable');
  const heartbeat = createHeartbeat(exporter, logger);
  const enricher = await createEnricher(config, kubeConfig, exporter, logger);
  let health: HealthServer | undefined;
  let source: Source | undefined;
  let demoWatcher: ((kill: EnrichedKill) => void) | undefined;
  let reconciler: Reconciler | undefined;
  const pipeline = createPipeline({
    enricher,
    exporter,
    logger,
    onExported: (kill) => {
      reconciler?.noteKept(kill.kill); // spooled: saved as seen only now (Reconciler.noteRead)
      demoWatcher?.(kill);
    },
  });

  const shutdown = async (): Promise<void> => {
    health?.setReady(false, 'shutting down');
    reconciler?.stop();
    const work = (async () => {
      await source?.stop();
      await pipeline.drain();
      await exporter.shutdown();
      await enricher.stop();
    })();
    const budget = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_BUDGET_MS).unref());
    await Promise.race([work, budget]);
    await health?.close();
  };

  // Listen before anything starts: a SIGTERM while the receiver is still starting (a rollout replacing a
  // pod that has just started) would otherwise find no listener and kill it undrained. The demo keeps
  // Ctrl-C's default until it is done.
  const signalled = config.command === 'run' ? waitForSignal() : undefined;
  try {
    if (config.health) health = await startHealthServer(config.health.host, config.health.port);
    await prometheus?.listen();
    const candidates = sourceCandidates(config, logger).map((s) =>
      supervise(s, {
        onRestart: (restarted) => {
          exporter.recordReceiverEvent('source', 'restarted');
          exporter.recordSourceRestart(restarted.name);
        },
        onRestarted: (info) => heartbeat.restarted(info),
        onRunningChange: (running, reason) => {
          health?.setReady(running, reason);
          heartbeat.running(running);
        },
      }, logger),
    );
    // Reconciliation starts before the sources, so that its baseline precedes every kill they report.
    reconciler = config.source === 'cgroup' ? undefined : createReconciler(config, pipeline, config.source === 'kmsg' ? 'kmsg' : 'bpf', logger);
    const handlers = {
      ...pipeline,
      onKill: (kill: OomKill) => (reconciler?.noteRead(kill), pipeline.onKill(kill)),
      onLost: (lost: LostKills) => (reconciler?.noteLost(lost.count), pipeline.onLost(lost)),
      // The kernel's second kill of a group kill's chosen victim: counted by the kernel, not exported again.
      onRecounted: (kill: OomKill) => reconciler?.noteSeen(kill),
    };
    const started = await startFirstWorking(candidates, handlers, logger);
    source = started.source;
    heartbeat.started(started);
    if (started.info.name !== 'bpf' && config.source === 'auto') {
      // A fallback source: kmsg names no cgroup for rate-limited reports, and the cgroup source is the counters.
      reconciler?.stop();
      reconciler = started.info.name === 'kmsg' ? createReconciler(config, pipeline, 'kmsg', logger) : undefined;
    }
    reconciler?.start();
    health?.setReady(true);

    if (config.command === 'demo') {
      const result = await runDemo(config, started.info, (watch) => (demoWatcher = watch), logger);
      await exporter.forceFlush();
      if (!config.demo.keep) {
        await shutdown();
        return result;
      }
    }
    await (signalled ?? waitForSignal());
    logger.info('stopping: draining the source and flushing what is queued');
    await shutdown();
    return 0;
  } catch (error) {
    process.stderr.write(`oomkill-receiver: ${(error as Error).message}\n`);
    await shutdown();
    return 1;
  }
}

function sourceCandidates(config: Readonly<Config>, logger: Logger): Source[] {
  const bpf = (): Source => createBpfSource({
    loaderPath: config.bpf.loaderPath,
    hooks: config.bpf.hooks,
    ...(config.bpf.btfPath !== undefined && { btfPath: config.bpf.btfPath }),
    ...(config.bpf.pinDir !== undefined && { pinDir: config.bpf.pinDir }),
    ringbufKib: config.bpf.ringbufKib,
    statsIntervalMs: config.bpf.statsIntervalMs,
  }, logger.child({ source: 'bpf' }));
  const kmsg = (): Source => createKmsgSource({
    path: config.kmsg.path,
    replay: config.kmsg.replay,
    // Where the last record read is kept, so a replay after a restart reports nothing twice.
    ...(config.export.spoolDir !== undefined && { statePath: join(config.export.spoolDir, 'kmsg.json') }),
  }, logger.child({ source: 'kmsg' }));
  const cgroup = (): Source => createCgroupSource({
    ...(config.cgroup.root !== undefined && { root: config.cgroup.root }),
    pollIntervalMs: config.cgroup.pollIntervalMs,
  }, logger.child({ source: 'cgroup' }));
  const all: Record<string, () => Source> = { bpf, kmsg, cgroup };
  const order = config.source === 'auto' ? SOURCE_NAMES : [config.source];
  return order.map((name) => (all[name] as () => Source)());
}

function createReconciler(config: Readonly<Config>, pipeline: Pipeline, source: SourceName, logger: Logger): Reconciler | undefined {
  if (config.reconcileIntervalMs === 0) return undefined;
  return new Reconciler({
    // Per cgroup only with the bpf source: it always knows the victim's cgroup.
    ...(source === 'bpf' && { counters: new CgroupCounters(config.cgroup.root !== undefined ? { root: config.cgroup.root } : {}) }),
    ...(config.export.spoolDir !== undefined && { statePath: join(config.export.spoolDir, 'reconcile.json') }),
    intervalMs: config.reconcileIntervalMs,
    onMissed: (count, cgroupPath) => pipeline.recordMissed(count, cgroupPath, source),
    logger: logger.child({ stage: 'reconcile' }),
  });
}

async function loadKubeConfig(config: Readonly<Config>): Promise<KubeConfig> {
  // Loaded only when used: the Kubernetes client costs memory a node without it should not pay.
  // KubeConfig through pod-cache.ts: a dynamic import of the package itself would bundle all of it.
  const { KubeConfig } = await import('./enrichment/pod-cache.ts');
  const kubeConfig = new KubeConfig();
  try {
    if (config.kubernetes.kubeconfig !== undefined) kubeConfig.loadFromFile(config.kubernetes.kubeconfig);
    else kubeConfig.loadFromCluster();
  } catch (error) {
    throw new Error(`Kubernetes: cannot load ${config.kubernetes.kubeconfig ?? 'the in-cluster configuration'}: ${(error as Error).message}`, { cause: error });
  }
  return kubeConfig;
}

/**
 * k8s.cluster.uid, read once at start, before any source runs, and bounded: an API server that does not
 * answer costs at most CLUSTER_UID_WAIT_MS of start-up, and the receiver goes on without the attribute.
 */
async function lookUpClusterUid(kubeConfig: KubeConfig, logger: Logger): Promise<{ uid?: string }> {
  const { readClusterUid } = await import('./enrichment/cluster-uid.ts');
  try {
    return { uid: await readClusterUid(kubeConfig, CLUSTER_UID_WAIT_MS) };
  } catch (error) {
    logger.warn('k8s.cluster.uid is not exported: cannot read the kube-system namespace, whose UID stands for the cluster\'s', {
      error,
      fix: 'grant the receiver get on namespaces/kube-system (deploy/rbac.yaml does), or set k8s.cluster.uid in OTEL_RESOURCE_ATTRIBUTES',
    });
    return {};
  }
}

async function createEnricher(config: Readonly<Config>, kubeConfig: KubeConfig | undefined, exporter: KillExporter, logger: Logger): Promise<Enricher> {
  if (kubeConfig === undefined) return createCgroupEnricher();
  const { startPodCache } = await import('./enrichment/pod-cache.ts');
  const { createKubernetesEnricher } = await import('./enrichment/kubernetes-enricher.ts');
  const cache = startPodCache({
    kubeConfig,
    nodeName: config.nodeName,
    tombstoneTtlMs: config.kubernetes.tombstoneTtlMs,
    annotations: config.kubernetes.podAnnotations,
    logger: logger.child({ stage: 'enrichment' }),
    onFailure: (what) => exporter.recordReceiverEvent('enrichment', `api-failure-${what}`),
  });
  return createKubernetesEnricher({
    cache,
    podWaitMs: config.kubernetes.podWaitMs,
    podLabels: config.kubernetes.podLabels,
    podAnnotations: config.kubernetes.podAnnotations,
  });
}

/**
 * The heartbeat (oomkill.receiver.up) follows the running source: its hook and degradation at start and
 * after each restart, and `source-down` while a supervised source waits to be restarted. A restart that
 * changes what the node gives up is warned about again, once.
 */
function createHeartbeat(exporter: KillExporter, logger: Logger): { started(s: StartedSource): void; restarted(info: SourceInfo): void; running(running: boolean): void } {
  let info: SourceInfo | undefined;
  let refused: string[] = [];
  let down = false;
  const reasons = (i: SourceInfo): string[] => degradationsOf(i, refused).map((d) => d.reason);
  const publish = (): void => {
    if (!info) return;
    exporter.setReceiverState({ source: info.name, hook: info.hook ?? '', degradedReasons: [...reasons(info), ...(down ? ['source-down'] : [])] });
  };
  return {
    started(s) {
      ({ info, refused } = s);
      publish();
    },
    restarted(next) {
      const before = info ? reasons(info).join(',') : '';
      info = next;
      down = false;
      const degraded = degradationsOf(next, refused);
      if (degraded.length > 0 && degraded.map((d) => d.reason).join(',') !== before) {
        warnDegraded(logger, `source ${next.name} restarted: ${next.detail}`, next, degraded, refused);
      }
      publish();
    },
    running(running) {
      down = !running;
      publish();
    },
  };
}

async function createExporter(config: Readonly<Config>, resource: Resource, prometheus: PrometheusEndpoint | undefined, logger: Logger): Promise<KillExporter> {
  const { otlp, metrics } = config.export;
  if (otlp.logs === undefined) logger.info('no OTLP endpoint configured for logs (OTEL_EXPORTER_OTLP_ENDPOINT): printing kills on stdout');
  for (const [signal, target] of Object.entries(otlp)) logger.info(`exporting ${signal} over OTLP`, { signal, ...target });
  const factories = await loadOtlpExporters({
    ...(otlp.logs && { logs: otlp.logs.protocol }),
    ...(otlp.metrics && { metrics: otlp.metrics.protocol }),
    ...(otlp.traces && { traces: otlp.traces.protocol }),
  }, `oomkill-receiver/${VERSION}`);
  const failures = (signal: 'logs' | 'metrics' | 'traces', consequence: string): ExportFailures | undefined => {
    const target = otlp[signal];
    return target && new ExportFailures({ signal, endpoint: target.endpoint, logger, consequence });
  };
  const consoleExporter = new ConsoleKillLogExporter();
  let dropped: ((count: number) => void) | undefined;
  let retried: (() => void) | undefined;
  const spool = config.export.spoolDir !== undefined
    ? new Spool({ dir: config.export.spoolDir, maxPending: config.export.maxSpooled, logger, onDropped: (count) => dropped?.(count) })
    : undefined;
  const waiting = spool ? 'the kills wait in the spool and are retried' : 'the kills wait in memory and are retried';
  const metricFailures = failures('metrics', 'the counters are retried, with their full cumulative values');
  const exporter = createOtelExporter({
    agentResource: resource,
    createLogExporter: factories.logs ?? (() => consoleExporter),
    ...(otlp.logs && { logFailures: failures('logs', waiting) }),
    ...(factories.traces && { createSpanExporter: factories.traces, spanFailures: failures('traces', waiting.replace('kills', 'spans')) }),
    ...(metrics.push !== undefined && {
      metricExporter: factories.metrics
        ? new MetricDelivery({ createExporter: factories.metrics, ...(metricFailures && { failures: metricFailures }), onRetry: () => retried?.() })
        : new ConsoleCounterExporter(),
    }),
    ...(prometheus && { pullReaders: [prometheus] }),
    cardinalityLimit: metrics.cardinalityLimit,
    ...(spool && { spool }),
    metricIntervalMs: config.export.metricIntervalMs,
    logger,
  });
  dropped = (count) => exporter.recordReceiverEvent('spool', 'dropped', count);
  retried = () => exporter.recordReceiverEvent('metrics-export', 'retried');
  return exporter;
}

/** The agent's identity; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES (read by the SDK's detector) win. */
async function agentResource(config: Readonly<Config>, clusterUid: string | undefined): Promise<Resource> {
  const base = resourceFromAttributes(agentAttributes({
    version: VERSION,
    nodeName: config.nodeName,
    ...(config.clusterName !== undefined && { clusterName: config.clusterName }),
    ...(clusterUid !== undefined && { clusterUid }),
  }));
  const detected = detectResources({ detectors: [envDetector] });
  await detected.waitForAsyncAttributes?.();
  return base.merge(detected);
}

function waitForSignal(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGTERM', done);
      process.off('SIGINT', done);
      resolve();
    };
    process.on('SIGTERM', done);
    process.on('SIGINT', done);
  });
}

if (import.meta.main) {
  // Exit explicitly: gRPC channels and informers would otherwise keep the process alive.
  process.exit(await main(process.argv.slice(2), process.env));
}
