#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A Debian trixie root to build the module against Linux 6.12 from a
# bookworm machine. Trixie's linux-headers-6.12 carry kbuild tools linked
# against trixie's glibc and expect gcc-14, neither of which bookworm has;
# so the build runs inside a minimal trixie root (mmdebstrap, no services,
# no documentation) with the source tree bind-mounted at its own path.
#
#   trixie-root.sh [--print]     make the root if needed; print its path
#   trixie-root.sh --kdir        ... and print the 6.12 headers' directory in it
#   trixie-root.sh --kver        ... and print the kernel release (uname -r)
#   trixie-root.sh --source      ... and print SOURCE=, linux-source-6.12 of
#                                the root's image version (for reading:
#                                scripts/kprobe-audit.py), fetched once into
#                                build/kernels/src/PKGVER as kernel-pkgs.sh does
#   trixie-root.sh --run DIR -- CMD [ARGS...]
#                                run CMD inside the root, in DIR, with DIR
#                                bind-mounted read-write at its own path
#   trixie-root.sh [--exec] CMD [ARGS...]
#                                the same in the current directory, with the
#                                tree (and BUILD, when outside it) bound:
#                                scripts/kernels.sh's KMAKE prefix for 6.12
#                                (one word, as make's KERNEL= reads it)
#
# Inside, the root is also reachable under its host path (it lies in the
# bound tree), so $ROOT/usr/src/linux-headers-* is one KDIR for the host
# (lab.sh --kdir boots that root's own vmlinuz and modules) and for make.
#
# The root is cached in $TRIXIE_ROOT (default: the cache of
# scripts/lib-cache.sh, /var/cache/iotsec/trixie-root as root) and made
# again only when its package set changes (a stamp inside it records the
# suite and the packages). Sources: scripts/apt-suites.sh --lines, the
# machine's own Debian sources with the suite swapped (no host name here).
# Made once in about 9 minutes (most of it dpkg), about 620 MB.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib-cache.sh"
cache=$(iotsec_cache "$top")
root=${TRIXIE_ROOT:-$cache/trixie-root}
suite=${TRIXIE_SUITE:-trixie}
die() { echo "trixie-root: $*" >&2; exit 2; }

# What the module build needs: the 6.12 headers (which pull gcc-14,
# linux-kbuild-6.12 and its libraries), make, and sparse for C=1 runs.
PKGS="linux-headers-amd64 make sparse libc6-dev"

# Bump LAYOUT when the way the root is made changes what is in it.
LAYOUT=1
stamp=$(echo "$LAYOUT $suite $PKGS" | sha256sum | cut -c1-16)

make_root() {
	command -v mmdebstrap >/dev/null ||
		die "no mmdebstrap (apt-get install mmdebstrap, or scripts/install-deps.sh)"
	local tmp srcs=()
	mapfile -t srcs < <("$top/scripts/apt-suites.sh" --lines "$suite") ||
		die "no apt sources (scripts/apt-suites.sh)"
	[ ${#srcs[@]} -gt 0 ] || die "no apt sources for $suite"
	tmp=$root.new
	rm -rf "$tmp"
	mkdir -p "$(dirname "$root")"
	echo "trixie-root: making $root ($suite: $PKGS)" >&2
	# No documentation, manuals or locales: they are a third of the size.
	mmdebstrap --variant=minbase --mode=root \
		--keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
		--include="${PKGS// /,}" \
		--dpkgopt='path-exclude=/usr/share/doc/*' \
		--dpkgopt='path-exclude=/usr/share/man/*' \
		--dpkgopt='path-exclude=/usr/share/locale/*' \
		--dpkgopt='path-exclude=/usr/share/info/*' \
		--aptopt='Acquire::Languages "none"' \
		--skip=cleanup/apt/lists \
		"$suite" "$tmp" "${srcs[@]}" >&2 ||
		{ rm -rf "$tmp"; die "mmdebstrap failed"; }
	# The package lists and the initramfs are not needed (the lab makes
	# its own initramfs from the modules).
	rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*_Packages \
		"$tmp"/boot/initrd.img-*
	echo "$stamp" >"$tmp/.iotsec-stamp"
	rm -rf "$root"
	mv "$tmp" "$root"
	echo "trixie-root: $(du -sh "$root" | cut -f1) in $root" >&2
}

if [ "$(cat "$root/.iotsec-stamp" 2>/dev/null)" != "$stamp" ]; then
	make_root
fi

kdir() {
	local d
	d=$(ls -d "$root"/usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n 1)
	[ -n "$d" ] && [ -f "$d/Makefile" ] || die "no linux-headers-*-amd64 in $root"
	echo "${d#"$root"}"
}

# in_root CWD BIND... -- CMD...: CMD inside the root, in CWD, each BIND
# directory mounted at its own path. A private mount namespace: the binds
# vanish with the command, and a crash leaves nothing mounted on the host.
in_root() {
	local cwd=$1 binds=()
	shift
	while [ "$1" != -- ]; do binds+=("$(realpath "$1")"); shift; done
	shift
	# The root under its own host path too (its headers are the KDIR).
	binds+=("$root")
	[ $# -gt 0 ] || die "no command"
	exec unshare --mount --propagation private -- /bin/bash -euc '
		root=$1 cwd=$2 n=$3; shift 3
		for d in "${@:1:$n}"; do
			mkdir -p "$root$d"
			mount --bind "$d" "$root$d"
		done
		shift "$n"
		mount -t proc proc "$root/proc"
		mount --rbind /dev "$root/dev"
		exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root LANG=C.UTF-8 ${KBUILD_VERBOSE:+KBUILD_VERBOSE=$KBUILD_VERBOSE} \
			/bin/sh -c "cd \"\$0\" && exec \"\$@\"" "$cwd" "$@"
	' sh "$root" "$cwd" "${#binds[@]}" "${binds[@]}" "$@"
}

# The source tarball of the root's kernel, fetched once.
source_tarball() {
	local kver pkgver series src deb aptconf build=${BUILD:-build}
	case "$build" in /*) ;; *) build=$top/$build ;; esac
	kver=$(basename "$(kdir)" | sed 's/^linux-headers-//')
	pkgver=$(chroot "$root" dpkg-query -W -f '${Version}' "linux-image-$kver") ||
		die "no linux-image-$kver in $root"
	series=$(echo "$pkgver" | cut -d. -f1-2)
	src=$cache/kernels/src/$pkgver
	if [ ! -f "$src/.done" ]; then
		aptconf=$("$top/scripts/apt-suites.sh") || die "no apt configuration"
		export "${aptconf?}"
		mkdir -p "$src"
		(cd "$src" && apt-get -q download "linux-source-$series=$pkgver" >&2) ||
			die "apt-get download linux-source-$series=$pkgver failed"
		deb=$(ls "$src"/linux-source-"$series"_*.deb | head -n 1)
		dpkg -x "$deb" "$src/root"
		rm -f "$deb"
		touch "$src/.done"
	fi
	echo "SOURCE=$(ls "$src"/root/usr/src/linux-source-*.tar.* | head -n 1)"
}

case "${1:---print}" in
--print) echo "$root" ;;
--source) source_tarball ;;
--kdir) echo "$root$(kdir)" ;;
--kver) basename "$(kdir)" | sed 's/^linux-headers-//' ;;
--run)
	dir=$(realpath "${2:?--run DIR -- CMD}")
	shift 2
	[ "${1:-}" = -- ] && shift
	in_root "$dir" "$dir" -- "$@"
	;;
--exec|[!-]*)
	[ "$1" = --exec ] && shift
	build=${BUILD:-build}
	case "$build" in /*) ;; *) build=$top/$build ;; esac
	mkdir -p "$build"
	binds=("$top")
	case "$(realpath "$build")/" in "$top"/*) ;; *) binds+=("$build") ;; esac
	case "$(realpath "$PWD")/" in
	"$top"/*|"$(realpath "$build")"/*) ;;
	*) binds+=("$PWD") ;;
	esac
	in_root "$(realpath "$PWD")" "${binds[@]}" -- "$@"
	;;
*) die "usage: trixie-root.sh [--print|--kdir|--kver|--source|--run DIR -- CMD...|--exec CMD...]" ;;
esac
