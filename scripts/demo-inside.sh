#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Runs where the module is loaded (the lab guest or a real machine, as
# root): shows the module and its generic netlink family.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

step() { printf '\n== %s\n' "$*"; }

step "kernel $(uname -r): module loaded"
grep '^iotsec ' /proc/modules
step "generic netlink family (every command needs CAP_NET_ADMIN)"
genl ctrl get name iotsec
if [ -x "$top/build/iotsecctl" ]; then
	step "iotsecctl status"
	"$top/build/iotsecctl" status
fi
