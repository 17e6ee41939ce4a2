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
qemu-system-x86 mmdebstrap
iproute2 procps util-linux python3
libfuse3-dev
nodejs npm
"

# shellcheck disable=SC2086
missing=$(missing_pkgs $PKGS)

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
