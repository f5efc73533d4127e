import { describe, expect, it } from 'vitest';
import { agentAttributes, serviceInstanceId, uuidV5 } from '../src/agent-identity.ts';

describe('the agent\'s identity', () => {
  it('makes RFC 4122 version 5 UUIDs', () => {
    // The RFC's DNS namespace and a name, as Python's uuid.uuid5 gives them.
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org')).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  it('gives each node one service.instance.id, the same at every restart, distinct across nodes and clusters', () => {
    expect(serviceInstanceId('node-7', 'prod-eu')).toBe('2a16d2b1-3d35-5885-a031-dfbfda35b2ad'); // the conventions' namespace
    expect(serviceInstanceId('node-7', 'prod-eu')).toBe(serviceInstanceId('node-7', 'prod-eu'));
    expect(new Set([serviceInstanceId('node-7'), serviceInstanceId('node-8'), serviceInstanceId('node-7', 'prod-us')]).size).toBe(3);
  });

  it('names the cluster when configured, and its UID when read', () => {
    expect(agentAttributes({ version: '1.2.3', nodeName: 'n1' })).toEqual({
      'service.name': 'oomkill-receiver', 'service.version': '1.2.3', 'service.instance.id': serviceInstanceId('n1'), 'host.name': 'n1', 'k8s.node.name': 'n1',
    });
    expect(agentAttributes({ version: '1', nodeName: 'n1', clusterName: 'prod-eu', clusterUid: 'u-1' })).toMatchObject({ 'k8s.cluster.name': 'prod-eu', 'k8s.cluster.uid': 'u-1' });
  });
});
