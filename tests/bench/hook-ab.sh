#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Two builds of the module, A and B, compared on the connect path in one
# boot of the lab, interleaved: per round, the connect loop with no module,
# then with A, then with B (each loaded with timing=1 and a consumer with
# every event on). Prints the loop's seconds and the handler time of each
# connect hook (`iotsec-consume --stats --hooks`) per round.
#
#   scripts/lab.sh --kdir $(scripts/kdir.sh) --out DIR -- env \
#       IOTSEC_BUILD=$PWD/build tests/bench/hook-ab.sh A.ko B.ko [ROUNDS] [N]
set -eu
a=$1
b=$2
rounds=${3:-3}
n=${4:-3000}
tools=${IOTSEC_BUILD:?}/tests/tools
tmp=$(mktemp -d)
consumer=
cleanup() {
	[ -z "$consumer" ] || kill "$consumer" 2>/dev/null || true
	[ ! -e /sys/module/iotsec ] || rmmod iotsec || true
	rm -rf "$tmp"
}
trap cleanup EXIT

secs() { tr -d " \n"; }

for r in $(seq "$rounds"); do
	echo "round $r none connect $n s=$("$tools/loadgen" connect "$n" | secs)"
	for ko in "$a" "$b"; do
		insmod "$ko" timing=1
		"$tools/iotsec-consume" --mask all >"$tmp/c.out" 2>"$tmp/c.err" &
		consumer=$!
		until grep -q '^ready' "$tmp/c.out"; do sleep 0.1; done
		s=$("$tools/loadgen" connect "$n" | secs)
		h=$("$tools/iotsec-consume" --stats --hooks |
		    sed -n 's/^hook=\([^ ]*connect[^ ]*\) .*calls=\([0-9]*\) .*ns_per_call=\([0-9]*\).*/\1:\2:\3/p' |
		    tr '\n' ' ')
		kill "$consumer"
		wait "$consumer" || true
		consumer=
		rmmod iotsec
		echo "round $r $(basename "$(dirname "$ko")") connect $n s=$s $h"
	done
done
