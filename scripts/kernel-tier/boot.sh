#!/bin/sh
# Boots one cached Debian kernel (fetch-kernels.sh) under QEMU's TCG emulation and runs COMMAND in it, in a
# chroot of this machine's root (shared read-only over 9p), with cwd CWD (shared on its own too: see init.sh); OUTDIR is shared writable and
# appears in the guest as /run/kernel-tier. The guest's console goes to stdout and to OUTDIR/console.log.
#
# Usage: scripts/kernel-tier/boot.sh SERIES OUTDIR TIMEOUT_SECONDS CWD COMMAND...
# Exit: the command's exit status; 124 when the guest did not finish within TIMEOUT_SECONDS; 125 when it
# stopped without reporting one (a crash or a kernel panic: see OUTDIR/console.log).
#
# The QEMU flags are the ones found deterministic here (../shared/KERNEL-NOTES.md): `thread=single` runs
# both vCPUs on one host thread, because multi-threaded TCG made Node die of SIGSEGV or fall silent in a
# few percent of runs (code written on one vCPU and run on another: V8's JIT); `la57=off` because Node
# segfaults under 5-level paging on 6.12. OOMKILL_KERNEL_TIER_ACCEL overrides the -accel value, only for
# flake-probe.sh's comparison.
set -eu
CACHE=${OOMKILL_KERNEL_TIER_CACHE:-/var/cache/oomkill-kernel-tier}
SERIES=$1 OUTDIR=$2 TIMEOUT=$3 CWD=$(cd "$4" && pwd)
shift 4
HERE=$(cd "$(dirname "$0")" && pwd)
KERNEL="$CACHE/kernels/$SERIES"
say() { echo "kernel-tier boot: $*" >&2; }
[ -s "$KERNEL/vmlinuz" ] || { say "no kernel for $SERIES in $KERNEL (run fetch-kernels.sh)"; exit 2; }
BUSYBOX=$(command -v busybox || true)
[ -n "$BUSYBOX" ] && file -L "$BUSYBOX" | grep -q 'statically linked' || { say "busybox-static is missing (scripts/setup.sh installs it)"; exit 2; }

# The initramfs: busybox, /init, the 9p and virtio modules (decompressed: insmod reads plain ELF), and the
# command to run.
INITRD_DIR=$(mktemp -d)
trap 'rm -rf "$INITRD_DIR"' EXIT
mkdir -p "$INITRD_DIR/bin" "$INITRD_DIR/modules"
cp "$BUSYBOX" "$INITRD_DIR/bin/busybox"
cp "$HERE/init.sh" "$INITRD_DIR/init" && chmod 755 "$INITRD_DIR/init"
for m in virtio virtio_ring virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci netfs fscache 9pnet 9pnet_virtio 9p; do
	ko=$(find "$KERNEL/modules/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -1)
	case $ko in
	'') ;; # built in, or not needed by this kernel
	*.xz) xz -dc "$ko" >"$INITRD_DIR/modules/$m.ko" ;;
	*.zst) zstd -dcq "$ko" >"$INITRD_DIR/modules/$m.ko" ;;
	*) cp "$ko" "$INITRD_DIR/modules/$m.ko" ;;
	esac
done
quote() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
command=""
for arg in "$@"; do command="$command $(quote "$arg")"; done
{
	echo "TIER_KERNEL=$(quote "$SERIES")"
	echo "TIER_CWD=$(quote "$CWD")"
	echo "TIER_COMMAND=$(quote "$command")"
} >"$INITRD_DIR/tier.env"
(cd "$INITRD_DIR" && find . | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null | gzip -1) >"$OUTDIR/initrd.gz"

rm -f "$OUTDIR/exit-status" "$OUTDIR/qemu-status"
{
	timeout --foreground -k 10 "$TIMEOUT" qemu-system-x86_64 -machine q35 -accel "${OOMKILL_KERNEL_TIER_ACCEL:-tcg,thread=single}" -cpu max,la57=off -smp 2 -m 3G \
	-nographic -no-reboot -nodefaults -serial stdio -display none \
	-kernel "$KERNEL/vmlinuz" -initrd "$OUTDIR/initrd.gz" \
	-append "console=ttyS0 panic=-1 loglevel=4 oops=panic" \
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$OUTDIR,mount_tag=out,security_model=none,multidevs=remap" \
	-virtfs "local,path=$CWD,mount_tag=tree,security_model=none,readonly=on,multidevs=remap" </dev/null 2>&1
	echo $? >"$OUTDIR/qemu-status"
} | tee "$OUTDIR/console.log"
rm -f "$OUTDIR/initrd.gz"
if [ "$(cat "$OUTDIR/qemu-status")" = 124 ]; then
	say "$SERIES: the guest did not finish within $TIMEOUT s"
	exit 124
fi
if [ -s "$OUTDIR/exit-status" ]; then
	exit "$(cat "$OUTDIR/exit-status")"
fi
grep -q 'kernel-tier guest: booted' "$OUTDIR/console.log" || say "$SERIES: the guest did not boot (see $OUTDIR/console.log)"
exit 125
