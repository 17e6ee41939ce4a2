#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boot the QEMU lab once and run every VM test inside it (see
# tests/vm/run-in-guest.sh); one TAP log per test lands in RESULTS, and the
# lab's own verdict on the guest kernel log in RESULTS/vm-lab.tap.
# usage: run-vm.sh BUILD RESULTS KDIR
set -u
build=$1 results=$2 kdir=$3
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$results"
results=$(realpath "$results")
out=$(mktemp -d /tmp/iotsec-vm.XXXXXX)
"$top/scripts/lab.sh" --kdir "$kdir" --out "$out" --timeout "${VM_TIMEOUT:-1800}" -- \
	env IOTSEC_TOP="$top" IOTSEC_BUILD="$(realpath "$build")" \
	"$top/tests/vm/run-in-guest.sh"
rc=$?
cp "$out"/*.tap "$results/" 2>/dev/null
cp "$out/console.log" "$results/vm-console.log"
{
	echo "TAP version 13"
	echo "1..1"
	if [ $rc = 0 ]; then
		echo "ok 1 vm: lab run completed, guest kernel log clean"
	else
		echo "not ok 1 vm: lab run failed (status $rc, see vm-console.log)"
	fi
} >"$results/vm-lab.tap"
rm -rf "$out"
