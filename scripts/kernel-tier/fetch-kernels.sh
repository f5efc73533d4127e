#!/bin/sh
# Fetches Debian's newest 5.10 (bullseye), 6.1 (bookworm) and 6.12 (trixie) kernels for the kernel tier:
# the plain `linux-image-<version>-amd64-unsigned` packages (the `-cloud-` flavour lacks the 9p modules),
# from the other suites of the same Debian archive this machine's apt uses, through a private apt
# configuration under the cache directory, so the machine's own apt lists, cache and state are untouched.
#
# Usage: scripts/kernel-tier/fetch-kernels.sh [SERIES...]     (default: 5.10 6.1 6.12)
# Environment: OOMKILL_KERNEL_TIER_CACHE (default /var/cache/oomkill-kernel-tier): kept between runs, so CI
# on this machine downloads a kernel once. The private package lists are refreshed when older than a day;
# a kernel already extracted is reused until a newer one of its series appears in them.
# Writes $CACHE/kernels/<series>/{vmlinuz,modules/,version} and prints nothing on stdout.
# Exits non-zero, naming the series, when a kernel cannot be fetched.
set -eu
CACHE=${OOMKILL_KERNEL_TIER_CACHE:-/var/cache/oomkill-kernel-tier}
SERIES=${*:-5.10 6.1 6.12}
say() { echo "kernel-tier fetch: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}
for tool in apt-get apt-cache dpkg-deb; do
	command -v "$tool" >/dev/null || die "$tool is missing (scripts/setup.sh installs it)"
done

APT="$CACHE/apt"
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/etc/sources.list.d" "$APT/etc/preferences.d" "$CACHE/kernels"

# The machine's own Debian archive (its deb822 or one-line sources), with the suites the tier needs.
archive_uri() { # $1: a regular expression the URI must match
	{
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | sed -n 's/^URIs:[[:space:]]*//p' | tr ' ' '\n'
		cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }'
	} | grep -E "$1" | head -1
}
MAIN=$(archive_uri 'debian/?$' || true)
SECURITY=$(archive_uri 'debian-security/?$' || true)
[ -n "$MAIN" ] || die "no Debian archive (a URI ending in /debian) in this machine's apt sources"
[ -n "$SECURITY" ] || SECURITY=$(echo "$MAIN" | sed 's,/debian/*$,/debian-security,')
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
{
	for suite in bullseye bookworm trixie; do
		echo "deb [signed-by=$KEYRING] $MAIN $suite main"
		echo "deb [signed-by=$KEYRING] $MAIN $suite-updates main"
		echo "deb [signed-by=$KEYRING] $SECURITY $suite-security main"
	done
} >"$APT/etc/sources.list.new"

apt_private() { # $1: apt-get or apt-cache, then its arguments
	tool=$1
	shift
	"$tool" -q -o Dir::Etc::sourcelist="$APT/etc/sources.list" -o Dir::Etc::sourceparts="$APT/etc/sources.list.d" \
		-o Dir::Etc::preferencesparts="$APT/etc/preferences.d" -o Dir::State::Lists="$APT/lists" \
		-o Dir::Cache="$APT" -o Dir::Cache::archives="$APT/archives" -o Dir::State::status=/dev/null \
		-o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1 "$@"
}

stale=1
if cmp -s "$APT/etc/sources.list.new" "$APT/etc/sources.list" && [ -f "$APT/updated" ] &&
	[ -z "$(find "$APT/updated" -mmin +1440)" ]; then
	stale=""
fi
mv "$APT/etc/sources.list.new" "$APT/etc/sources.list"
if [ -n "$stale" ]; then
	say "updating the private package lists ($MAIN, $SECURITY: bullseye, bookworm, trixie)"
	if apt_private apt-get update -qq >"$APT/update.log" 2>&1 && ! grep -q '^[WE]:' "$APT/update.log"; then
		touch "$APT/updated"
	else
		say "warning: apt-get update failed or warned (below); using the package lists and kernels already cached"
		sed 's/^/  /' "$APT/update.log" >&2
	fi
fi

pattern_of() {
	case $1 in
	5.10) echo '^linux-image-5\.10\.0-[0-9]+-amd64-unsigned$' ;;
	6.1) echo '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' ;;
	6.12) echo '^linux-image-6\.12\.[0-9]+\+deb[0-9]+-amd64-unsigned$' ;;
	*) die "unknown series $1 (known: 5.10 6.1 6.12)" ;;
	esac
}

for series in $SERIES; do
	dest="$CACHE/kernels/$series"
	package=$(apt_private apt-cache search --names-only "$(pattern_of "$series")" 2>/dev/null | cut -d' ' -f1 | sort -V | tail -1)
	if [ -z "$package" ]; then
		if [ -s "$dest/vmlinuz" ]; then
			say "$series: no package in the lists; using the cached $(cat "$dest/version")"
			continue
		fi
		die "$series: no package matching $(pattern_of "$series") in the private lists of $MAIN (see $APT/update.log)"
	fi
	version=$(apt_private apt-cache show --no-all-versions "$package" | sed -n 's/^Version: //p' | head -1)
	if [ -s "$dest/vmlinuz" ] && [ "$(cat "$dest/version" 2>/dev/null)" = "$package $version" ]; then
		say "$series: $package $version cached"
		continue
	fi
	say "$series: downloading $package $version"
	work=$(mktemp -d "$CACHE/fetch.XXXXXX")
	if ! (cd "$work" && apt_private apt-get download "$package" >"$work/download.log" 2>&1); then
		sed 's/^/  /' "$work/download.log" >&2
		rm -rf "$work"
		die "$series: apt-get download $package failed"
	fi
	mkdir "$work/root"
	dpkg-deb -x "$work"/*.deb "$work/root" || die "$series: cannot extract $package"
	rm -rf "$work/kernel" && mkdir -p "$work/kernel"
	mv "$work"/root/boot/vmlinuz-* "$work/kernel/vmlinuz" || die "$series: no /boot/vmlinuz-* in $package"
	mv "$work"/root/lib/modules/* "$work/kernel/modules" 2>/dev/null || mv "$work"/root/usr/lib/modules/* "$work/kernel/modules" ||
		die "$series: no /lib/modules in $package"
	echo "$package $version" >"$work/kernel/version"
	rm -rf "$dest" && mv "$work/kernel" "$dest" && rm -rf "$work"
	say "$series: cached in $dest"
done

# AppArmor's user space for the guests (the kernels enable the LSM; this machine does not run it): Debian's
# `apparmor` (apparmor_parser) and `libapparmor1`, from this machine's own release so they run on its libc,
# extracted, not installed. Without them the daemonset check cannot enforce the manifest's profile and says so.
codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
if [ ! -x "$CACHE/apparmor/sbin/apparmor_parser" ]; then
	work=$(mktemp -d "$CACHE/fetch.XXXXXX")
	if (cd "$work" && apt_private apt-get download "apparmor/$codename" "libapparmor1/$codename" >"$work/download.log" 2>&1); then
		mkdir -p "$work/root"
		for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
		rm -rf "$CACHE/apparmor" && mv "$work/root" "$CACHE/apparmor"
		say "apparmor: cached apparmor_parser and libapparmor1 ($codename) in $CACHE/apparmor"
	else
		say "warning: cannot download apparmor/$codename (below): the daemonset check will say AppArmor was not enforced"
		sed 's/^/  /' "$work/download.log" >&2
	fi
	rm -rf "$work"
fi
