#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make check's test run: the host tests and the VM suites (the full suite
# on the primary kernel, then the core suite on the other kernels) side by
# side. The lab is single-threaded TCG, one core; the host tests take the
# other, so on the 2-core machines here the run takes about as long as its
# longer half instead of the sum. The VM half's output is printed when the
# host half is done, so neither interleaves with the other.
#
# usage: run-check.sh BUILD RESULTS KDIR KERNEL
# CHECK_SERIAL=1 runs the two halves one after the other.
set -u
build=$1 results=$2 kdir=$3 kernel=$4
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$results"

# The boot window (tests/vm/test-early-boot.sh) with the module loaded by
# the guest's init, before any process of the test runs: one more boot.
early_boot() {
	local out tap=$results/vm-$kernel-early-boot-init.tap rc
	out=$(mktemp -d /tmp/iotsec-early.XXXXXX)
	LAB_ACCEL=${LAB_ACCEL:-tcg,thread=single} "$top/scripts/lab.sh" \
		--kdir "$kdir" --out "$out" --timeout 600 \
		--early-insmod "$top/kmod/iotsec.ko" -- \
		env IOTSEC_TOP="$top" IOTSEC_BUILD="$(realpath "$build")" \
		${IOTSEC_AZURE_SCHEMAS:+IOTSEC_AZURE_SCHEMAS="$IOTSEC_AZURE_SCHEMAS"} \
		IOTSEC_KO="$top/kmod/iotsec.ko" \
		"$top/tests/vm/test-early-boot.sh" >"$tap" 2>&1
	rc=$?
	echo "# exit: $rc" >>"$tap"
	cp "$out/console.log" "$results/vm-console-$kernel-early-boot.log" 2>/dev/null
	rm -rf "$out"
}

vm_half() {
	IOTSEC_KERNEL=$kernel "$top/tests/run-vm.sh" "$build" "$results" "$kdir"
	early_boot
	"$top/tests/run-kernels.sh" "$build" "$results" core "-$kernel"
}

if [ "${CHECK_SERIAL:-0}" = 1 ]; then
	"$top/tests/run-host.sh" "$build" "$results"
	vm_half
	exit 0
fi
log=$(mktemp /tmp/iotsec-check-vm.XXXXXX)
vm_half >"$log" 2>&1 &
vm=$!
trap 'kill $vm 2>/dev/null; rm -f "$log"' EXIT
start=$(date +%s)
"$top/tests/run-host.sh" "$build" "$results"
echo "# host tests: $(($(date +%s) - start)) s; waiting for the VM suites"
wait $vm
echo "# VM suites (ran beside the host tests): $(($(date +%s) - start)) s"
cat "$log"
exit 0
