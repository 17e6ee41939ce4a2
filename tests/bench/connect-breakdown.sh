#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Where the connect loop's instructions go (not a test): loadgen's
# loopback connect + accept loop, R times N connects, without the module,
# with it loaded and nobody subscribed, and with a consumer of CONNECT
# only (mask 10), ACCEPT only (20), both (30) and every type; then with
# timing=1 for the handlers' share. Run it in the lab under -icount, where
# a second is 10^9 instructions (docs/benchmarks-kmod.md):
#
#   LAB_ICOUNT=1 scripts/lab.sh --kdir $(scripts/kdir.sh) --out /tmp/lab -- \
#       env IOTSEC_BUILD=$PWD/build IOTSEC_KO=$PWD/kmod/iotsec.ko \
#       $PWD/tests/bench/connect-breakdown.sh
set -u
tools=$IOTSEC_BUILD/tests/tools
ko=$IOTSEC_KO
N=${N:-3000}
R=${R:-3}
tmp=$(mktemp -d /dev/shm/iotsec-breakdown.XXXXXX)
cons=

run() {
	local name=$1 i out=""

	for i in $(seq 1 "$R"); do
		out="$out $("$tools/loadgen" connect "$N")"
	done
	echo "$name:$out"
}

consume() {
	local i

	"$tools/iotsec-consume" --mask "$1" >"$tmp/c.out" 2>"$tmp/c.err" &
	cons=$!
	for i in $(seq 1 200); do
		grep -q '^ready' "$tmp/c.out" && break
		sleep 0.05
	done
}

stop() {
	kill "$cons"
	wait "$cons" 2>/dev/null
	tail -n 1 "$tmp/c.out"
}

ip link set dev lo up
"$tools/loadgen" connect 500 >/dev/null
run base
insmod "$ko"
run loaded
for m in 10 20 30 all; do
	consume "$m"
	run "consumer mask $m"
	stop
done
rmmod iotsec
insmod "$ko" timing=1
consume all
run "timing=1, consumer mask all"
"$tools/iotsec-consume" --stats --hooks | grep '^hook='
stop
rmmod iotsec
rm -rf "$tmp"
