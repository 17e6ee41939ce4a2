#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install every Debian package iotsec needs to build, run and test.
# Idempotent: packages already present are left alone, and apt is only
# asked when something is missing.
set -eu

. "$(dirname "$0")/lib-deps.sh"

PKGS="
build-essential make gcc clang llvm libclang-rt-14-dev pkg-config
bc bison flex libelf-dev kmod cpio xz-utils busybox-static
linux-headers-amd64 linux-image-amd64 linux-source-6.1
linux-headers-cloud-amd64 linux-headers-rt-amd64
sparse dkms
dpkg-dev debhelper dh-dkms lintian
libnl-3-dev libnl-genl-3-dev libmosquitto-dev mosquitto-dev libssl-dev libyaml-dev
libjson-c-dev
mosquitto mosquitto-clients openssl
qemu-system-x86 qemu-system-arm mmdebstrap
iproute2 procps util-linux python3
libfuse3-dev
nodejs npm
"

# Cross builds for ARM (mk/cross.mk, make deb's arm64/armhf packages): the
# cross compilers and the libraries the forwarder links, for each foreign
# architecture (Debian multiarch: dpkg --add-architecture, then NAME:ARCH);
# pkgconf:ARCH is TRIPLET-pkg-config, which dpkg-buildpackage -a uses.
CROSS_ARCHS="arm64 armhf"
CROSS_PKGS="gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf"
CROSS_LIBS="libnl-3-dev libnl-genl-3-dev libmosquitto-dev libssl-dev libyaml-dev
libjson-c-dev libc6-dev pkgconf"
for a in $CROSS_ARCHS; do
	for l in $CROSS_LIBS; do
		CROSS_PKGS="$CROSS_PKGS $l:$a"
	done
done

# The foreign architectures, before apt is asked for their packages.
for a in $CROSS_ARCHS; do
	if ! dpkg --print-foreign-architectures | grep -qx "$a"; then
		if [ "$(id -u)" != 0 ]; then
			echo "install-deps: dpkg has no $a architecture; run as root" >&2
			exit 1
		fi
		echo "install-deps: dpkg --add-architecture $a"
		dpkg --add-architecture "$a"
	fi
done

# shellcheck disable=SC2086
missing=$(missing_pkgs $PKGS $CROSS_PKGS)

# node/npm may come from elsewhere than Debian on some machines: accept them
# when they are on PATH.
case "$missing" in
*nodejs*|*npm*)
	if command -v node >/dev/null && command -v npm >/dev/null; then
		missing=$(echo "$missing" | sed 's/ nodejs//; s/ npm//')
	fi
	;;
esac

if [ -z "$(echo "$missing" | tr -d ' ')" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

# shellcheck disable=SC2086
install_pkgs install-deps $missing
