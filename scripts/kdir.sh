#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Print the kernel build directory to build the module against: the running
# kernel's when it has one; else the newest installed Debian linux-headers
# whose kernel image is installed too (the one the QEMU lab boots); else the
# newest headers of any flavour.
set -eu
build=/lib/modules/$(uname -r)/build
if [ -f "$build/Makefile" ]; then
	echo "$build"
	exit 0
fi
dirs=$(ls -d /usr/src/linux-headers-* 2>/dev/null | grep -v -- '-common' |
       sort -V -r) || true
for d in $dirs; do
	if [ -f "$d/Makefile" ] && [ -e "/boot/vmlinuz-${d#/usr/src/linux-headers-}" ]; then
		echo "$d"
		exit 0
	fi
done
for d in $dirs; do
	if [ -f "$d/Makefile" ]; then
		echo "$d"
		exit 0
	fi
done
echo "kdir.sh: no kernel headers found; install linux-headers-$(uname -r) or run scripts/install-deps.sh" >&2
exit 1
