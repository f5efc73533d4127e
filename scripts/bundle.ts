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

/** client-node's undici import resolves to scripts/undici-left-out.ts (why: there). */
const undiciLeftOut: Plugin = {
  name: 'undici-left-out',
  setup(build) {
    build.onResolve({ filter: /^undici$/ }, (args) => (/[\\/]@kubernetes[\\/]client-node[\\/]/.test(args.importer) ? { path: join(ROOT, 'scripts', 'undici-left-out.ts') } : undefined));
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
  // module has none: the banner makes one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  plugins: [staticLazyRequires, undiciLeftOut, nativeUtf8],
  logLevel: 'warning',
});
