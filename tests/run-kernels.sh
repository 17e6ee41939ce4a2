#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The VM tests on each kernel of scripts/kernels.sh: for each, build the
# module and the test modules against its headers (scripts/kernels.sh build,
# in a copy under build/k/NAME), boot it in the lab once and run the chosen
# tests there. Logs land in RESULTS as vm-NAME-TEST.tap, every result line
# labelled "[NAME KVER]"; a kernel whose build fails is one failed case.
#
# usage: run-kernels.sh BUILD RESULTS core|all|arm|prep [NAME...]
#   core    the core suite: events, accounting, test-e2e, test-kprobe-audit
#           (make check)
#   all     every VM test (make check-kernels)
#   NAME    kernels to run (default: scripts/kernels.sh list);
#           -NAME leaves one out (make check runs 6.1 fully on its own)
# The load/unload cycle tests run IOTSEC_CYCLES times (default 20 here, 100
# in the primary run; 5 on ARM).
#
# ARM (named, not in scripts/kernels.sh list): arm64 and armhf, Debian
# bookworm's arm64 and armmp kernels (scripts/kernel-pkgs.sh bookworm ARCH)
# booted in qemu-system-aarch64 / qemu-system-arm -M virt with a root of
# their architecture (scripts/lab.sh --arch, scripts/arm-root.sh). The
# module (-Werror, sparse), the test modules and the programs (iotsecd,
# iotsecctl, the VM tests, the test tools) are cross-built in BUILD/ARCH
# (make ARCH=arm64|arm CROSS_COMPILE=... cross, mk/cross.mk); the
# guest's node-less end-to-end check is finished on the host
# (tests/lib/host-check.sh: ajv, e2e-check.js), logged as
# vm-ARCH-test-e2e-host.tap.
#   arm       the ARM suite (make check and make check-arm): events,
#             accounting, family, malformed, fuzz, unpriv, test-load-cycles,
#             test-e2e, test-kprobe-audit (its table made here: the 6.1
#             source, the syscall entries named as on ARCH)
#   prep      no test: what the ARM suite needs made ahead (the ARM root,
#             the kernel, the cross build, the audit table), no log;
#             make check runs it niced beside the other suites
#             (tests/run-check.sh), and its `arm` run then finds them made.
#             A failure here fails again, as a not ok case, in that run.
set -u
build=$1 results=$2 set=$3
shift 3
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$results" "$build"
results=$(realpath "$results")
build=$(realpath "$build")

names='' skip=''
for a in "$@"; do
	case "$a" in -*) skip="$skip ${a#-}" ;; *) names="$names $a" ;; esac
done
[ -n "$names" ] || names=$("$top/scripts/kernels.sh" list)

case "$set" in
core) only="events accounting test-e2e test-kprobe-audit" ;;
all) only= ;;
arm) only="events accounting family malformed fuzz unpriv test-load-cycles test-e2e test-kprobe-audit" ;;
prep) only= ;;
*) echo "run-kernels: unknown set $set (core|all|arm|prep)" >&2; exit 2 ;;
esac

# arm_build ARCH: the cross build of mk/cross.mk (make ARCH=... cross) for
# Debian bookworm's ARCH kernel, with sparse over the module (C=2); prints
# KDIR= KVER= KO= LOG= TEST_MODULES= ABUILD=, or fails with the reason.
arm_build() {
	local a=$1 kenv kdir karch cc rel margs=
	kenv=$("$top/scripts/kernel-pkgs.sh" bookworm "$a") || return 1
	kdir=$(echo "$kenv" | sed -n 's/^KDIR=//p')
	karch=$(echo "$kenv" | sed -n 's/^KARCH=//p')
	cc=$(echo "$kenv" | sed -n 's/^CROSS_COMPILE=//p')
	# mk/cross.mk puts the module's copy under $(CURDIR)/$(BUILD)
	rel=$(realpath -m --relative-to="$top" "$build/$a")
	! command -v sparse >/dev/null || margs=C=2
	# the kselftest headers of the amd64 build (else extracted again)
	mkdir -p "$build/$a/kselftest"
	cp -u "$build"/kselftest/*.h "$build/$a/kselftest/" 2>/dev/null
	unset MAKEFLAGS MFLAGS MAKELEVEL
	# tests/host/cross-build.sh builds into the same BUILD/ARCH, and runs
	# beside this in make check: one make there at a time.
	flock -w 1800 "$build/$a.lock" \
	make -C "$top" -j2 ARCH="$karch" CROSS_COMPILE="$cc" BUILD="$rel" \
		KDIR="$kdir" $margs cross >"$build/$a/cross.log" 2>&1 || {
		tail -n 40 "$build/$a/cross.log" >&2
		echo "run-kernels: $a: make ARCH=$karch CROSS_COMPILE=$cc cross failed" >&2
		return 1
	}
	# The kprobe audit's table (tests/vm/test-kprobe-audit.sh): bookworm's
	# 6.1 source, the syscall entries named as on ARCH; remade when kmod/
	# or the audit changed.
	kver=$(echo "$kenv" | sed -n 's/^KVER=//p')
	table=$build/$a/kprobe-audit/$kver.tsv
	mkdir -p "$build/$a/kprobe-audit"
	if [ ! -s "$table" ] || [ -n "$(find "$top/kmod" -name '*.c' -newer "$table")" ] ||
	   [ "$top/scripts/kprobe-audit.py" -nt "$table" ]; then
		src=$("$top/scripts/kernels.sh" source 6.1 | sed -n 's/^SOURCE=//p')
		if ! python3 "$top/scripts/kprobe-audit.py" protos --kmod "$top/kmod" \
			--source "$src" --arch "$karch" >"$table.tmp"; then
			echo "run-kernels: $a: no kprobe audit table (kprobe-audit.py protos)" >&2
			return 1
		fi
		mv "$table.tmp" "$table"
	fi
	echo "KDIR=$kdir"
	echo "KVER=$kver"
	echo "KO=$build/$a/iotsec.ko"
	echo "LOG=$build/$a/cross.log"
	echo "TEST_MODULES=$build/$a/test-modules"
	echo "ABUILD=$build/$a"
}

# host_checks K KVER: what the guest of kernel K left for the host to
# check (tests/lib/host-check.sh), each a RESULTS/NAME-host.tap; a guest
# test that says it kept its messages for ajv on the host ("kept for ajv
# on the host") but whose directory did not arrive is a not ok there.
host_checks() {
	local k=$1 kver=$2 d t name done=" "
	for d in "$results/host-check-$k/vm-$k-"*; do
		[ -d "$d" ] || continue
		name=$(basename "$d")
		"$top/tests/lib/host-check.sh" "$d" "$build" "[$k $kver]" \
			>"$results/$name-host.tap" 2>&1
		echo "# exit: $?" >>"$results/$name-host.tap"
		grep -E '^(not )?ok ' "$results/$name-host.tap" | sed 's/^/  /'
		done="$done$name "
	done
	for t in "$results/vm-$k-"*.tap; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .tap)
		case "$name" in *-host) continue ;; esac
		case "$done" in *" $name "*) continue ;; esac
		grep -qE '^ok [0-9]+ .*kept for ajv on the host' "$t" || continue
		printf '1..1\nnot ok 1 - [%s %s] %s: the guest kept its messages for ajv on the host, but no %s arrived\n' \
			"$k" "$kver" "$name" "host-check-$k/$name" \
			>"$results/$name-host.tap"
		echo "  not ok 1 - [$k $kver] $name: nothing arrived for the host check"
	done
}

for k in $names; do
	case " $skip " in *" $k "*) continue ;; esac
	log=$results/kernel-$k-build.tap
	vmbuild=$build
	t0=$SECONDS
	if [ "$set" = prep ]; then
		case "$k" in
		arm64|armhf)
			"$top/scripts/arm-root.sh" "$k" >/dev/null &&
				arm_build "$k" >/dev/null
			echo "# prep $k: status $?, $((SECONDS - t0)) s"
			;;
		esac
		continue
	fi
	case "$k" in
	arm64|armhf)
		if bout=$(arm_build "$k" 2>"$log.err"); then
			kenv=$bout
			vmbuild=$(echo "$bout" | sed -n 's/^ABUILD=//p')
		else
			bout=
		fi
		;;
	*)
		kenv=$("$top/scripts/kernels.sh" env "$k" 2>"$log.err") &&
			bout=$("$top/scripts/kernels.sh" build "$k" 2>>"$log.err") ||
			bout=
		;;
	esac
	if [ -z "$bout" ]; then
		{
			echo "TAP version 13"
			echo "1..1"
			echo "not ok 1 - [$k] fetch and build iotsec.ko"
			sed 's/^/# /' "$log.err" | tail -n 40
		} >"$log"
		rm -f "$log.err"
		continue
	fi
	rm -f "$log.err"
	kdir=$(echo "$kenv" | sed -n 's/^KDIR=//p')
	kver=$(echo "$kenv" | sed -n 's/^KVER=//p')
	ko=$(echo "$bout" | sed -n 's/^KO=//p')
	tm=$(echo "$bout" | sed -n 's/^TEST_MODULES=//p')
	unavail=$(echo "$kenv" | sed -n 's/^UNAVAILABLE=//p')
	blog=$(echo "$bout" | sed -n 's/^LOG=//p')
	# Anything the compiler, sparse or modpost says counts (as lint-kmod).
	noise=$(grep -E '(warning|error|WARNING|ERROR)[: ]' "$blog" |
		grep -v 'Skipping BTF generation')
	checked=$(grep -c ' CHECK ' "$blog")
	{
		echo "TAP version 13"
		echo "1..2"
		echo "ok 1 - [$k $kver] fetch and build iotsec.ko (KCFLAGS=-Werror)"
		if [ -z "$noise" ] && [ "$checked" -gt 0 ]; then
			echo "ok 2 - [$k $kver] no warning from the compiler, sparse ($checked files checked) or modpost"
		else
			echo "not ok 2 - [$k $kver] warnings building iotsec.ko (or sparse checked nothing: $checked)"
			echo "$noise" | head -n 40 | sed 's/^/# /'
		fi
	} >"$log"
	echo "# kernel $k ($kver): ${only:-all VM tests}; built in $((SECONDS - t0)) s"
	t0=$SECONDS
	cycles=${IOTSEC_CYCLES:-20}
	case "$k" in arm64|armhf) cycles=${IOTSEC_CYCLES:-5} ;; esac
	rm -rf "$results/host-check-$k"
	IOTSEC_KERNEL=$k IOTSEC_KO=$ko IOTSEC_TEST_MODULES=$tm VM_ONLY=$only \
		IOTSEC_UNAVAILABLE=$unavail IOTSEC_CYCLES=$cycles \
		"$top/tests/run-vm.sh" "$vmbuild" "$results" "$kdir"
	host_checks "$k" "$kver"
	rm -rf "$results/host-check-$k"
	echo "# kernel $k ($kver): VM tests $((SECONDS - t0)) s"
done
exit 0
