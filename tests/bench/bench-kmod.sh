#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The module's overhead on the three loops it touches most, measured in
# one boot of the lab (run by `make bench-kmod`, not a test):
#
#   round r:  [base]    without the module      exec, connect, open loops
#             [loaded]  module loaded, nobody subscribed (hooks in place,
#                       nothing recorded)        exec, connect, open loops
#             [module]  module + iotsec-consume --mask all (every event on,
#                       batches drained)         exec, connect, open loops
#   (the order rotates from round to round, to spread drift over all)
#
# Medians over the rounds, the medians of the per-round ratios to base
# (robust against the drift of a shared machine), and the ratios of the
# fastest runs (interference only ever adds time, so the minimum is the
# closest to the loop's own cost). Then the kernel
# memory the module holds at default settings: its GET_STATS figure
# (IOTSEC_A_MEMORY, when reported), its /proc/modules size, and the rise
# of Slab, Percpu and VmallocUsed in /proc/meminfo across insmod and
# across a consumer subscribing.
#
# Where the module has the timing parameter, one more pass with timing=1
# reports the time each hook's handlers take, in ns per call.
#
# BENCH_ROUNDS, BENCH_EXEC, BENCH_CONNECT, BENCH_OPEN change the figures.
set -eu

tools=$IOTSEC_BUILD/tests/tools
ko=$IOTSEC_KO
# Many short rounds: on a shared machine the load of others comes and goes
# within minutes, and the modes of one round are only seconds apart.
rounds=${BENCH_ROUNDS:-15}
declare -A N=([exec]=${BENCH_EXEC:-40} [connect]=${BENCH_CONNECT:-1000}
	      [open]=${BENCH_OPEN:-20000})
loops="exec connect open"
out=${LAB_OUT:-/tmp}
tmp=$(mktemp -d /tmp/iotsec-bench.XXXXXX)
consumer=

cleanup() {
	[ -z "$consumer" ] || kill "$consumer" 2>/dev/null || true
	wait 2>/dev/null || true
	if grep -q '^iotsec ' /proc/modules; then
		rmmod iotsec || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/wait.sh"
. "$(dirname "$0")/../lib/bench.sh"
WAIT_POLL=0.05

consumer_ready() { grep -q '^ready' "$tmp/consumer.out"; }

start_module() {
	insmod "$ko"
	"$tools/iotsec-consume" --mask all >"$tmp/consumer.out" 2>"$tmp/consumer.err" &
	consumer=$!
	wait_for 20 consumer_ready || { echo "bench: consumer not ready" >&2; cat "$tmp/consumer.err" >&2; exit 1; }
}

stop_module() {
	kill "$consumer"
	wait "$consumer" || true
	consumer=
	echo "# consumer: $(tail -n 1 "$tmp/consumer.out") $(cat "$tmp/consumer.err")"
	rmmod iotsec
}


meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }
memsnap() { echo "$(meminfo Slab) $(meminfo Percpu) $(meminfo VmallocUsed)"; }

echo "# iotsec kernel module benchmark: $(uname -r), $(nproc) CPUs, $rounds rounds"
echo "# loops: exec ${N[exec]} x fork+exec /bin/true; connect ${N[connect]} x TCP connect+accept on 127.0.0.1; open ${N[open]} x open(O_WRONLY)+close of unwatched files"

# Under QEMU -icount (BENCH_ICOUNT=1) a loop's time is its instruction
# count only while the guest never idles: a 9p round trip (every open of a
# file of the host root) idles it. The exec loop then runs a static busybox
# copied to tmpfs as "true" (no dynamic loader, no 9p open), and the open
# loop works in /dev/shm.
if [ "${BENCH_ICOUNT:-0}" != 0 ] && [ -x /bin/busybox ]; then
	cp /bin/busybox "$tmp/true"
	export LOADGEN_TRUE=$tmp/true
	echo "# icount: exec runs $LOADGEN_TRUE (static busybox on tmpfs)"
	# a new name in the overlay's /tmp is looked up in 9p: open on tmpfs
	if [ -d /dev/shm ]; then
		export LOADGEN_DIR=/dev/shm
		echo "# icount: the open loop's directory is on /dev/shm"
	fi
fi

# Warm up caches once, untimed.
for l in $loops; do "$tools/loadgen" "$l" $((N[$l] / 4)) >/dev/null; done

orders=("base loaded module" "module base loaded" "loaded module base")
for r in $(seq 1 "$rounds"); do
	for mode in ${orders[$(((r - 1) % 3))]}; do
		case $mode in
		module)
			start_module
			run_loops module "$r"
			stop_module
			;;
		loaded)
			insmod "$ko"
			run_loops loaded "$r"
			rmmod iotsec
			;;
		base)
			run_loops base "$r"
			;;
		esac
	done
done

# The cost of each hook's handlers, where the module can time them
# (parameter timing): one more pass of the loops with every event on.
hook_times=
if modinfo -F parm "$ko" 2>/dev/null | grep -q '^timing:'; then
	insmod "$ko" timing=1
	"$tools/iotsec-consume" --mask all >"$tmp/consumer.out" 2>"$tmp/consumer.err" &
	consumer=$!
	wait_for 20 consumer_ready || { echo "bench: consumer not ready" >&2; exit 1; }
	run_loops timed 0
	hook_times=$("$tools/iotsec-consume" --stats --hooks | grep '^hook=' || true)
	stop_module
fi

# ratios A B: per-round ratio of B to A (same round, minutes apart at most)
ratios() { paste "$tmp/$1" "$tmp/$2" | awk '{ print $2 / $1 }' >"$tmp/r.$1.$2"; median "$tmp/r.$1.$2"; }
{
	echo "medians over $rounds rounds; ratio = median of the per-round ratios to base;"
	echo "min ratio = ratio of the fastest runs"
	echo "loop     n        base (s)  loaded (s)  ratio  min ratio   module+consumer (s)  ratio  min ratio"
	for l in $loops; do
		b=$(median "$tmp/base.$l")
		i=$(median "$tmp/loaded.$l")
		m=$(median "$tmp/module.$l")
		ri=$(ratios "base.$l" "loaded.$l")
		rm=$(ratios "base.$l" "module.$l")
		bmin=$(minimum "$tmp/base.$l")
		imin=$(minimum "$tmp/loaded.$l")
		mmin=$(minimum "$tmp/module.$l")
		awk -v l="$l" -v n="${N[$l]}" -v b="$b" -v i="$i" -v m="$m" \
		    -v ri="$ri" -v rm="$rm" -v bmin="$bmin" -v imin="$imin" \
		    -v mmin="$mmin" 'BEGIN {
			printf "%-8s %-8d %8.3f  %10.3f  %5.3f  %9.3f   %19.3f  %5.3f  %9.3f\n",
				l, n, b, i, ri, imin / bmin, m, rm, mmin / bmin }'
	done
} >"$tmp/table"

# Memory at default settings: idle after insmod, then with a consumer.
sync
echo 3 >/proc/sys/vm/drop_caches
before=$(memsnap)
insmod "$ko"
after_load=$(memsnap)
modsize=$(awk '$1 == "iotsec" { print $2 }' /proc/modules)
stats_idle=$("$tools/iotsec-consume" --stats || echo "GET_STATS failed")
"$tools/iotsec-consume" >"$tmp/consumer.out" 2>"$tmp/consumer.err" &
consumer=$!
wait_for 20 consumer_ready || true
after_sub=$(memsnap)
stats_sub=$("$tools/iotsec-consume" --stats || echo "GET_STATS failed")
kill "$consumer"
wait "$consumer" || true
consumer=
rmmod iotsec
delta() { # delta "a b c" "x y z" → "x-a y-b z-c" in kB
	echo "$1 $2" | awk '{ printf "Slab %+d kB, Percpu %+d kB, VmallocUsed %+d kB", $4 - $1, $5 - $2, $6 - $3 }'
}

{
	echo
	echo "memory at default settings:"
	echo "  /proc/modules size: ${modsize} bytes (module text and data)"
	echo "  GET_STATS after insmod:            $stats_idle"
	echo "  GET_STATS with a consumer:         $stats_sub"
	echo "  /proc/meminfo across insmod:       $(delta "$before" "$after_load")"
	echo "  /proc/meminfo across subscribing:  $(delta "$after_load" "$after_sub")"
	if [ -n "$hook_times" ]; then
		echo
		echo "handler time per hook (timing=1, one pass of the loops, every event on):"
		echo "$hook_times" | awk '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			printf "  %-28s type %2d  %9d calls  %8d ns/call\n", v["hook"], v["type"], v["calls"], v["ns_per_call"] }'
	fi
} >>"$tmp/table"

echo
cat "$tmp/table"
cp "$tmp/table" "$out/bench-kmod.txt"
