#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The kernels iotsec is built and tested on, by short name (the LTS series):
#
#   name   where from                                  built with
#   6.1    the machine's Debian headers and /boot      this machine's make
#          (scripts/kdir.sh), the lab's default
#   5.10   Debian bullseye's default amd64 kernel,     this machine's make
#          fetched by scripts/kernel-pkgs.sh
#   6.12   Debian trixie's default amd64 kernel,       trixie's make and
#          image, modules and headers installed in      gcc-14 in that root
#          a trixie root (scripts/trixie-root.sh)       (KMAKE: its --exec)
#
# usage: kernels.sh list            the names make check covers, in order
#                                   (IOTSEC_KERNELS="6.1 5.10 6.12" overrides)
#        kernels.sh env NAME        KEY=VALUE lines for `eval`:
#            NAME=    the short name       KVER=    its release (uname -r)
#            KDIR=    headers to build against
#            VMLINUZ= MODDIR=  what scripts/lab.sh --vmlinuz/--moddir boot
#            KMAKE=   a command prefix that runs the kernel's make (empty:
#                     this machine's; a kernel whose kbuild tools need
#                     another root names a wrapper here)
#            OUT=     build/k/NAME, where `build` puts what it builds
#            UNAVAILABLE=  event types this kernel has no hook for (names
#                     as in config's events section); the module must
#                     report them missing and the VM tests expect that
#                     (IOTSEC_UNAVAILABLE, tests/lib/iotsec-test.h)
#        kernels.sh build NAME      build iotsec.ko and the test modules for
#                                   NAME in a copy of the source under OUT
#                                   (the tree's kmod/*.o are not touched),
#                                   the module with KCFLAGS=-Werror and C=2
#                                   (sparse); prints KO=, LOG= (its build
#                                   log) and TEST_MODULES=
#        kernels.sh source NAME     SOURCE=, the kernel's source tarball
#                                   (fetched for the fetched kernels)
#        kernels.sh audit NAME      the kprobe audit table of NAME
#                                   (scripts/kprobe-audit.py protos against
#                                   its source) in build/kprobe-audit/KVER.tsv,
#                                   read in the guest by
#                                   tests/vm/test-kprobe-audit.sh; prints its path
#
# To add a kernel: one more case in kernel_env below and its name in
# KERNELS. BUILD (default build) is the build directory.
set -euo pipefail

die() { echo "kernels: $*" >&2; exit 1; }

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case "$build" in /*) ;; *) build=$top/$build ;; esac

KERNELS="6.1 5.10 6.12"

# kernel_env NAME: the KEY=VALUE lines of one kernel.
kernel_env() {
	local kdir kver kenv kmake='' unavailable=''
	case "$1" in
	6.1)
		kdir=$("$top/scripts/kdir.sh") || return 1
		kver=$(basename "$(realpath "$kdir")")
		kver=${kver#linux-headers-}
		[ "$kver" != build ] || kver=$(basename "$(dirname "$kdir")")
		kenv="KVER=$kver
KDIR=$kdir
VMLINUZ=/boot/vmlinuz-$kver
MODDIR=/lib/modules/$kver"
		;;
	5.10)
		kenv=$("$top/scripts/kernel-pkgs.sh" bullseye | grep -E '^(KVER|KDIR|VMLINUZ|MODDIR)=') ||
			return 1
		;;
	6.12)
		# Trixie's kbuild tools need trixie's glibc and gcc-14: the
		# headers, the image and the modules all come from one root.
		kdir=$("$top/scripts/trixie-root.sh" --kdir) || return 1
		kver=$("$top/scripts/trixie-root.sh" --kver) || return 1
		root=$("$top/scripts/trixie-root.sh" --print) || return 1
		kenv="KVER=$kver
KDIR=$kdir
VMLINUZ=$root/boot/vmlinuz-$kver
MODDIR=$root/usr/lib/modules/$kver"
		kmake=$top/scripts/trixie-root.sh
		;;
	*)
		die "unknown kernel '$1' (known: $KERNELS)"
		;;
	esac
	echo "NAME=$1"
	echo "$kenv"
	echo "KMAKE=$kmake"
	echo "OUT=$build/k/$1"
	echo "UNAVAILABLE=$unavailable"
}

# kernel_source NAME: the SOURCE= line of NAME's source tarball.
kernel_source() {
	local t
	case "$1" in
	6.1)
		t=$(ls /usr/src/linux-source-6.1.tar.* 2>/dev/null | head -n 1)
		[ -n "$t" ] || die "no /usr/src/linux-source-6.1.tar.xz (scripts/install-deps.sh)"
		echo "SOURCE=$t"
		;;
	5.10)
		"$top/scripts/kernel-pkgs.sh" --source bullseye | grep '^SOURCE='
		;;
	6.12)
		"$top/scripts/trixie-root.sh" --source | grep '^SOURCE='
		;;
	*)
		die "no source known for kernel '$1'"
		;;
	esac
}

# Copy the module's source (or a test module's) to DEST, keeping what is
# already built there when nothing changed (cp -u), then make it with the
# make arguments in MARGS.
build_one() {
	local name=$1 kdir=$2 kmake=$3 src=$4 dest=$5
	shift 5
	mkdir -p "$dest"
	(cd "$src" && cp -ru --parents "$@" "$dest/")
	# shellcheck disable=SC2086
	$kmake make -C "$kdir" M="$dest" $margs modules >"$dest/build.log" 2>&1 || {
		cat "$dest/build.log" >&2
		die "$name: build in $dest failed"
	}
}

case "${1:-}" in
list)
	echo "${IOTSEC_KERNELS:-$KERNELS}" | tr ' ' '\n' | grep .
	;;
env)
	[ -n "${2:-}" ] || die "usage: kernels.sh env NAME"
	kernel_env "$2"
	;;
source)
	[ -n "${2:-}" ] || die "usage: kernels.sh source NAME"
	kernel_source "$2"
	;;
audit)
	[ -n "${2:-}" ] || die "usage: kernels.sh audit NAME"
	kver=$(kernel_env "$2" | sed -n 's/^KVER=//p')
	[ -n "$kver" ] || die "no kernel $2"
	table=$build/kprobe-audit/$kver.tsv
	mkdir -p "$build/kprobe-audit"
	# Rebuilt when a kmod source is newer than the table.
	if [ ! -s "$table" ] || [ -n "$(find "$top/kmod" -name '*.c' -newer "$table")" ] ||
	   [ "$top/scripts/kprobe-audit.py" -nt "$table" ]; then
		src=$(kernel_source "$2" | sed -n 's/^SOURCE=//p')
		[ -n "$src" ] || die "no source for $2"
		# make check's host test and its VM half may both make it at
		# once: each writes a file of its own, the rename is atomic.
		tmp=$(mktemp "$table.XXXXXX")
		python3 "$top/scripts/kprobe-audit.py" protos --kmod "$top/kmod" \
			--source "$src" >"$tmp" || { rm -f "$tmp"; die "kprobe-audit.py failed"; }
		mv "$tmp" "$table"
	fi
	echo "$table"
	;;
build)
	[ -n "${2:-}" ] || die "usage: kernels.sh build NAME"
	kenv=$(kernel_env "$2") || die "no kernel $2"
	kdir=$(echo "$kenv" | sed -n 's/^KDIR=//p')
	kmake=$(echo "$kenv" | sed -n 's/^KMAKE=//p')
	out=$(echo "$kenv" | sed -n 's/^OUT=//p')
	unset MAKEFLAGS MFLAGS MAKELEVEL
	# The module: -Werror, and sparse over every file (C=2) where it is
	# installed; the build log is kept for the callers to check for
	# warnings (tests/run-kernels.sh: no warning at all).
	margs=KCFLAGS=-Werror
	! command -v sparse >/dev/null || margs="$margs C=2"
	# shellcheck disable=SC2046 # file names, split on purpose
	(cd "$top" && build_one "$2" "$kdir" "$kmake" "$top" "$out/src" \
		Kbuild $(find kmod include \( -name '*.[ch]' -o -name Kbuild -o -name Makefile \) \
			! -name '*.mod.c'))
	margs=
	mkdir -p "$out/test-modules"
	for k in "$top"/tests/modules/*/Kbuild; do
		m=$(basename "$(dirname "$k")")
		# shellcheck disable=SC2046
		build_one "$2" "$kdir" "$kmake" "$top/tests/modules/$m" \
			"$out/test-modules-src/$m" $(cd "$top/tests/modules/$m" &&
				find . \( -name '*.[ch]' -o -name Kbuild -o -name Makefile \) \
					! -name '*.mod.c')
		cp "$out/test-modules-src/$m/$m.ko" "$out/test-modules/"
	done
	echo "KO=$out/src/kmod/iotsec.ko"
	echo "LOG=$out/src/build.log"
	echo "TEST_MODULES=$out/test-modules"
	;;
*)
	sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
	[ "${1:-}" = -h ] || [ "${1:-}" = --help ]
	;;
esac
