#!/bin/sh
# Inside a kernel-tier guest (scripts/kernel-tier/boot.sh SERIES OUTDIR TIMEOUT CHECKOUT this-script ...),
# as root, from the checkout: loads runtime-default.profile (the runtime's default AppArmor rules) and runs
# the DaemonSet through test/support/daemonset-identity.ts under it, once per manifest given, each followed
# by a real OOM kill; prints what each container said and what the kill gave. A manifest followed by
# `unconfined` runs without the profile, for contrast.
#
# Usage: daemonset-under-apparmor.sh APPARMOR_ROOT IMAGE_TREE MANIFEST [unconfined] [MANIFEST [unconfined]]...
#   APPARMOR_ROOT: Debian's apparmor package extracted (dpkg-deb -x), for its sbin/apparmor_parser
#   IMAGE_TREE:    scripts/build-image-tree.sh's output, outside /tmp and /run (the guest's own tmpfs)
# Exit: 0; read the output (each launcher's exit: 97 when an init container failed).
set -u
AA=$1 TREE=$2
shift 2
PROFILE=oomkill-test-runtime-default
NODE=node_modules/.bin/node
echo "== $(uname -r); AppArmor enabled: $(cat /sys/module/apparmor/parameters/enabled); /sys/fs/bpf: $(stat -c '%a %U' /sys/fs/bpf)"
"$AA/sbin/apparmor_parser" -r -K test/support/apparmor/runtime-default.profile 2>&1 | grep -v parser.conf
echo "== loaded: $(grep $PROFILE /sys/kernel/security/apparmor/profiles)"
echo +memory >/sys/fs/cgroup/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/apparmor-check && echo 32M >/sys/fs/cgroup/apparmor-check/memory.max
n=0
while [ $# -gt 0 ]; do
	manifest=$1 profile=$PROFILE
	shift
	[ "${1:-}" = unconfined ] && profile="" && shift
	n=$((n + 1)) out=/tmp/apparmor-check-$n
	mkdir -p $out
	rm -rf /sys/fs/bpf/oomkill
	echo "== $manifest, AppArmor ${profile:-unconfined}"
	$NODE test/support/daemonset-identity.ts --image-tree "$TREE" --work-dir $out/work --node-name guest \
		--host-path /var/lib/oomkill-receiver=$out/var --env OTEL_EXPORTER_OTLP_ENDPOINT= \
		--env OOMKILL_HEALTH_ADDR=127.0.0.1:8089 ${profile:+--apparmor-profile $profile} --manifest "$manifest" \
		>$out/stdout 2>$out/stderr &
	pid=$!
	for i in $(seq 180); do grep -q '"source: ' $out/stderr && break; kill -0 $pid 2>/dev/null || break; sleep 1; done
	if kill -0 $pid 2>/dev/null; then
		echo "-- receiver's AppArmor label: $(cat /proc/$(pgrep -f 'bin/oomkill-receiver' | head -1)/attr/current)"
		echo "-- /readyz: $(wget -q -O - http://127.0.0.1:8089/readyz 2>&1)"
		sh -c 'echo $$ >/sys/fs/cgroup/apparmor-check/cgroup.procs && exec sh -c "head -c 300M /dev/zero | tail >/dev/null"'
		echo "-- hog exit $? (137: OOM-killed)"
		sleep 8
		kill -TERM $pid
	fi
	wait $pid
	echo "-- launcher exit $?"
	sed 's/^/   stderr| /' $out/stderr
	grep -a 'OOM kill' $out/stdout | sed 's/^/   stdout| /'
	echo "-- /sys/fs/bpf/oomkill: $(ls /sys/fs/bpf/oomkill 2>&1 | tr '\n' ' ')"
done
