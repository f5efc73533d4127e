#!/bin/busybox sh
# /init of the kernel tier's initramfs (see boot.sh): mounts this machine's root read-only over 9p, builds
# the mounts a systemd node has (cgroup2, bpffs at mode 0700, tracefs, securityfs), chroots into it and
# runs the command boot.sh baked into /tier.env, then powers off. Everything here is busybox.
/bin/busybox mkdir -p /bin /proc /sys /dev /newroot
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
. /tier.env
say() { echo "kernel-tier guest: $*" >/dev/console; }

# Each module needs the ones it depends on loaded first (virtio needs virtio_ring; 9p needs 9pnet, netfs,
# fscache on some kernels): insert in passes until none is left or a pass makes no progress. A module the
# kernel has built in is simply absent from /modules.
pending=$(ls /modules)
while [ -n "$pending" ]; do
	left=""
	for ko in $pending; do insmod "/modules/$ko" 2>/dev/null || left="$left $ko"; done
	[ "$left" = "$pending" ] && break
	pending=$(echo $left)
done
[ -z "$pending" ] || say "cannot load:$pending"
if ! mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /newroot; then
	say "FATAL: cannot mount the host's root over 9p"
	poweroff -f
fi
R=/newroot
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=755 tmpfs $R/run
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup
mount -t bpf -o mode=700 bpf $R/sys/fs/bpf
mount -t tracefs tracefs $R/sys/kernel/tracing
mount -t securityfs securityfs $R/sys/kernel/security
mkdir -p $R/run/kernel-tier
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out $R/run/kernel-tier || say "FATAL: cannot mount the results share"
# The working tree has a share of its own, mounted at its own path: it may sit under a directory the guest
# mounts afresh (a clone in /tmp, as CI's may be), where the root's share would not show it.
mkdir -p "$R$TIER_CWD"
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose tree "$R$TIER_CWD" || say "FATAL: cannot mount the working tree $TIER_CWD"
ip link set lo up
hostname "kernel-tier-$TIER_KERNEL"
say "booted $(uname -r) in $(cut -d' ' -f1 /proc/uptime) s"
chroot $R /bin/sh -c "cd '$TIER_CWD' && exec $TIER_COMMAND" </dev/console >/dev/console 2>&1
echo "$?" >$R/run/kernel-tier/exit-status
cat /proc/uptime >$R/run/kernel-tier/uptime
dmesg >$R/run/kernel-tier/dmesg.txt
umount $R/run/kernel-tier
sync
poweroff -f
