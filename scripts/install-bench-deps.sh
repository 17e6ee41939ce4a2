#!/bin/sh
# SPDX-License-Identifier: MIT
#
# Install the peers `make bench-peers` compares iotsec with (see
# docs/benchmarks-peers.md): auditd, bcc's tools, sysdig with the Falco
# kernel module (falcosecurity-scap-dkms, built by DKMS for the lab's
# kernel, which needs that kernel's headers: the ones scripts/kdir.sh
# picks), stress-ng, and mosquitto for iotsecd to publish to.
# Idempotent: packages already present are left alone, and apt is only
# asked when something is missing.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/scripts/lib-deps.sh"
kdir=$("$top/scripts/kdir.sh")
kver=$(basename "$(realpath "$kdir")")
kver=${kver#linux-headers-}

PKGS="
auditd
bpfcc-tools python3-bpfcc
sysdig falcosecurity-scap-dkms dkms linux-headers-$kver
stress-ng
mosquitto mosquitto-clients
python3
"

# shellcheck disable=SC2086
missing=$(missing_pkgs $PKGS)
if [ -n "$missing" ]; then
	# auditd's postinst tries to start the daemon; where no init runs
	# (containers, build machines) that may fail without harm.
	# shellcheck disable=SC2086
	install_pkgs install-bench-deps $missing
fi

# DKMS builds scap.ko for the kernels whose headers are installed when the
# package is installed; headers that came later need a build of their own.
scap=/lib/modules/$kver/updates/dkms/scap.ko
if [ ! -f "$scap" ] && [ -f "/lib/modules/$kver/updates/dkms/scap.ko.xz" ]; then
	scap=/lib/modules/$kver/updates/dkms/scap.ko.xz
fi
if [ ! -f "$scap" ]; then
	ver=$(dpkg-query -W -f='${Version}' falcosecurity-scap-dkms | sed 's/-[^-]*$//')
	echo "install-bench-deps: building scap $ver for $kver with DKMS"
	dkms build "scap/$ver" -k "$kver" && dkms install "scap/$ver" -k "$kver" ||
		echo "install-bench-deps: scap.ko did not build for $kver; the sysdig peer will report it" >&2
fi
echo "install-bench-deps: all present (scap.ko for $kver: $([ -f "$scap" ] && echo yes || echo no))"
