#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The QEMU lab must tell the truth: its status is the guest command's, and
# a guest kernel that warns, crashes or hangs fails the run.
#
#   host: lab.sh ---boots---> guest: <command>  ---status---> host
#
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
lab="$top/scripts/lab.sh --kdir $("$top/scripts/kdir.sh")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

check() {	# check NAME EXPECTED-STATUS OUTPUT-PATTERN lab-args...
	local name=$1 want=$2 pattern=$3 got
	shift 3
	n=$((n + 1))
	# shellcheck disable=SC2086
	$lab --out "$tmp/$n" "$@" >"$tmp/$n.log" 2>&1
	got=$?
	if [ "$got" = "$want" ] &&
	   { [ -z "$pattern" ] || grep -Eq -- "$pattern" "$tmp/$n.log"; }; then
		echo "ok $n $name"
	else
		echo "not ok $n $name: status $got, expected $want and /$pattern/"
		sed 's/^/# /' "$tmp/$n.log" | tail -n 20
		failed=$((failed + 1))
	fi
}

echo "TAP version 13"
echo "1..7"
check "a succeeding command gives status 0" 0 'guest-said-hello' -- \
	echo guest-said-hello
check "a failing command gives its status" 7 '' -- sh -c 'exit 7'
check "the command runs as root in the guest kernel" 0 '' -- \
	sh -c '[ "$(id -u)" = 0 ] && [ "$(uname -r)" != "'"$(uname -r)"'" ]'
check "a kernel warning panics the guest and fails the run" 125 \
	'reported a problem' -- sh -c "insmod $build/test-modules/warn.ko; true"
check "a warning that does not panic still fails a succeeding command" 126 \
	'deliberate warning' --cmdline panic_on_warn=0 -- \
	sh -c "insmod $build/test-modules/warn.ko; true"
check "a guest crash fails the run" 125 'Kernel panic' -- \
	sh -c 'echo c >/proc/sysrq-trigger; sleep 30'
check "a hung guest times out" 124 'timed out' --timeout 20 -- sleep 600
[ $failed = 0 ]
