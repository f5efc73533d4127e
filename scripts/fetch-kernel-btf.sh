#!/bin/sh
# Fetches the BTF of kernels this machine does not run, so the CO-RE test can relocate the BPF object
# against them: Debian's 6.1 and 6.12 cloud kernels (their kernfs_node still has `parent`; 6.15 renamed it
# `__parent`), and this machine's own. Each Debian package holds a bzImage; the vmlinux inside it is a
# compressed stream found by its magic bytes, and its .BTF section is written out as raw BTF.
# Idempotent: what exists is kept. Usage: scripts/fetch-kernel-btf.sh [OUTDIR] (default .cache/kernel-btf)
set -eu
cd "$(dirname "$0")/.."
OUT=${1:-.cache/kernel-btf}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { echo "fetch-kernel-btf: $*" >&2; }

newest_package() { # $1: a regular expression over package names
	apt-cache search --names-only "$1" | cut -d' ' -f1 | sort -V | tail -1
}

# Writes the kernel inside bzImage $1 to $2, trying each compression whose magic appears in it.
decompress_kernel() {
	for kind in lz4 xz zstd gzip; do
		case $kind in
		lz4) magic='\x02\x21\x4c\x18' cmd='lz4 -dc' ;;
		xz) magic='\xfd\x37\x7a\x58\x5a\x00' cmd='xz -dcq' ;;
		zstd) magic='\x28\xb5\x2f\xfd' cmd='zstd -dcq' ;;
		gzip) magic='\x1f\x8b\x08' cmd='gzip -dcq' ;;
		esac
		for offset in $(LC_ALL=C grep -obUaP "$magic" "$1" | cut -d: -f1 | head -5); do
			tail -c +$((offset + 1)) "$1" | $cmd >"$2" 2>/dev/null || true
			if [ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
				say "  found a $kind-compressed kernel at byte $offset"
				return 0
			fi
		done
	done
	return 1
}

fetch() { # $1: name (6.1, 6.12), $2: package pattern
	target="$OUT/$1.btf"
	if [ -s "$target" ]; then
		say "$target exists"
		return
	fi
	package=$(newest_package "$2")
	if [ -z "$package" ]; then
		say "no package matches $2 (run apt-get update?)"
		exit 1
	fi
	say "$1: downloading $package"
	(cd "$WORK" && apt-get download "$package" >/dev/null 2>&1) || {
		say "apt-get download $package failed; updating the package lists and retrying"
		apt-get update -qq && (cd "$WORK" && apt-get download "$package" >/dev/null)
	}
	rm -rf "$WORK/root" && mkdir "$WORK/root"
	dpkg-deb -x "$WORK"/"$package"_*.deb "$WORK/root"
	vmlinuz=$(ls "$WORK"/root/boot/vmlinuz-* | head -1)
	decompress_kernel "$vmlinuz" "$WORK/vmlinux" || { say "$1: no compressed kernel found in $vmlinuz"; exit 1; }
	objcopy --dump-section .BTF="$WORK/$1.btf" "$WORK/vmlinux" "$WORK/discard" || { say "$1: no .BTF section"; exit 1; }
	bpftool btf dump file "$WORK/$1.btf" format raw | grep -q "^\[[0-9]*\] STRUCT 'kernfs_node'" || { say "$1: BTF without struct kernfs_node"; exit 1; }
	mv "$WORK/$1.btf" "$target"
	rm -rf "$WORK/root" "$WORK"/*.deb "$WORK/vmlinux" "$WORK/discard"
	say "$1: wrote $target"
}

fetch 6.1 '^linux-image-6\.1\.0-[0-9]+-cloud-amd64-unsigned$'
fetch 6.12 '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-amd64-unsigned$'
if [ ! -s "$OUT/running.btf" ] && [ -r /sys/kernel/btf/vmlinux ]; then
	cp /sys/kernel/btf/vmlinux "$OUT/running.btf" && chmod 644 "$OUT/running.btf"
	say "copied this kernel's BTF ($(uname -r))"
fi
