#!/bin/bash
# SPDX-License-Identifier: MIT
#
# 100 load/unload cycles of the module under load, with a consumer that
# is subscribed (and blocked in recv) whenever rmmod comes:
#
#   loadgen exec 0 ----+
#   loadgen connect 0 -+--> hooks --> iotsec.ko --EVENTS--> iotsec-consume
#                                       ^  insmod, wait until     --persist
#                                       |  subscribed, rmmod      (resubscribes
#                                       +-- x 100                  after reload)
#
# Every insmod and rmmod must succeed (a leaked reference makes rmmod
# fail), the module's refcount is 0 before each rmmod, and the kernel log
# stays free of BUG/WARNING (the lab checks as well).
# IOTSEC_CYCLES changes the number of cycles.
#
# Under multi-threaded TCG (the lab's default) the guest has twice died in
# this test with a vCPU running stale code at the ftrace-patched entry of a
# kretprobed function (an RCU stall at inet_stream_connect+0, a call to
# address 0 from inet_accept); 300 cycles under LAB_ACCEL=tcg,thread=single
# were clean. The same oops happens with no iotsec at all when the kernel's
# own kprobe_events are placed and removed on the same functions
# (tests/vm/kprobe-events-cycles.sh). See kmod/README.md.
set -eu

tools=$IOTSEC_BUILD/tests/tools
ko=$IOTSEC_KO
cycles=${IOTSEC_CYCLES:-100}
tmp=$(mktemp -d /tmp/iotsec-cycles.XXXXXX)
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if grep -q '^iotsec ' /proc/modules; then
		rmmod iotsec || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/wait.sh"
WAIT_POLL=0.05

module_gone() { ! grep -q '^iotsec ' /proc/modules; }
running() { kill -0 "$1" 2>/dev/null; }

echo "TAP version 13"
echo "1..7"
dmesg_start=$(dmesg | wc -l)

"$tools/loadgen" exec 0 >"$tmp/exec.out" 2>&1 &
exec_pid=$!
pids+=("$exec_pid")
"$tools/loadgen" connect 0 >"$tmp/connect.out" 2>&1 &
connect_pid=$!
pids+=("$connect_pid")
"$tools/iotsec-consume" --persist --mask all >"$tmp/consumer.out" 2>"$tmp/consumer.err" &
consumer_pid=$!
pids+=("$consumer_pid")

loaded=0 subscribed=0 unloaded=0 refs_ok=0 fail=
for i in $(seq 1 "$cycles"); do
	if ! insmod "$ko" 2>"$tmp/insmod.err"; then
		fail="insmod failed in cycle $i: $(cat "$tmp/insmod.err")"
		break
	fi
	loaded=$((loaded + 1))
	if "$tools/iotsec-consume" --wait-subscribers 1 --timeout 20 >/dev/null; then
		subscribed=$((subscribed + 1))
	fi
	refcnt=$(cat /sys/module/iotsec/refcnt 2>/dev/null || echo missing)
	if [ "$refcnt" = 0 ]; then
		refs_ok=$((refs_ok + 1))
	else
		echo "# cycle $i: refcnt $refcnt before rmmod"
	fi
	if ! rmmod iotsec 2>"$tmp/rmmod.err"; then
		fail="rmmod failed in cycle $i: $(cat "$tmp/rmmod.err")"
		break
	fi
	if ! wait_for 10 module_gone; then
		fail="module still listed after rmmod in cycle $i"
		break
	fi
	unloaded=$((unloaded + 1))
	# Progress, so that a guest that dies mid-run leaves a trace here.
	[ $((i % 10)) != 0 ] || echo "# cycle $i done"
done
[ -z "$fail" ] || echo "# $fail"
echo "# cycles: $loaded loaded, $subscribed with the consumer subscribed, $unloaded unloaded"

check "$cycles insmod/rmmod cycles under exec and connect load" \
	eval '[ "$loaded" = "$cycles" ] && [ "$unloaded" = "$cycles" ]'
check "the consumer was subscribed when rmmod came, in every cycle" \
	test "$subscribed" = "$cycles"
check "no module reference held at rmmod (refcnt 0), in every cycle" \
	test "$refs_ok" = "$cycles"
check "the load generators and the consumer survived every cycle" \
	eval 'running $exec_pid && running $connect_pid && running $consumer_pid'

kill "$consumer_pid"
wait "$consumer_pid" || true
echo "# consumer: $(tail -n 1 "$tmp/consumer.out")"
batches=$(sed -n 's/^batches=\([0-9]*\) .*/\1/p' "$tmp/consumer.out")
check "the consumer received event batches while the module was loaded" \
	test "${batches:-0}" -gt 0
check "the module is unloaded at the end" module_gone

dmesg | tail -n +"$((dmesg_start + 1))" >"$tmp/dmesg"
if grep -Eq 'BUG:|WARNING:|Oops|Call Trace:|general protection|UBSAN:|KASAN:' "$tmp/dmesg"; then
	grep -E -m 10 -A 5 'BUG:|WARNING:|Oops|Call Trace:|general protection|UBSAN:|KASAN:' "$tmp/dmesg" | sed 's/^/# /'
	check "kernel log clean during the cycles" false
else
	check "kernel log clean during the cycles" true
fi
