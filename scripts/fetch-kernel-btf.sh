#!/bin/sh
# Fetches the BTF of kernels this machine does not run, so the CO-RE test can relocate the BPF object
# against them: Debian's newest 6.1 and 6.12 cloud kernels (their kernfs_node still has `parent`, which
# 6.15 renamed `__parent`; 6.1 keeps the RSS counters in struct mm_rss_stat), Debian's newest 5.10 (from
# bullseye, which this machine's apt sources do not carry: the kernel tier's cache, filled by
# scripts/kernel-tier/fetch-kernels.sh, is where it comes from), plus a copy of this machine's own BTF
# named after its release (e.g. 6.18.btf).
#
# Each Debian package holds a bzImage: the vmlinux inside is a compressed stream (LZ4 for 6.1, zstd for
# 6.12) found by its magic bytes; its .BTF section is written out as raw BTF, which libbpf's
# btf_custom_path (the loader's --btf) reads as well as an ELF.
#
# Usage: scripts/fetch-kernel-btf.sh [OUTDIR]   (default: .cache/kernel-btf in the repository)
# Idempotent: a Debian kernel's BTF already in OUTDIR is kept; this kernel's copy is refreshed if it differs.
# Needs: apt-get, dpkg-deb, lz4, xz-utils, zstd, gzip, binutils (objcopy), bpftool.
set -eu
OUT=${1:-$(dirname "$0")/../.cache/kernel-btf}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

say() { echo "fetch-kernel-btf: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

for tool in apt-get apt-cache dpkg-deb lz4 xz zstd gzip objcopy bpftool; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup.sh installs it)"
done

newest_package() { # $1: an extended regular expression over package names
	apt-cache search --names-only "$1" | cut -d' ' -f1 | sort -V | tail -1
}

# Downloads the newest package matching $1 into $WORK and prints its name. Package lists that are missing
# (a fresh container) or stale (the archive dropped an old ABI) are refreshed once.
download() {
	refreshed=""
	while :; do
		package=$(newest_package "$1")
		if [ -n "$package" ] && (cd "$WORK" && apt-get download "$package" >/dev/null 2>&1); then
			echo "$package"
			return
		fi
		[ -z "$refreshed" ] || die "no downloadable package matches $1 (last tried: ${package:-none})"
		say "${package:-no package matching $1}: not downloadable; updating apt's package lists"
		apt-get update -qq >/dev/null || die "apt-get update failed (it needs root and the network)"
		refreshed=1
	done
}

# Writes the kernel inside bzImage $1 to $2: the first stream, by magic bytes, that decompresses to an ELF.
decompress_kernel() {
	for kind in lz4 xz zstd gzip; do
		case $kind in
		lz4) magic='\x02\x21\x4c\x18' decompress='lz4 -dc' ;; # the legacy frame the kernel's build uses
		xz) magic='\xfd\x37\x7a\x58\x5a\x00' decompress='xz -dcq' ;;
		zstd) magic='\x28\xb5\x2f\xfd' decompress='zstd -dcq' ;;
		gzip) magic='\x1f\x8b\x08' decompress='gzip -dcq' ;;
		esac
		# The magic may also occur by chance in the setup code: try the first few places.
		for offset in $(LC_ALL=C grep -obUaP "$magic" "$1" | cut -d: -f1 | head -5); do
			# Decompressors complain about the bzImage's trailing bytes after the stream: expected.
			tail -c +$((offset + 1)) "$1" | $decompress >"$2" 2>/dev/null || true
			if [ "$(head -c 4 "$2" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
				say "  found a $kind-compressed ELF kernel at byte $offset"
				return 0
			fi
		done
	done
	return 1
}

# Prints the member names of the first struct named $2 in the BTF file $1.
struct_members() {
	bpftool btf dump file "$1" format raw |
		awk -v name="'$2'" '/^\[/ { inside = !done && $2 == "STRUCT" && $3 == name; done = done || inside; next }
			inside { gsub("\047", "", $1); print $1 }'
}

# Writes the .BTF of the kernel in bzImage $2 to $OUT/$1.btf, checking it is the era the test expects.
extract_btf() { # $1: release, $2: bzImage, $3: where it came from
	target="$OUT/$1.btf"
	decompress_kernel "$2" "$WORK/vmlinux" || die "$1: no LZ4, xz, zstd or gzip stream in $2 decompresses to an ELF"
	objcopy -O binary --only-section=.BTF "$WORK/vmlinux" "$WORK/$1.btf" 2>/dev/null || true
	# BTF starts with the magic 0xeB9F, little-endian here.
	[ "$(head -c 2 "$WORK/$1.btf" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 9feb ] ||
		die "$1: the kernel in $3 has no .BTF section (built without CONFIG_DEBUG_INFO_BTF?)"
	members=$(struct_members "$WORK/$1.btf" kernfs_node)
	[ -n "$members" ] || die "$1: bpftool finds no struct kernfs_node in the BTF of $3"
	# These kernels are here for their `parent`: the test proves the object picks that flavour.
	echo "$members" | grep -qx parent || die "$1: kernfs_node in $3 has no member 'parent' (members: $(echo "$members" | tr "\n" " "))"
	chmod 644 "$WORK/$1.btf" && mv "$WORK/$1.btf" "$target"
	rm -f "$WORK/vmlinux"
	say "$1: wrote $target ($(wc -c <"$target") bytes, kernfs_node.parent present)"
}

fetch_debian() { # $1: release (6.1, 6.12), $2: package name pattern
	if [ -s "$OUT/$1.btf" ]; then
		say "$1: $OUT/$1.btf exists"
		return
	fi
	package=$(download "$2")
	say "$1: downloaded $package"
	rm -rf "$WORK/root" && mkdir "$WORK/root"
	dpkg-deb --fsys-tarfile "$WORK/${package}"_*.deb | tar -x -C "$WORK/root" --wildcards './boot/vmlinuz-*' ||
		die "$1: no /boot/vmlinuz-* in $package"
	extract_btf "$1" "$(ls "$WORK"/root/boot/vmlinuz-* | head -1)" "$package"
	rm -rf "$WORK/root" "$WORK"/*.deb
}

# A kernel of a Debian release this machine's apt does not carry, from the kernel tier's cache.
fetch_from_tier() { # $1: series (5.10)
	if [ -s "$OUT/$1.btf" ]; then
		say "$1: $OUT/$1.btf exists"
		return
	fi
	vmlinuz="${OOMKILL_KERNEL_TIER_CACHE:-/var/cache/oomkill-kernel-tier}/kernels/$1/vmlinuz"
	tier_fetch="$(dirname "$0")/kernel-tier/fetch-kernels.sh"
	if [ ! -s "$vmlinuz" ] && [ -x "$tier_fetch" ]; then
		"$tier_fetch" "$1" || die "$1: $tier_fetch $1 failed"
	fi
	[ -s "$vmlinuz" ] || die "$1: no kernel at $vmlinuz (scripts/kernel-tier/fetch-kernels.sh $1 fetches it)"
	extract_btf "$1" "$vmlinuz" "$(cat "$(dirname "$vmlinuz")/version" 2>/dev/null || echo "$vmlinuz")"
}

fetch_debian 6.1 '^linux-image-6\.1\.0-[0-9]+-cloud-amd64(-unsigned)?$'
fetch_debian 6.12 '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-cloud-amd64(-unsigned)?$'
fetch_from_tier 5.10

release=$(uname -r | cut -d. -f1,2)
case $release in
6.1 | 6.12) say "this kernel is $release: Debian's $release BTF stands for it" ;;
*)
	[ -r /sys/kernel/btf/vmlinux ] || die "no BTF at /sys/kernel/btf/vmlinux: this kernel ($(uname -r)) was built without CONFIG_DEBUG_INFO_BTF"
	if cmp -s /sys/kernel/btf/vmlinux "$OUT/$release.btf"; then
		say "$release: $OUT/$release.btf is this kernel's BTF"
	else
		cp /sys/kernel/btf/vmlinux "$OUT/$release.btf" && chmod 644 "$OUT/$release.btf"
		say "$release: copied this kernel's BTF ($(uname -r)) to $OUT/$release.btf"
	fi
	;;
esac
