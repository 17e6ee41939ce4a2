#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Boot the QEMU lab once and run every VM test inside it (see
# tests/vm/run-in-guest.sh); one TAP log per test lands in RESULTS, and the
# lab's own verdict on the guest kernel log in RESULTS/vm-lab.tap.
# usage: run-vm.sh BUILD RESULTS KDIR
# Environment: IOTSEC_KERNEL labels the run (tests/vm/run-in-guest.sh) and
# names the lab's log vm-lab-NAME.tap; IOTSEC_KO, IOTSEC_TEST_MODULES the
# module and test modules built for KDIR (default: the tree's); VM_ONLY the
# tests to run (default all), VM_SKIP tests not to run.
set -u
build=$1 results=$2 kdir=$3
kname=${IOTSEC_KERNEL:-}
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$results"
results=$(realpath "$results")
out=$(mktemp -d /tmp/iotsec-vm.XXXXXX)
# Single-threaded TCG: under QEMU 7.2's multi-threaded TCG, kprobes being
# armed or disarmed on one vCPU while the other runs the probed code
# crashed the guest in 2 of 3 load/unload-under-load runs (stale code
# executed after the kernel had restored it); 300 cycles single-threaded
# were clean. LAB_ACCEL=tcg,thread=multi to run the suite the other way.
export LAB_ACCEL=${LAB_ACCEL:-tcg,thread=single}
# The kprobe audit's table for this kernel (tests/vm/test-kprobe-audit.sh;
# tests/run-kernels.sh makes the ARM ones).
case "$kname" in
arm64|armhf) ;;
*)
	"$top/scripts/kernels.sh" audit "${kname:-6.1}" >/dev/null ||
		echo "run-vm: no kprobe audit table for ${kname:-6.1}" >&2
	;;
esac
"$top/scripts/lab.sh" --kdir "$kdir" --out "$out" --timeout "${VM_TIMEOUT:-3600}" -- \
	env IOTSEC_TOP="$top" IOTSEC_BUILD="$(realpath "$build")" \
	${IOTSEC_AZURE_SCHEMAS:+IOTSEC_AZURE_SCHEMAS="$IOTSEC_AZURE_SCHEMAS"} \
	${kname:+IOTSEC_KERNEL="$kname"} ${VM_ONLY:+VM_ONLY="$VM_ONLY"} \
	${VM_SKIP:+VM_SKIP="$VM_SKIP"} \
	${IOTSEC_KO:+IOTSEC_KO="$IOTSEC_KO"} \
	${IOTSEC_UNAVAILABLE:+IOTSEC_UNAVAILABLE="$IOTSEC_UNAVAILABLE"} \
	${IOTSEC_CYCLES:+IOTSEC_CYCLES="$IOTSEC_CYCLES"} \
	${IOTSEC_DEB_VM:+IOTSEC_DEB_VM="$IOTSEC_DEB_VM"} \
	${IOTSEC_DEB_APT_TIMEOUT:+IOTSEC_DEB_APT_TIMEOUT="$IOTSEC_DEB_APT_TIMEOUT"} \
	${IOTSEC_TEST_MODULES:+IOTSEC_TEST_MODULES="$IOTSEC_TEST_MODULES"} \
	"$top/tests/vm/run-in-guest.sh"
rc=$?
cp "$out"/*.tap "$results/" 2>/dev/null
# what a guest without node left for the host (tests/lib/host-check.sh),
# apart per kernel: make check runs two labs at once
[ ! -d "$out/host-check" ] || cp -r "$out/host-check" "$results/host-check${kname:+-$kname}"
cp "$out/console.log" "$results/vm-console${kname:+-$kname}.log"
{
	echo "TAP version 13"
	echo "1..1"
	if [ $rc = 0 ]; then
		echo "ok 1 vm: ${kname:+[$kname] }lab run completed, guest kernel log clean"
	else
		echo "not ok 1 vm: ${kname:+[$kname] }lab run failed (status $rc, see vm-console${kname:+-$kname}.log)"
	fi
} >"$results/vm-lab${kname:+-$kname}.tap"
rm -rf "$out"
