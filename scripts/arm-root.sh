#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A Debian bookworm root of another architecture (arm64, armhf) for the ARM
# lab (scripts/lab.sh --arch): the guest's / is this root, read-only over
# 9p below a tmpfs overlay, since the host's binaries are amd64. It holds
# what the VM tests run besides the tree's own (cross-built) programs:
# busybox (also the lab's initramfs), bash, coreutils, kmod, iproute2,
# python3, mosquitto and its clients, openssl, and the runtime libraries of
# iotsecd, iotsecctl and the test programs.
#
#   arm-root.sh ARCH [--print]   make the root of ARCH if needed; print its path
#   arm-root.sh ARCH --packages  print the package list
#
# Made with `mmdebstrap --variant=extract`: the packages (and everything
# they depend on) are unpacked, no maintainer script runs, so no emulation
# of ARM (qemu-user, binfmt_misc) is needed on the host. What those scripts
# would have done and the tests rely on is done here: /etc/passwd and
# /etc/group (base-passwd's masters, plus the mosquitto user), the awk
# alternative, an empty ld.so.cache (the multiarch library directories are
# in ld.so's built-in search path). No documentation, manuals, locales or
# package lists are kept: 116 MB (armhf) to 171 MB (arm64), made in about a
# minute.
#
# Cached as CACHE/arm-root/ARCH-STAMP (CACHE: scripts/lib-cache.sh), STAMP a
# hash of the suite, the package list and LAYOUT, so a change of any makes a
# new root (older roots of the same ARCH are removed then). Sources:
# scripts/apt-suites.sh --lines, the machine's own Debian sources.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib-cache.sh"
die() { echo "arm-root: $*" >&2; exit 2; }

arch=${1:-}
case "$arch" in
arm64|armhf) ;;
-h|--help|"") sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) die "unknown architecture '$arch' (arm64 or armhf)" ;;
esac
suite=${ARM_ROOT_SUITE:-bookworm}

PKGS="base-files base-passwd libc6 libc-bin dash bash coreutils util-linux mount
sed grep mawk findutils diffutils procps kmod iproute2 busybox-static
python3 mosquitto mosquitto-clients openssl
libnl-3-200 libnl-genl-3-200 libmosquitto1 libssl3 libyaml-0-2 libjson-c5
libfuse3-3 fuse3 libcap2-bin"
# ARM_ROOT_DEB=linux-headers-KVER: the root for the package test
# (tests/vm/test-deb-install.sh, make check-packages): also apt, dpkg, DKMS,
# gcc and make and the kernel's headers (the guest builds the module), the
# packages registered as installed in dpkg's database (from their control
# files and contents; their maintainer scripts still do not run), so that
# apt-get install ./iotsec*.deb in the guest finds its dependencies there.
# Cached apart: CACHE/arm-root/ARCH-deb-STAMP.
flavour=
if [ -n "${ARM_ROOT_DEB:-}" ]; then
	flavour=deb-
	PKGS="$PKGS apt dpkg dkms make gcc-12 init-system-helpers systemd $ARM_ROOT_DEB"
fi
PKGS=$(echo $PKGS)

# Bump LAYOUT when the way the root is made changes what is in it.
LAYOUT=1
stamp=$(echo "$LAYOUT${flavour:+ deb1} $suite $arch $PKGS" | sha256sum | cut -c1-16)
base=$(iotsec_cache "$top")/arm-root
root=$base/$arch-$flavour$stamp

# register_debs ROOT: each .deb in ROOT's apt cache recorded in ROOT's dpkg
# database as installed (status, file list, conffiles), then the .debs go.
register_debs() {
	local r=$1 deb pkg info
	info=$r/var/lib/dpkg/info
	mkdir -p "$info"
	: >"$r/var/lib/dpkg/status"
	for deb in "$r"/var/cache/apt/archives/*.deb; do
		pkg=$(dpkg-deb -f "$deb" Package)
		ma=$(dpkg-deb -f "$deb" Multi-Arch)
		[ "$ma" = same ] && pkg=$pkg:$arch
		{
			dpkg-deb -f "$deb" | sed '/^Status:/d; /^Package:/a Status: install ok installed'
			if dpkg-deb --ctrl-tarfile "$deb" | tar t 2>/dev/null | grep -qx './conffiles'; then
				echo "Conffiles:"
				dpkg-deb --ctrl-tarfile "$deb" | tar xO ./conffiles |
					while read -r f; do
						[ -f "$r$f" ] && echo " $f $(md5sum <"$r$f" | cut -d' ' -f1)"
					done
			fi
			echo
		} >>"$r/var/lib/dpkg/status"
		dpkg-deb --fsys-tarfile "$deb" | tar t | sed 's|^\./|/|; s|/$||; s|^$|/.|' >"$info/$pkg.list"
		dpkg-deb --ctrl-tarfile "$deb" | tar xO ./md5sums >"$info/$pkg.md5sums" 2>/dev/null ||
			rm -f "$info/$pkg.md5sums"
	done
	# the database's layout: list files of Multi-Arch: same packages
	# named PACKAGE:ARCH
	echo 1 >"$info/format"
	rm -f "$r"/var/cache/apt/archives/*.deb
	mkdir -p "$r/var/lib/apt/lists/partial" "$r/var/cache/apt/archives/partial" \
		"$r/var/lib/dkms" "$r/etc/apt/apt.conf.d"
	# No network in the lab; nothing to fetch.
	echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/90iotsec-lab"
}

make_root() {
	command -v mmdebstrap >/dev/null ||
		die "no mmdebstrap (scripts/install-deps.sh)"
	local tmp srcs=() d
	mapfile -t srcs < <("$top/scripts/apt-suites.sh" --lines "$suite") ||
		die "no apt sources (scripts/apt-suites.sh)"
	[ ${#srcs[@]} -gt 0 ] || die "no apt sources for $suite"
	tmp=$root.new
	rm -rf "$tmp"
	mkdir -p "$base"
	echo "arm-root: making $root ($suite $arch: $PKGS)" >&2
	mmdebstrap --variant=extract --mode=root --architectures="$arch" \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		--include="${PKGS// /,}" \
		--aptopt='Acquire::Languages "none"' \
		${flavour:+--skip=cleanup/apt/cache} \
		"$suite" "$tmp" "${srcs[@]}" >&2 ||
		{ rm -rf "$tmp"; die "mmdebstrap failed"; }
	# What the maintainer scripts would have made.
	cp "$tmp/usr/share/base-passwd/passwd.master" "$tmp/etc/passwd"
	cp "$tmp/usr/share/base-passwd/group.master" "$tmp/etc/group"
	echo 'mosquitto:x:100:101::/var/lib/mosquitto:/usr/sbin/nologin' >>"$tmp/etc/passwd"
	echo 'mosquitto:x:101:' >>"$tmp/etc/group"
	printf 'root:*::0:99999:7:::\n' >"$tmp/etc/shadow"
	ln -sfn mawk "$tmp/usr/bin/awk"
	: >"$tmp/etc/ld.so.cache"
	mkdir -p "$tmp/var/lib/mosquitto" "$tmp/run" "$tmp/tmp" "$tmp/root"
	chmod 1777 "$tmp/tmp"
	echo "iotsec-lab" >"$tmp/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n' >"$tmp/etc/hosts"
	[ -z "$flavour" ] || register_debs "$tmp"
	# Not needed at run time: documentation, manuals, locales, apt's state.
	for d in usr/share/doc usr/share/man usr/share/locale usr/share/info \
		 var/cache/apt var/lib/apt/lists; do
		rm -rf "${tmp:?}/$d"
	done
	[ -z "$flavour" ] || mkdir -p "$tmp/var/lib/apt/lists/partial" "$tmp/var/cache/apt/archives/partial"
	echo "$stamp $arch $suite $PKGS" >"$tmp/.iotsec-stamp"
	# One root per architecture: the older ones go.
	for d in "$base/$arch-$flavour"????????????????; do
		[ -d "$d" ] && [ "$d" != "$tmp" ] && rm -rf "$d"
	done
	mv "$tmp" "$root"
	echo "arm-root: $(du -sh "$root" | cut -f1) in $root" >&2
}

# One maker at a time per cache.
mkdir -p "$base"
exec 8>"$base/.lock-$arch"
flock 8
if [ "$(cut -d' ' -f1 "$root/.iotsec-stamp" 2>/dev/null)" != "$stamp" ]; then
	make_root
fi

case "${2:---print}" in
--print) echo "$root" ;;
--packages) echo "$PKGS" ;;
*) die "usage: arm-root.sh arm64|armhf [--print|--packages]" ;;
esac
