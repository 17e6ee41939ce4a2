#!/bin/sh
# SPDX-License-Identifier: MIT
#
# deb-build.sh TARBALL OUTDIR [REVISION [ARCH]]: the Debian packages from
# make dist's tarball (mk/deb.mk). Unpacks it as the upstream source
# (iotsec_<version>.orig.tar.gz), adds a changelog entry <version>-REVISION
# dated at the tarball's commit time (same input, same packages), runs
# dpkg-buildpackage -b, and leaves the .deb files and the .changes in OUTDIR
# (emptied first).
set -eu
tarball=${1:?usage: deb-build.sh TARBALL OUTDIR [REVISION [ARCH]]}
out=${2:?usage: deb-build.sh TARBALL OUTDIR [REVISION [ARCH]]}
rev=${3:-1}
arch=${4:-}
name=$(basename "$tarball" .tar.gz)
ver=${name#iotsec-}

build_arch=$(dpkg-architecture -qDEB_BUILD_ARCH)
aflag=
if [ -n "$arch" ] && [ "$arch" != "$build_arch" ]; then
	gnu=$(dpkg-architecture -a"$arch" -qDEB_HOST_GNU_TYPE 2>/dev/null)
	if ! command -v "$gnu-gcc" >/dev/null; then
		echo "deb-build.sh: no $gnu-gcc: install crossbuild-essential-$arch and the" >&2
		echo "  build dependencies for $arch (docs/install.md, cross-building)" >&2
		exit 1
	fi
	aflag=-a$arch
fi

rm -rf "$out"
mkdir -p "$out"
cp "$tarball" "$out/iotsec_$ver.orig.tar.gz"
tar xzf "$tarball" -C "$out"
src=$out/$name
ts=$(find "$src/VERSION" -printf '%T@' | cut -d. -f1)
top=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "$top" != "$ver-$rev" ]; then
	maint=$(sed -n 's/^Maintainer: //p' "$src/debian/control")
	{
		echo "iotsec ($ver-$rev) unstable; urgency=medium"
		echo
		echo "  * Upstream version $ver."
		echo
		echo " -- $maint  $(LC_ALL=C date -u -R -d "@$ts")"
		echo
		cat "$src/debian/changelog"
	} >"$src/debian/changelog.new"
	mv "$src/debian/changelog.new" "$src/debian/changelog"
fi
# Not the calling make's variables (BUILD=..., V=...): debian/rules picks
# its own.
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES BUILD V DEB_ARCH DEB_REVISION
# shellcheck disable=SC2086
(cd "$src" && SOURCE_DATE_EPOCH=$ts dpkg-buildpackage -b -us -uc $aflag)
rm -rf "$src" "$out/iotsec_$ver.orig.tar.gz"
ls "$out"/*.deb
