// The receiver as one esbuild bundle, split at every dynamic import(): run by scripts/build-image-tree.sh
// (why a bundle is said there). Usage: node scripts/bundle.ts OUTDIR
import { readFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Plugin } from 'esbuild';
import { nativeUtf8 } from './native-utf8.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = process.argv[2];
if (outdir === undefined) {
  process.stderr.write('usage: node scripts/bundle.ts OUTDIR\n');
  process.exit(2);
}

/**
 * Packages built by rolldown load some dependencies lazily with `__require("pkg")`, a createRequire of
 * their own that a bundler cannot see: in a tree without node_modules it throws at the first export
 * (the OTLP gRPC exporter's `__require("@grpc/grpc-js")` does). Such a call becomes a static import, so
 * the package is bundled like any other; Node's built-ins stay as they are.
 */
const staticLazyRequires: Plugin = {
  name: 'static-lazy-requires',
  setup(build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/].*\.mjs$/ }, async (args) => {
      const text = await readFile(args.path, 'utf8');
      const names = [...new Set([...text.matchAll(/\b__require\("([^"]+)"\)/g)].map((m) => m[1] as string))].filter((name) => !isBuiltin(name));
      if (names.length === 0) return undefined;
      let contents = text;
      const imports = names.map((name, i) => {
        contents = contents.replaceAll(`__require(${JSON.stringify(name)})`, `__lazyRequired${i}`);
        return `import * as __lazyRequired${i} from ${JSON.stringify(name)};`;
      });
      return { contents: `${imports.join('\n')}\n${contents}`, loader: 'js', resolveDir: dirname(args.path) };
    });
  },
};

/**
 * Packages the receiver never runs, each replaced by a stand-in under scripts/ that throws a clear error if
 * used, and only where the named package imports it (why each is left out: in its stand-in).
 */
const LEFT_OUT: ReadonlyArray<{ name: string; importer: RegExp; standIn: string }> = [
  { name: 'undici', importer: /[\\/]@kubernetes[\\/]client-node[\\/]/, standIn: 'undici-left-out.ts' },
  { name: '@grpc/proto-loader', importer: /[\\/]@grpc[\\/]grpc-js[\\/]/, standIn: 'proto-loader-left-out.ts' },
];
const leftOut: Plugin = {
  name: 'left-out',
  setup(build) {
    const names = LEFT_OUT.map((e) => e.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    build.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, (args) => {
      const entry = LEFT_OUT.find((e) => e.name === args.path && e.importer.test(args.importer));
      return entry && { path: join(ROOT, 'scripts', entry.standIn) };
    });
  },
};

/**
 * Node's built-ins come from process.getBuiltinModule(), not through an ES import. Importing a built-in as an
 * ES module builds its ES facade, which reads every export once, and some exports load what the receiver
 * never uses when read: node:http's WebSocket, CloseEvent and MessageEvent load Node's own copy of undici
 * (about 750 KB of source, 10 MB of RSS in a bare Node), node:util's diff and setTraceSigInt load
 * worker_threads (2.6 MB). So each imported built-in becomes a module that exports its own properties, each
 * read on its own only where it is imported (an unused export is a pure expression, dropped by the bundle;
 * esbuild's CommonJS interop would read every property's descriptor, which runs node:util's lazy ones).
 * The names are the build's Node's; a name the image's Node lacks fails the build, not the receiver.
 */
const builtinsWithoutEsFacade: Plugin = {
  name: 'builtins-without-es-facade',
  setup(build) {
    // Only static imports: a dynamic import() needs every export, which is what the facade does anyway.
    build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => args.kind === 'import-statement' && isBuiltin(args.path) ? { path: args.path, namespace: 'node-builtin' } : undefined);
    build.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (args) => {
      const names = Object.getOwnPropertyNames(process.getBuiltinModule(args.path)).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && name !== 'default');
      const exports = names.map((name) => `export const ${name} = /* @__PURE__ */ (() => builtin.${name})();`);
      return { contents: [`const builtin = process.getBuiltinModule(${JSON.stringify(args.path)});`, 'export default builtin;', ...exports].join('\n'), loader: 'js' };
    });
  },
};

await build({
  entryPoints: [join(ROOT, 'src', 'main.ts')],
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'esm',
  splitting: true,
  chunkNames: 'chunk-[hash]',
  // Identifiers are kept (no minifyIdentifiers): stack traces in a 3 a.m. log must name functions.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  // The bundled CommonJS packages (grpc-js, protobufjs) call require() for Node's built-ins, and an ES
  // module has none: the banner makes one, with no ES import of node:module (see builtinsWithoutEsFacade).
  banner: { js: "const require = process.getBuiltinModule('node:module').createRequire(import.meta.url);" },
  plugins: [builtinsWithoutEsFacade, staticLazyRequires, leftOut, nativeUtf8],
  logLevel: 'warning',
});
