#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make check's test run: the host tests and the VM suites (the full suite
# on the primary kernel, the early boot, the core suite on the other
# kernels) side by side, then the ARM suite on arm64 and armhf in whichever
# of the two lanes is free first. The lab is single-threaded TCG, one core;
# the host tests take the other, so on the 2-core machines here the run
# takes about as long as its longer lane instead of the sum. The VM half's
# and the ARM suite's output are printed when the host half is done, so
# none interleaves with another. Each half prints its own time, the VM
# half per piece.
#
# What the ARM suite needs (its root, kernel, cross build and kprobe audit
# table: tests/run-kernels.sh prep) is made from the start under nice 19,
# on what CPU time the two halves leave, so the ARM suite finds it made;
# the ARM run builds again (incrementally), and a failure there is a not ok
# case of kernel-ARCH-build, as a lab that cannot start is one of
# vm-lab-ARCH.
#
# usage: run-check.sh BUILD RESULTS KDIR KERNEL
# CHECK_SERIAL=1 runs the two halves one after the other.
# CHECK_ARM=0 leaves the ARM suite out; ARM_KERNELS narrows it (arm64 armhf).
set -u
build=$1 results=$2 kdir=$3 kernel=$4
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$results"

# shellcheck disable=SC2317 # called through timed
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

# shellcheck disable=SC2317 # called through timed
# The package install (tests/vm/test-deb-install.sh, fast mode) in a boot
# of its own, first in the VM half, under the lock tests/host/dkms.sh
# takes: both install iotsec.ko into /lib/modules/KVER/updates/dkms and
# the source into /usr/src/iotsec-VERSION, which the guest sees through
# its 9p root. At once, the guest's DKMS found the host test's module
# ("exactly matches what is already found in kernel ... will not
# replace") and modprobe failed (fresh-clone make check at 5ad449f).
deb_install() {
	local out tap=$results/vm-$kernel-test-deb-install.tap rc
	out=$(mktemp -d /tmp/iotsec-deb.XXXXXX)
	flock -w 1800 /run/lock/iotsec-dkms-test.lock \
		env LAB_ACCEL="${LAB_ACCEL:-tcg,thread=single}" \
		"$top/scripts/lab.sh" --kdir "$kdir" --out "$out" --timeout 1800 -- \
		env IOTSEC_TOP="$top" IOTSEC_BUILD="$(realpath "$build")" \
		IOTSEC_KERNEL="$kernel" \
		"$top/tests/vm/test-deb-install.sh" >"$tap" 2>&1
	rc=$?
	echo "# exit: $rc" >>"$tap"
	grep -E '^(not )?ok ' "$tap" | sed 's/^/  /'
	cp "$out/console.log" "$results/vm-console-$kernel-deb-install.log" 2>/dev/null
	rm -rf "$out"
}

arm=${CHECK_ARM:-1}
arm_kernels=${ARM_KERNELS:-arm64 armhf}
[ "$arm" = 0 ] && arm_kernels=
tmp=$(mktemp -d /tmp/iotsec-check.XXXXXX)

# timed NAME CMD...: runs CMD, then says how long it took
timed() {
	local name=$1 t0=$SECONDS
	shift
	"$@"
	echo "# time: $name $((SECONDS - t0)) s"
}

# The ARM preparation's bound (apt for the root, the cross builds under
# nice 19): past it the prep is killed, and the suite's wait for it ends
# a minute later at the latest; either way a not ok case in RESULTS
# (arm-prep.tap, arm-suite.tap) says so, and make check goes on.
# CHECK_ARM_PREP_TIMEOUT sets it (s); tests/host/check-bounds.sh runs
# these functions with a prep that hangs.
prep_limit=${CHECK_ARM_PREP_TIMEOUT:-1500}
wait_limit=$((prep_limit + 60))

# not_ok NAME REASON: a one-case .tap in RESULTS that tests/summary.sh counts
not_ok() {
	printf '1..1\nnot ok 1 %s: %s\n# exit: 1\n' "$1" "${*:2}" \
		>"$results/$1.tap"
}

arm_prep() {
	local rc=0
	# shellcheck disable=SC2086 # a list of names
	[ -z "$arm_kernels" ] ||
		timeout -k 30 "$prep_limit" \
		nice -n 19 "$top/tests/run-kernels.sh" "$build" "$results" prep $arm_kernels ||
		rc=$?
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		not_ok arm-prep "the ARM preparation (run-kernels.sh prep" \
			"$arm_kernels) did not end in $prep_limit s: killed," \
			"the ARM suite not run"
		touch "$tmp/prep-killed"
	fi
	touch "$tmp/prep-done"
}

# arm_suite LANE: the ARM suite, in the first lane to get here (mkdir is
# the claim); its output in $tmp/arm.log.
arm_suite() {
	[ -n "$arm_kernels" ] && mkdir "$tmp/arm-claim" 2>/dev/null || return 0
	{
		local t0=$SECONDS
		while [ ! -e "$tmp/prep-done" ]; do
			if [ $((SECONDS - t0)) -ge "$wait_limit" ]; then
				not_ok arm-suite "waited $((SECONDS - t0)) s for" \
					"the ARM preparation, which did not end:" \
					"the ARM suite not run"
				echo "# ARM suite not run: its preparation did not end"
				return 0
			fi
			sleep "${CHECK_ARM_POLL:-5}"
		done
		if [ -e "$tmp/prep-killed" ]; then
			echo "# ARM suite not run: its preparation was killed after $prep_limit s"
			return 0
		fi
		echo "# ARM suite, in the $1 lane (waited $((SECONDS - t0)) s for its preparation)"
		# shellcheck disable=SC2086 # a list of names
		timed "ARM suite ($arm_kernels)" \
			"$top/tests/run-kernels.sh" "$build" "$results" arm $arm_kernels
	} >"$tmp/arm.log" 2>&1
}

vm_half() {
	local t0=$SECONDS
	# 30 load/unload cycles here (100 by default in make check-vm, and
	# IOTSEC_CYCLES=N for more): the 100 took 9 of the half's 30 min,
	# and the package install (test-deb-install, fast mode) needs 8.
	timed "VM $kernel package install" deb_install
	timed "VM $kernel suite" env IOTSEC_KERNEL="$kernel" \
		IOTSEC_CYCLES="${IOTSEC_CYCLES:-30}" VM_SKIP=test-deb-install \
		"$top/tests/run-vm.sh" "$build" "$results" "$kdir"
	timed "VM $kernel early boot" early_boot
	timed "VM core suite on the other kernels" \
		"$top/tests/run-kernels.sh" "$build" "$results" core "-$kernel"
	echo "# time: VM half $((SECONDS - t0)) s"
	arm_suite VM
}

if [ "${CHECK_SERIAL:-0}" = 1 ]; then
	trap 'rm -rf "$tmp"' EXIT
	timed "host tests" "$top/tests/run-host.sh" "$build" "$results"
	timed "ARM preparation" arm_prep
	vm_half
	cat "$tmp/arm.log" 2>/dev/null
	exit 0
fi
arm_prep >"$tmp/prep.log" 2>&1 &
prep=$!
vm_half >"$tmp/vm.log" 2>&1 &
vm=$!
trap 'kill $vm $prep 2>/dev/null; rm -rf "$tmp"' EXIT
start=$SECONDS
"$top/tests/run-host.sh" "$build" "$results"
echo "# time: host half $((SECONDS - start)) s"
arm_suite host
echo "# waiting for the VM suites"
wait $vm
echo "# time: all $((SECONDS - start)) s (the VM half ran beside the host tests)"
cat "$tmp/vm.log" "$tmp/arm.log" 2>/dev/null
wait $prep
if [ -n "$arm_kernels" ]; then
	echo "# ARM preparation (nice 19, beside both):"
	cat "$tmp/prep.log"
fi
exit 0
