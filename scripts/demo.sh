#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The demo: the module loaded, the forwarder publishing to a local broker,
# events visible. Where this kernel can load modules (and has headers) it
# runs right here; elsewhere (as on the development machines) inside the
# QEMU lab, booting Debian's kernel with the freshly built module.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# The demo writes login records with the tool the tests use.
make -s build/tools/utmp-write >/dev/null

can_load_modules() {
	[ -e /proc/modules ] && [ -d "/lib/modules/$(uname -r)/build" ] &&
		[ "$(id -u)" = 0 ]
}

if can_load_modules && [ "${DEMO_IN_LAB:-0}" != 1 ]; then
	echo "demo: running on this machine's kernel $(uname -r)"
	insmod kmod/iotsec.ko
	trap 'rmmod iotsec 2>/dev/null || true' EXIT
	scripts/demo-inside.sh
else
	echo "demo: this kernel cannot load modules; booting the QEMU lab"
	scripts/lab.sh --kdir "$(scripts/kdir.sh)" --timeout 600 \
		--insmod kmod/iotsec.ko -- scripts/demo-inside.sh
fi
