#!/bin/sh
# Builds the file tree of the container image into OUTDIR: the one definition of the build steps, run by
# the Dockerfile and, outside Docker, by CI (test/deploy/image-tree.test.ts). The tree holds the compiled
# receiver (dist/), its production dependencies, and the BPF loader; no compilers, no sources.
# Usage: scripts/build-image-tree.sh OUTDIR   (run from a checkout where scripts/setup.sh has run)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:?usage: build-image-tree.sh OUTDIR}
say() { echo "build-image-tree: $*" >&2; }

say "building the BPF program and loader"
make -C bpf -s
say "compiling TypeScript to dist/"
rm -rf dist
node_modules/.bin/tsc -p tsconfig.build.json

rm -rf "$OUT"
mkdir -p "$OUT/bpf/.output"
cp -R dist bin package.json package-lock.json README.md "$OUT/"
cp bpf/.output/oomkill-loader "$OUT/bpf/.output/"
say "installing production dependencies"
(cd "$OUT" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error --prefer-offline)

# Only the loader is privileged: file capabilities, granted when the unprivileged receiver execs it.
if [ "$(id -u)" = 0 ] && command -v setcap >/dev/null; then
	setcap cap_bpf,cap_perfmon,cap_sys_resource+p "$OUT/bpf/.output/oomkill-loader"
	say "gave the loader cap_bpf, cap_perfmon, cap_sys_resource"
else
	say "not root or no setcap: the loader has no file capabilities (the Dockerfile sets them)"
fi
say "done: $OUT"
