#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Print the kernel build directory to build the module against: the running
# kernel's when it has one, else the newest installed Debian linux-headers
# of the generic flavour (the one the QEMU lab boots; the cloud and rt
# flavours are installed only for build checks), else of any flavour.
set -eu
build=/lib/modules/$(uname -r)/build
if [ -f "$build/Makefile" ]; then
	echo "$build"
	exit 0
fi
for pat in '/usr/src/linux-headers-*-amd64' '/usr/src/linux-headers-*-arm64' \
	   '/usr/src/linux-headers-*'; do
	# shellcheck disable=SC2086
	d=$(ls -d $pat 2>/dev/null | grep -v -- '-common' | sort -V |
	    { [ "$pat" = '/usr/src/linux-headers-*' ] && cat ||
	      grep -v -e '-rt-' -e '-cloud-'; } | tail -n 1)
	if [ -n "$d" ] && [ -f "$d/Makefile" ]; then
		echo "$d"
		exit 0
	fi
done
echo "kdir.sh: no kernel headers found; install linux-headers-$(uname -r) or run scripts/install-deps.sh" >&2
exit 1
