import { describe, expect, it } from 'vitest';
import { resolveWorkload } from '../../src/enrichment/workload.ts';
import type { OwnerLookup, OwnerRef } from '../../src/enrichment/workload.ts';

const owners = (table: Record<string, OwnerRef[] | undefined>): OwnerLookup => (kind, name) => table[`${kind}/${name}`];
const rs: OwnerRef = { kind: 'ReplicaSet', name: 'cart-7d9f8b6c5', controller: true };
const job: OwnerRef = { kind: 'Job', name: 'report-29001440', controller: true };

describe('resolveWorkload', () => {
  it.each([
    ['a Deployment through its ReplicaSet', [rs], owners({ 'ReplicaSet/cart-7d9f8b6c5': [{ kind: 'Deployment', name: 'cart', controller: true }] }), { kind: 'Deployment', name: 'cart', attributes: { 'k8s.replicaset.name': 'cart-7d9f8b6c5', 'k8s.deployment.name': 'cart' } }],
    ['a bare ReplicaSet', [rs], owners({ 'ReplicaSet/cart-7d9f8b6c5': [] }), { kind: 'ReplicaSet', name: 'cart-7d9f8b6c5', attributes: { 'k8s.replicaset.name': 'cart-7d9f8b6c5' } }],
    ['a CronJob through its Job', [job], owners({ 'Job/report-29001440': [{ kind: 'CronJob', name: 'report', controller: true }] }), { kind: 'CronJob', name: 'report', attributes: { 'k8s.job.name': 'report-29001440', 'k8s.cronjob.name': 'report' } }],
    ['a bare Job', [{ kind: 'Job', name: 'migrate', controller: true }], owners({ 'Job/migrate': [] }), { kind: 'Job', name: 'migrate', attributes: { 'k8s.job.name': 'migrate' } }],
    ['a StatefulSet', [{ kind: 'StatefulSet', name: 'db', controller: true }], owners({}), { kind: 'StatefulSet', name: 'db', attributes: { 'k8s.statefulset.name': 'db' } }],
    ['a DaemonSet', [{ kind: 'DaemonSet', name: 'fluent-bit', controller: true }], owners({}), { kind: 'DaemonSet', name: 'fluent-bit', attributes: { 'k8s.daemonset.name': 'fluent-bit' } }],
    ['a custom controller', [{ kind: 'Rollout', name: 'canary', controller: true }], owners({}), { kind: 'Rollout', name: 'canary', attributes: {} }],
    ['a bare pod', [], owners({}), { kind: 'Pod', name: 'debug', attributes: {} }],
    ['a Deployment guessed from the pod-template-hash when the lookup failed', [rs], owners({}), { kind: 'Deployment', name: 'cart', attributes: { 'k8s.replicaset.name': 'cart-7d9f8b6c5', 'k8s.deployment.name': 'cart' } }],
    ['a CronJob guessed from the scheduled-minute suffix when the lookup failed', [job], owners({}), { kind: 'CronJob', name: 'report', attributes: { 'k8s.job.name': 'report-29001440', 'k8s.cronjob.name': 'report' } }],
  ] as const)('resolves %s', (_name, podOwners, lookup, expected) => {
    expect(resolveWorkload({ name: 'debug', owners: [...podOwners], labels: { 'pod-template-hash': '7d9f8b6c5' } }, lookup)).toEqual(expected);
  });

  it('prefers the controller among several owners', () => {
    const result = resolveWorkload({ name: 'p', owners: [{ kind: 'ConfigMap', name: 'x' }, { kind: 'StatefulSet', name: 'db', controller: true }] }, owners({}));
    expect(result.kind).toBe('StatefulSet');
  });
});
