#!/bin/sh
# The kernel tier: boots Debian's newest 5.10, 6.1 and 6.12 kernels under QEMU (TCG, no KVM needed) and
# runs scripts/kernel-tier/guest.ts in each: real OOM kills through every hook, a Kubernetes-shaped cgroup
# v2 layout, a global OOM, a memory.oom.group kill, PID namespaces, the kmsg source, and the receiver as
# deploy/daemonset.yaml runs it. Prints one line per kernel and check, and each kernel's wall time.
#
# Usage: scripts/kernel-tier/run.sh [--record] [SERIES...]      (default: 5.10 6.1 6.12)
#   --record   also write the results to test/testdata/kernel-tier/last-run.json, the captured OOM reports
#              to test/testdata/kmsg/, and the README's kernel support table (commit them).
# Environment: OOMKILL_KERNEL_TIER_CACHE (default /var/cache/oomkill-kernel-tier; kernels, runs),
#   OOMKILL_KERNEL_TIER_TIMEOUT (seconds per kernel, default 780: the three stay under 40 minutes).
# A kernel that cannot be fetched is a failure under CI=true or REQUIRE_BPF=1, a skip otherwise.
# Exit: 0 when every check passed on every kernel.
set -eu
cd "$(dirname "$0")/../.."
REPO=$(pwd)
CACHE=${OOMKILL_KERNEL_TIER_CACHE:-/var/cache/oomkill-kernel-tier}
export OOMKILL_KERNEL_TIER_CACHE="$CACHE"
TIMEOUT=${OOMKILL_KERNEL_TIER_TIMEOUT:-780}
RECORD=""
[ "${1:-}" = --record ] && RECORD=--record && shift
SERIES=${*:-5.10 6.1 6.12}
NODE="$REPO/node_modules/.bin/node"
say() { echo "kernel-tier: $*" >&2; }
required() { [ "${CI:-}" = true ] || [ "${REQUIRE_BPF:-}" = 1 ]; }

[ "$(id -u)" = 0 ] || { say "needs root (QEMU's 9p share of / and the kernel cache)"; required && exit 1; exit 0; }
for tool in qemu-system-x86_64 busybox; do
	command -v "$tool" >/dev/null || { say "$tool is missing: scripts/setup.sh installs it"; exit 1; }
done

if ! scripts/kernel-tier/fetch-kernels.sh $SERIES; then
	for s in $SERIES; do [ -s "$CACHE/kernels/$s/vmlinuz" ] || echo "kernel-tier $s fetch FAIL the kernel could not be fetched (see above) (0s)"; done
	if required; then exit 1; fi
	say "SKIPPED: kernels could not be fetched (a failure under CI=true or REQUIRE_BPF=1)"
	exit 0
fi

# The guests run the receiver from the image's own tree, as the image does (and the daemonset check runs the
# image's identity on it).
IMAGE_TREE="$CACHE/image-tree"
say "building the image tree in $IMAGE_TREE (scripts/build-image-tree.sh)"
scripts/build-image-tree.sh "$IMAGE_TREE" >"$CACHE/image-tree.log" 2>&1 || { cat "$CACHE/image-tree.log" >&2; say "cannot build the image tree"; exit 1; }

RUN="$CACHE/runs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$RUN"
# Keep the last few runs' consoles for post-mortems.
ls -1d "$CACHE"/runs/* | sort | head -n -5 | xargs -r rm -rf
tier_start=$(date +%s)
for s in $SERIES; do
	mkdir -p "$RUN/$s"
	cp "$CACHE/kernels/$s/version" "$RUN/$s/package"
	say "$s: booting $(cat "$RUN/$s/package") (console: $RUN/$s/console.log)"
	start=$(date +%s)
	status=0
	scripts/kernel-tier/boot.sh "$s" "$RUN/$s" "$TIMEOUT" "$REPO" \
		"$NODE" scripts/kernel-tier/guest.ts "$s" /run/kernel-tier "$IMAGE_TREE" "$CACHE/apparmor" >/dev/null || status=$?
	echo $(($(date +%s) - start)) >"$RUN/$s/wall-seconds"
	echo "$status" >"$RUN/$s/status"
	say "$s: wall time $(cat "$RUN/$s/wall-seconds") s"
	# The guest's lines, as it printed them (the gather step below checks that none is missing).
	grep -a "^kernel-tier $s " "$RUN/$s/console.log" | tr -d '\r' || true
done
say "all kernels: wall time $(($(date +%s) - tier_start)) s"
"$NODE" scripts/kernel-tier/results.ts gather "$RUN" $RECORD
