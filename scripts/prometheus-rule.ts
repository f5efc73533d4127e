// Writes deploy/alerts/prometheus-rule.yaml (for the Prometheus Operator) from the plain rules file,
// their one definition. A test fails when the two disagree: run `node scripts/prometheus-rule.ts`.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';

export const RULES_PATH = fileURLToPath(new URL('../deploy/alerts/oomkill-rules.yaml', import.meta.url));
export const PROMETHEUS_RULE_PATH = fileURLToPath(new URL('../deploy/alerts/prometheus-rule.yaml', import.meta.url));

export function prometheusRule(rulesYaml: string): string {
  const rules = parse(rulesYaml) as { groups: unknown[] };
  const manifest = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'oomkill-receiver', namespace: 'oomkill-receiver', labels: { 'app.kubernetes.io/name': 'oomkill-receiver' } },
    spec: { groups: rules.groups },
  };
  return `# Generated from oomkill-rules.yaml by scripts/prometheus-rule.ts: edit that file, not this one.\n${stringify(manifest, { lineWidth: 0 })}`;
}

if (import.meta.main) writeFileSync(PROMETHEUS_RULE_PATH, prometheusRule(readFileSync(RULES_PATH, 'utf8')));
