#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The hidden-assumption audit, in the guest: every kprobe symbol of the
# module exists in this kernel's /proc/kallsyms (or is optional, and then
# reported unavailable), and every argument a handler reads matches the
# prototype in this kernel's source. The table comes from the host
# (scripts/kernels.sh audit NAME, run by tests/run-vm.sh before the boot):
# $IOTSEC_BUILD/kprobe-audit/$(uname -r).tsv.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
table=$build/kprobe-audit/$(uname -r).tsv
if [ ! -s "$table" ]; then
	echo "TAP version 13"
	echo "1..1"
	echo "not ok 1 - kprobe audit: no table $table (scripts/kernels.sh audit NAME on the host)"
	exit 1
fi
exec python3 "$top/scripts/kprobe-audit.py" check --table "$table" \
	--kallsyms /proc/kallsyms
