#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The VM tests on each kernel of scripts/kernels.sh: for each, build the
# module and the test modules against its headers (scripts/kernels.sh build,
# in a copy under build/k/NAME), boot it in the lab once and run the chosen
# tests there. Logs land in RESULTS as vm-NAME-TEST.tap, every result line
# labelled "[NAME KVER]"; a kernel whose build fails is one failed case.
#
# usage: run-kernels.sh BUILD RESULTS core|all [NAME...]
#   core    the core suite: events, accounting, test-e2e (make check)
#   all     every VM test (make check-kernels)
#   NAME    kernels to run (default: scripts/kernels.sh list);
#           -NAME leaves one out (make check runs 6.1 fully on its own)
# The load/unload cycle tests run IOTSEC_CYCLES times (default 20 here, 100
# in the primary run).
set -u
build=$1 results=$2 set=$3
shift 3
top=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$results"
results=$(realpath "$results")

names='' skip=''
for a in "$@"; do
	case "$a" in -*) skip="$skip ${a#-}" ;; *) names="$names $a" ;; esac
done
[ -n "$names" ] || names=$("$top/scripts/kernels.sh" list)

case "$set" in
core) only="events accounting test-e2e test-kprobe-audit" ;;
all) only= ;;
*) echo "run-kernels: unknown set $set (core|all)" >&2; exit 2 ;;
esac

for k in $names; do
	case " $skip " in *" $k "*) continue ;; esac
	log=$results/kernel-$k-build.tap
	if ! kenv=$("$top/scripts/kernels.sh" env "$k" 2>"$log.err") ||
	   ! bout=$("$top/scripts/kernels.sh" build "$k" 2>>"$log.err"); then
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
	echo "# kernel $k ($kver): ${only:-all VM tests}"
	IOTSEC_KERNEL=$k IOTSEC_KO=$ko IOTSEC_TEST_MODULES=$tm VM_ONLY=$only \
		IOTSEC_UNAVAILABLE=$unavail IOTSEC_CYCLES=${IOTSEC_CYCLES:-20} \
		"$top/tests/run-vm.sh" "$build" "$results" "$kdir"
done
exit 0
