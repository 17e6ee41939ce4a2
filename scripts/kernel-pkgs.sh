#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Fetch a Debian suite's default kernel of an architecture without
# installing anything into the host: the image (vmlinuz and the modules
# tree, 9p/virtio modules included), its headers (arch and common) and the
# kbuild tools, through the project's apt configuration
# (scripts/apt-suites.sh), with `apt-get download` and `dpkg -x`, into
# build/kernels/<KVER>/.
#
# usage: kernel-pkgs.sh [--refresh] SUITE [ARCH]  (bullseye | bookworm | trixie)
#        kernel-pkgs.sh --source SUITE   also fetch linux-source-X.Y of the
#                                        same version; prints SOURCE= too
#   ARCH is a Debian architecture: amd64 (the default), arm64 or armhf
#   (flavour armmp), or armhf-lpae (flavour armmp-lpae). The headers of a
#   foreign architecture are built against with this machine's cross
#   compiler and the amd64 linux-kbuild of the same version (its modpost
#   reads 32- and 64-bit ELF), which the headers' scripts/ and tools/
#   links reach inside the extracted root:
#     eval "$(scripts/kernel-pkgs.sh bookworm arm64)"
#     make -C "$KDIR" M=$PWD ARCH=$KARCH CROSS_COMPILE=$CROSS_COMPILE
#
# Prints KEY=VALUE lines, for `eval`:
#   SUITE=    the suite asked for
#   ARCH=     the Debian architecture (amd64, arm64, armhf)
#   KARCH=    the kernel's ARCH (x86, arm64, arm)
#   CROSS_COMPILE=  the cross compiler prefix (empty for amd64)
#   KVER=     the kernel release (uname -r in a guest booting it)
#   PKGVER=   the Debian package version (newest of SUITE, SUITE-updates and
#             SUITE-security)
#   ROOT=     where the packages were extracted
#   VMLINUZ=  the kernel image (scripts/lab.sh --vmlinuz)
#   MODDIR=   its modules tree, depmod run (scripts/lab.sh --moddir)
#   KDIR=     the headers' build directory (make module KDIR=...)
#
# Idempotent and resumable: each .deb is downloaded and extracted once (a
# stamp per package); an interrupted run picks up where it stopped. The
# answer for a suite is kept in build/kernels/SUITE.env and printed again
# (SUITE-FLAVOUR.env for another architecture than amd64) and printed again
# without asking apt until --refresh, so a kernel stays the same between
# runs until someone moves it on.
#
# The extracted headers are made usable where they are: Debian's arch
# Makefile includes the common headers by their absolute /usr/src path and
# .kernelvariables names the compiler the kernel was built with (gcc-10 for
# bullseye). The first becomes a relative include; the second, when that
# compiler is not on this machine, becomes plain gcc (KBUILD_CC= below says
# which), so `make -C $KDIR M=...` works with no further variables.
set -euo pipefail

die() { echo "kernel-pkgs: $*" >&2; exit 1; }

refresh=0 want_source=0
while :; do
	case "${1:-}" in
	--refresh) refresh=1; shift ;;
	--source) want_source=1; shift ;;
	*) break ;;
	esac
done
suite=${1:-}
case "$suite" in
bullseye|bookworm|trixie) ;;
-h|--help|"") sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
*) die "unknown suite '$suite' (bullseye, bookworm or trixie)" ;;
esac
# The architecture: Debian's name, its kernel flavour, the kernel's ARCH,
# the GNU triplet of the cross compiler.
arch=${2:-amd64}
case "$arch" in
amd64) flavour=amd64 karch=x86 cross= ;;
arm64) flavour=arm64 karch=arm64 cross=aarch64-linux-gnu- ;;
armhf) flavour=armmp karch=arm cross=arm-linux-gnueabihf- ;;
armhf-lpae) arch=armhf flavour=armmp-lpae karch=arm cross=arm-linux-gnueabihf- ;;
*) die "unknown architecture '$arch' (amd64, arm64, armhf or armhf-lpae)" ;;
esac
# A package of the architecture (the kbuild tools and the arch: all common
# headers are asked for by their bare name: this machine's).
aq=
[ "$arch" = amd64 ] || aq=:$arch

top=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-build}
case "$build" in /*) ;; *) build=$top/$build ;; esac
. "$top/scripts/lib-cache.sh"
kernels=$(iotsec_cache "$top")/kernels
mkdir -p "$kernels"
envfile=$kernels/$suite.env
[ "$arch" = amd64 ] || envfile=$kernels/$suite-$flavour.env

# The kernel's source tarball (linux-source-X.Y of PKGVER), extracted from
# its package into build/kernels/src: for reading, never built.
source_tarball() {
	local pkgver=$1 series src deb
	series=$(echo "$pkgver" | cut -d. -f1-2)
	src=$kernels/src/$pkgver
	if [ ! -f "$src/.done" ]; then
		aptconf=$("$top/scripts/apt-suites.sh") || die "no apt configuration"
		export "${aptconf?}"
		mkdir -p "$src"
		deb=$(ls "$src"/linux-source-"${series}"_*.deb 2>/dev/null | head -n 1) || true
		if [ -z "$deb" ]; then
			(cd "$src" && apt-get -q download "linux-source-$series=$pkgver" >&2) ||
				die "apt-get download linux-source-$series=$pkgver failed"
			deb=$(ls "$src"/linux-source-"${series}"_*.deb | head -n 1)
		fi
		dpkg -x "$deb" "$src/root"
		rm -f "$deb"
		touch "$src/.done"
	fi
	echo "SOURCE=$(ls "$src"/root/usr/src/linux-source-*.tar.* | head -n 1)"
}

if [ $refresh = 0 ] && [ -f "$envfile" ] && [ -f "$(dirname "$envfile")/$(sed -n 's/^KVER=//p' "$envfile")/.done" ]; then
	# (Answers kept before KBUILD_CC's value was quoted for eval.)
	sed "s/^KBUILD_CC=\([^'].*\)\$/KBUILD_CC='\1'/" "$envfile"
	if [ $want_source = 1 ]; then
		exec 8>"$kernels/.lock"
		flock 8
		source_tarball "$(sed -n 's/^PKGVER=//p' "$envfile")"
	fi
	exit 0
fi

# One fetch at a time per build directory.
exec 8>"$kernels/.lock"
flock 8

upd=()
[ $refresh = 0 ] || upd=(--update)
aptconf=$("$top/scripts/apt-suites.sh" "${upd[@]}") ||
	die "no apt configuration"
export "${aptconf?}"

# The newest version of PKG in SUITE, SUITE-updates or SUITE-security.
newest() {
	apt-cache madison "$1" | awk -F' [|] ' -v s="$suite" '
		{ split($3, a, " "); split(a[2], b, "/") }
		b[1] == s || b[1] == s "-updates" || b[1] == s "-security" { gsub(/ /, "", $2); print $2 }' |
		sort -V | tail -n 1
}
# The dependencies of PKG=VER whose names match the extended REGEX, as
# NAME=VERSION: the version it pins (=), or the suite's newest (>=).
deps() {
	local name rel ver
	apt-cache show "$1=$2" | sed -n 's/^Depends: //p' | head -n 1 | tr ',' '\n' |
		awk -v re="^($3)\$" '$1 ~ re && ($2 == "(=" || $2 == "(>=") {
			v = $3; sub(/\).*/, "", v); print $1, $2, v }' |
		while read -r name rel ver; do
			[ "$rel" = "(>=" ] && ver=$(newest "$name")
			echo "$name=$ver"
		done
}

meta=$(newest "linux-image-$flavour$aq")
[ -n "$meta" ] || die "no linux-image-$flavour$aq in $suite (apt lists: $aptconf)"
image=$(deps "linux-image-$flavour$aq" "$meta" 'linux-image-[0-9][^ ]*' | head -n 1)
[ -n "$image" ] || die "linux-image-$flavour$aq=$meta names no kernel image"
imgpkg=${image%%=*} imgver=${image#*=}
kver=${imgpkg#linux-image-}
kver=${kver%-unsigned}
hdrpkg=linux-headers-$kver
headers=$(deps "$hdrpkg$aq" "$imgver" 'linux-(headers|kbuild)-[^ ]*')
pkgs="$imgpkg$aq=$imgver $hdrpkg$aq=$imgver $headers"

dir=$kernels/$kver
root=$dir/root
mkdir -p "$dir/debs" "$root"
for p in $pkgs; do
	name=${p%%=*} ver=${p#*=}
	aname=$name
	name=${name%:*}
	stamp=$dir/debs/.$name.extracted
	[ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ver" ] && continue
	deb=$(ls "$dir/debs/${name}_${ver//:/%3a}_"*.deb 2>/dev/null | head -n 1) || true
	if [ -z "$deb" ]; then
		echo "kernel-pkgs: downloading $name $ver" >&2
		(cd "$dir/debs" && apt-get -q download "$aname=$ver" >&2) ||
			die "apt-get download $aname=$ver failed"
		deb=$(ls "$dir/debs/${name}_"*.deb | head -n 1)
	fi
	echo "kernel-pkgs: extracting $(basename "$deb")" >&2
	dpkg -x "$deb" "$root"
	echo "$ver" >"$stamp"
done

vmlinuz=$root/boot/vmlinuz-$kver
[ -f "$vmlinuz" ] || die "no $vmlinuz in the image package"
moddir=
for d in "$root/lib/modules/$kver" "$root/usr/lib/modules/$kver"; do
	[ -d "$d/kernel" ] && { moddir=$d; break; }
done
[ -n "$moddir" ] || die "no modules tree for $kver"
kdir=$root/usr/src/linux-headers-$kver
[ -f "$kdir/Makefile" ] || die "no $kdir/Makefile"

# The arch Makefile includes the common one by its installed path.
sed -i 's|^include /usr/src/\(linux-headers-[^/]*\)/Makefile$|include ../\1/Makefile|' \
	"$kdir/Makefile"
# The compiler the kernel was built with, or this machine's gcc.
cc=$(sed -n 's/^CC = .*)gcc\(-[0-9]*\)$/gcc\1/p' "$kdir/.kernelvariables" 2>/dev/null | head -n 1)
if [ -n "$cc" ] && ! command -v "$cross$cc" >/dev/null; then
	sed -i "s/)$cc\$/)gcc/" "$kdir/.kernelvariables"
	echo "$cc" >"$dir/.cc-was"
fi
[ -f "$dir/.cc-was" ] && cc=$(cat "$dir/.cc-was")
kbuild_cc=$(sed -n 's/^CC = .*)\(gcc[-0-9]*\)$/\1/p' "$kdir/.kernelvariables" 2>/dev/null | head -n 1)
# The modules tree points at the headers by their installed path; and the
# package leaves modules.dep to its postinst.
ln -sfn "$kdir" "$moddir/build"
if [ ! -f "$moddir/modules.dep" ] || [ "$moddir/modules.dep" -ot "$dir/debs/.$imgpkg.extracted" ]; then
	base=${moddir%/lib/modules/$kver}
	/sbin/depmod -b "$base" "$kver" 2>/dev/null || depmod -b "$base" "$kver" ||
		die "depmod failed"
fi
touch "$dir/.done"

{
	echo "SUITE=$suite"
	echo "ARCH=$arch"
	echo "KARCH=$karch"
	echo "CROSS_COMPILE=$cross"
	echo "KVER=$kver"
	echo "PKGVER=$imgver"
	echo "ROOT=$root"
	echo "VMLINUZ=$vmlinuz"
	echo "MODDIR=$moddir"
	echo "KDIR=$kdir"
	echo "KBUILD_CC='${kbuild_cc:-gcc}${cc:+ (built with $cc)}'"
} >"$envfile.tmp"
mv "$envfile.tmp" "$envfile"
if [ "$arch" = amd64 ]; then
	ln -sfn "$kver" "$kernels/$suite"
else
	ln -sfn "$kver" "$kernels/$suite-$flavour"
fi
cat "$envfile"
[ $want_source = 0 ] || source_tarball "$imgver"
