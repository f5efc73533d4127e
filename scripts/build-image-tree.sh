#!/bin/sh
# Builds the file tree of the container image into OUTDIR: the one definition of the build steps, run by
# the Dockerfile, by CI (test/deploy/image-tree.test.ts) and by the benchmarks (bench/image.ts), so what
# is measured is what ships. The tree holds the receiver as an esbuild bundle (dist/), the BPF loader and
# package.json (the version); no node_modules, no compilers, no sources.
#
# Why a bundle: Node keeps the source text of every module it loads, and the packages' own entry points
# load far more than the receiver runs (@kubernetes/client-node's index parses about 61 MB of generated
# API code). esbuild keeps only what is reachable from src/main.ts, and with --splitting every dynamic
# import() (the Kubernetes client, a protocol's exporter) stays a separate chunk, loaded only when used.
# Usage: scripts/build-image-tree.sh OUTDIR   (run from a checkout where scripts/setup.sh has run)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:?usage: build-image-tree.sh OUTDIR}
say() { echo "build-image-tree: $*" >&2; }

say "building the BPF program and loader"
make -C bpf -s
say "type-checking"
node_modules/.bin/tsc -p tsconfig.build.json --noEmit

rm -rf "$OUT"
mkdir -p "$OUT/bpf/.output"
say "bundling src/main.ts into dist/"
node_modules/.bin/node scripts/bundle.ts "$OUT/dist"
cp -R bin package.json README.md "$OUT/"
cp bpf/.output/oomkill-loader "$OUT/bpf/.output/"

# Only the loader is privileged: file capabilities, granted when the unprivileged receiver execs it.
if [ "$(id -u)" = 0 ] && command -v setcap >/dev/null; then
	setcap cap_bpf,cap_perfmon,cap_sys_resource+p "$OUT/bpf/.output/oomkill-loader"
	say "gave the loader cap_bpf, cap_perfmon, cap_sys_resource"
else
	say "not root or no setcap: the loader has no file capabilities (the Dockerfile sets them)"
fi
say "done: $OUT"
