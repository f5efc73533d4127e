// Validates Kubernetes manifests offline against the API's own schema, as client-node's models carry
// it (generated from the Kubernetes OpenAPI): every field must exist on its type, with the right kind
// of value. Unknown fields, typos and wrong nesting are reported with their path.
import * as k8s from '@kubernetes/client-node';

interface Attribute { name: string; baseName: string; type: string }
type Model = { getAttributeTypeMap(): Attribute[] };
const models = k8s as unknown as Record<string, Model | undefined>;

/** apiVersion + kind -> model class name: apps/v1 DaemonSet -> V1DaemonSet. */
function modelName(apiVersion: string, kind: string): string {
  const version = apiVersion.split('/').at(-1) ?? '';
  return `${version.charAt(0).toUpperCase()}${version.slice(1)}${kind}`;
}

export function validateManifest(object: Record<string, unknown>): string[] {
  const apiVersion = String(object.apiVersion ?? '');
  const kind = String(object.kind ?? '');
  const name = modelName(apiVersion, kind);
  if (typeof models[name]?.getAttributeTypeMap !== 'function') return [`${kind}: no schema for ${apiVersion} ${kind}`];
  return check(object, name, kind);
}

/** Kinds this validator has a schema for. */
export const hasSchema = (apiVersion: string, kind: string): boolean => typeof models[modelName(apiVersion, kind)]?.getAttributeTypeMap === 'function';

function check(value: unknown, type: string, path: string): string[] {
  if (value === null || value === undefined) return [];
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) return [`${path}: expected a list`];
    return value.flatMap((item, i) => check(item, array[1] as string, `${path}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a map`];
    return Object.entries(value).flatMap(([k, v]) => check(v, map[1] as string, `${path}.${k}`));
  }
  switch (type) {
    case 'string': return typeof value === 'string' ? [] : [`${path}: expected a string, got ${JSON.stringify(value)}`];
    case 'number': return typeof value === 'number' ? [] : [`${path}: expected a number, got ${JSON.stringify(value)}`];
    case 'boolean': return typeof value === 'boolean' ? [] : [`${path}: expected true or false, got ${JSON.stringify(value)}`];
    case 'IntOrString': return typeof value === 'number' || typeof value === 'string' ? [] : [`${path}: expected a number or string`];
    case 'Date': return typeof value === 'string' ? [] : [`${path}: expected a timestamp`];
    case 'any': case 'object': return [];
  }
  const model = models[type];
  if (typeof model?.getAttributeTypeMap !== 'function') return [];
  if (typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object of type ${type}`];
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]));
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => {
    const attribute = attributes.get(key);
    if (!attribute) return [`${path}.${key}: unknown field for ${type}`];
    return check(child, attribute.type, `${path}.${key}`);
  });
}
