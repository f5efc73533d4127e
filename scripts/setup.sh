#!/bin/sh
# Everything a fresh Debian machine needs to build, run and test oomkill-receiver: the BPF toolchain,
# Prometheus' promtool (alert rule tests), QEMU and a static busybox (the kernel tier's guests), Node dependencies (Node 24 itself comes from npm), and the
# loader build. Safe to run again: it installs only what is missing.
set -eu
cd "$(dirname "$0")/.."

APT_PACKAGES="clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev make pkg-config prometheus util-linux libcap2-bin lz4 xz-utils zstd binutils qemu-system-x86 busybox-static gzip"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=""
for p in $APT_PACKAGES; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "setup: installing Debian packages:$missing"
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# npm runs only the install scripts package.json allows (allowScripts: node, protobufjs).
echo "setup: installing npm dependencies (Node 24 comes with them as node_modules/.bin/node)"
npm ci --no-audit --no-fund --loglevel=error

echo "setup: building the BPF program and its loader"
make -C bpf -s

echo "setup: done. Node for npm scripts: $(node_modules/.bin/node --version)"
