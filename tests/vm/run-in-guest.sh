#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Runs inside the QEMU lab (as root): every VM test binary and script, one
# after another, each with a TAP log in /lab/out. Tests load and unload the
# module themselves (IOTSEC_KO says where it is) and must leave it unloaded.
set -u
export IOTSEC_KO=$IOTSEC_TOP/kmod/iotsec.ko
export IOTSEC_TEST_MODULES=$IOTSEC_BUILD/test-modules
out=${LAB_OUT:-/tmp}
for t in "$IOTSEC_BUILD"/tests/vm/* "$IOTSEC_TOP"/tests/vm/test-*.sh; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	name=vm-$(basename "$t" .sh)
	echo "# vm: $name"
	timeout "${VM_TEST_TIMEOUT:-1800}" "$t" >"$out/$name.tap" 2>&1
	rc=$?
	echo "# exit: $rc" >>"$out/$name.tap"
	grep -E '^(not )?ok |^# (Totals|PASSED|FAILED)' "$out/$name.tap" | sed 's/^/  /'
	if grep -q '^iotsec ' /proc/modules; then
		echo "# $name left the module loaded; unloading" | tee -a "$out/$name.tap"
		echo "not ok 999 $name: left the module loaded" >>"$out/$name.tap"
		rmmod iotsec
	fi
done
