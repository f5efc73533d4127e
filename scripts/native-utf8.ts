// An esbuild plugin for the image's bundle (scripts/bundle.ts): the OTLP protobuf serializer
// (@opentelemetry/otlp-transformer) encodes strings to UTF-8 one character at a time in JavaScript, twice
// (once to size the buffer, once to write it). Under --lite-mode (Dockerfile) that JavaScript is
// interpreted, and the loops were a third of the receiver's CPU per kill: a kill's record is about 2 KB of
// attribute names and values. Here both become Node's native encoder, byte for byte the same output
// (test/deploy/native-utf8.test.ts compares them on hostile strings). Should the package change these
// functions, the build fails and says so, rather than ship without the patch or patch the wrong thing.
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Plugin } from 'esbuild';

interface Patch { file: RegExp; from: string; to: string; replacement: string }

const PATCHES: Patch[] = [
  {
    file: /[\\/]otlp-transformer[\\/]dist[\\/]common[\\/]protobuf[\\/]protobuf-size-estimator\.mjs$/,
    from: 'function utf8ByteLength(str) {\n\tconst len = str.length;',
    to: '\treturn byteLen;\n}\n',
    replacement: 'function utf8ByteLength(str) {\n\treturn Buffer.byteLength(str, "utf8");\n}\n',
  },
  {
    file: /[\\/]otlp-transformer[\\/]dist[\\/]common[\\/]protobuf[\\/]protobuf-writer\.mjs$/,
    from: '\twriteString(str) {\n\t\tlet isAscii = true;',
    to: '\t\t\tthis.writeBytes(bytes);\n\t\t}\n\t}\n',
    replacement: [
      '\twriteString(str) {',
      '\t\tconst len = Buffer.byteLength(str, "utf8");',
      '\t\tthis.writeVarint(len);',
      '\t\tthis._ensureCapacity(len);',
      '\t\tthis._textEncoder.encodeInto(str, this._buffer.subarray(this.pos, this.pos + len));',
      '\t\tthis.pos += len;',
      '\t}',
      '',
    ].join('\n'),
  },
];

/** The source with the patch applied; throws when the function is not there exactly once. */
export function applyPatch(path: string, text: string, patch: Patch): string {
  const start = text.indexOf(patch.from);
  const end = start < 0 ? -1 : text.indexOf(patch.to, start);
  if (start < 0 || end < 0 || text.indexOf(patch.from, start + 1) >= 0) {
    throw new Error(`scripts/native-utf8.ts: ${path} no longer has the function this patch replaces; review the patch against the new @opentelemetry/otlp-transformer`);
  }
  return text.slice(0, start) + patch.replacement + text.slice(end + patch.to.length);
}

export const nativeUtf8: Plugin = {
  name: 'native-utf8',
  setup(build) {
    for (const patch of PATCHES) {
      build.onLoad({ filter: patch.file }, async (args) => ({
        contents: applyPatch(args.path, await readFile(args.path, 'utf8'), patch),
        loader: 'js',
        resolveDir: dirname(args.path),
      }));
    }
  },
};
