// The bundle's patch of the OTLP serializer's string encoding (scripts/native-utf8.ts) changes nothing in
// what is sent: the same log records serialize to the same bytes with and without it, hostile strings
// included (every UTF-8 length, lone surrogates, control characters, long values).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { expect, it } from 'vitest';
import { applyPatch, nativeUtf8 } from '../../scripts/native-utf8.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// The copy the gRPC log exporter uses; every copy in node_modules has the same writer.
const TRANSFORMER = join(ROOT, 'node_modules/@opentelemetry/exporter-logs-otlp-grpc/node_modules/@opentelemetry/otlp-transformer/dist/index.mjs');

interface Serializer { serializeRequest(records: unknown[]): Uint8Array | undefined }

async function bundledSerializer(dir: string, name: string, patched: boolean): Promise<Serializer> {
  const outfile = join(dir, `${name}.mjs`);
  await build({
    stdin: { contents: `export { ProtobufLogsSerializer } from ${JSON.stringify(TRANSFORMER)};`, resolveDir: ROOT, loader: 'js' },
    outfile, bundle: true, platform: 'node', format: 'esm', logLevel: 'error', plugins: patched ? [nativeUtf8] : [],
  });
  return ((await import(outfile)) as { ProtobufLogsSerializer: Serializer }).ProtobufLogsSerializer;
}

const HOSTILE = ['', 'oomkill-hog', 'é', '€uro', '😀 emoji', 'a\uD800b', '\uDC00', 'tail\uD83D', '\n\t"\'\\', '\u0000\u007f\u0080\u009f', 'ü'.repeat(5000), 'x'.repeat(70_000)];

function record(value: string, i: number): unknown {
  return {
    hrTime: [1_800_000_000, i], hrTimeObserved: [1_800_000_000, i + 1], severityNumber: 13, severityText: 'WARN', eventName: value, body: value,
    attributes: { [value || 'empty']: value, 'oomkill.victim.comm': value, 'process.pid': i, nested: [value, { k: value }] },
    droppedAttributesCount: 0, resource: { attributes: { 'service.name': value }, schemaUrl: undefined }, instrumentationScope: { name: value, version: value },
  };
}

it('serializes the same bytes as the unpatched serializer, hostile strings included', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'native-utf8-'));
  try {
    const [original, patched] = await Promise.all([bundledSerializer(dir, 'original', false), bundledSerializer(dir, 'patched', true)]);
    expect(readFileSync(join(dir, 'original.mjs'), 'utf8')).toContain('isAscii');
    expect(readFileSync(join(dir, 'patched.mjs'), 'utf8')).not.toContain('isAscii');
    for (const [i, value] of HOSTILE.entries()) {
      const records = [record(value, i)];
      expect(Buffer.from(patched.serializeRequest(records) as Uint8Array).equals(Buffer.from(original.serializeRequest(records) as Uint8Array)), JSON.stringify(value.slice(0, 20))).toBe(true);
    }
    const all = HOSTILE.map(record);
    expect(Buffer.from(patched.serializeRequest(all) as Uint8Array).equals(Buffer.from(original.serializeRequest(all) as Uint8Array))).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

it('fails the build, saying why, when the package no longer has the function it replaces', () => {
  const patch = { file: /x/, from: 'function utf8ByteLength(str) {', to: '\n}\n', replacement: '' };
  expect(() => applyPatch('protobuf-size-estimator.mjs', 'function utf8ByteLength(s) { return 0; }', patch)).toThrow(/no longer has the function/);
});
