#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The device benchmark (issue 8, parts 3 to 5), in one boot of the lab
# (run by `make bench-device`, not a test):
#
#   loadgen --rate --connect/accept--------> iotsec.ko --netlink--> iotsecd
#                                                                    | --output
#   3. throughput: paced steps, each with a fresh iotsecd;     FILE (JSON lines)
#      generated = delivered + dropped + lost per step, checked
#      against loadgen's own exact count and against the hit counts in
#      the published messages; at default module settings, then
#      with a deliberately small ring (BENCH_DEVICE_TIGHT), and with a
#      small netlink receive buffer (BENCH_DEVICE_RCVBUF)
#
#   device-workload.py --exec/connect--> iotsec.ko --> iotsecd agg    (aggregation on, high 7m, default) --+
#   (cron jobs, services, clients)                 |-> iotsecd agg10  (aggregation on, high 10s)  --+
#                                                  |-> iotsecd agg60  (aggregation on, high 1m)   --+
#                                                  \-> iotsecd raw    (aggregation off, high 7m)  --+
#                                  mosquitto_sub -v <- mosquitto (127.0.0.1:1883) <-----------------+
#   4. bandwidth: the four daemons read the same module at once (every
#      consumer gets every batch), so one run gives all four; the
#      baseline "one Azure message per raw event" re-packs raw's records
#      one per message (tests/bench/device-msgs.py)
#   5. footprint: iotsecd CPU and RSS at steady rates (from 3) and on the
#      device workload (from 4); module memory; stripped sizes
#
# Knobs: BENCH_DEVICE_RATES (events/s, 0 = as fast as it goes),
# BENCH_DEVICE_STEP (s per step), BENCH_DEVICE_WORKERS,
# BENCH_DEVICE_TIGHT (module parameters of the second series, "" = skip),
# BENCH_DEVICE_TIGHT_RATES, BENCH_DEVICE_RCVBUF (iotsecd's receive buffer
# in a third series at default module parameters, "" = skip),
# BENCH_DEVICE_RCVBUF_RATES, BENCH_DEVICE_SECONDS (device workload time),
# BENCH_DEVICE_PARTS (any of "3 4 5"), BENCH_DEVICE_STRIPPED (a directory
# holding iotsecd, iotsecctl, libiotsec.so and iotsec.ko already stripped:
# the ARM roots have no binutils, so `make bench-device ARCH=...` strips
# them on the build machine with the cross strip).
#
# The same script runs in the ARM guests (make bench-device ARCH=arm64 or
# ARCH=arm, mk/bench-device.mk): it only uses what scripts/arm-root.sh puts
# in their root, and the programs, module and tools of the cross build.
set -eu

top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
ko=${IOTSEC_KO:-$top/kmod/iotsec.ko}
tools=$build/tests/tools
out=${LAB_OUT:-/tmp}
rates=${BENCH_DEVICE_RATES:-200 1000 2000 4000 0}
step=${BENCH_DEVICE_STEP:-10}
workers=${BENCH_DEVICE_WORKERS:-2}
tight=${BENCH_DEVICE_TIGHT-buffer_events=32 flush_ms=1000 watermark=0}
tight_rates=${BENCH_DEVICE_TIGHT_RATES:-100 150 200 1000 0}
small_rcvbuf=${BENCH_DEVICE_RCVBUF-16KiB}
small_rates=${BENCH_DEVICE_RCVBUF_RATES:-2000 0}
seconds=${BENCH_DEVICE_SECONDS:-300}
parts=${BENCH_DEVICE_PARTS:-3 4 5}
port=7700
py=/usr/bin/python3
tmp=$(mktemp -d /tmp/iotsec-device.XXXXXX)
chmod 755 "$tmp"	# the broker drops to the mosquitto user
pids=()
hz=$(getconf CLK_TCK)

cleanup() {
	set +e
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	grep -q '^iotsec ' /proc/modules && rmmod iotsec
	mkdir -p "$out/device-logs" && cp "$tmp"/*.log "$tmp"/*.stats "$out/device-logs/" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# wait_for SECONDS CONDITION: poll, never a fixed sleep (the condition may
# use `set --`: it is kept aside). The pause is a read with a timeout on a
# pipe nobody writes, not sleep(1): every program run here is an exec event
# in the stream being measured.
mkfifo "$tmp/nap"
exec {napfd}<>"$tmp/nap"
wait_for() {
	local end=$((SECONDS + $1)) cond=$2
	until eval "$cond"; do
		[ $SECONDS -lt $end ] || return 1
		read -rt 0.2 -u "$napfd" || true
	done
}
log() { echo "# $*"; }
part() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

# kcount TYPE...: "generated dropped delivered lost" summed over the types
kcount() {
	"$build/iotsecctl" --stats-file /nonexistent stats |
		awk -v t=" $* " 'index(t, " " $1 " ") && NF == 5 {
			g += $2; d += $3; v += $4; l += $5 }
			END { print g + 0, d + 0, v + 0, l + 0 }'
}
# kdelivered: DELIVERED summed over every type (iotsecd decodes all the
# types the module sends it, also the few of the other types the load
# makes, such as listen and the exits of its helpers)
kdelivered() {
	"$build/iotsecctl" --stats-file /nonexistent stats |
		awk 'NF == 5 && $4 ~ /^[0-9]+$/ { v += $4 } END { print v + 0 }'
}
# json_num FILE KEY: the first number after "KEY": in iotsecd's stats file
json_num() { grep -o "\"$2\":[0-9]*" "$1" | head -n 1 | cut -d: -f2; }
# cpu_ticks PID: utime + stime; status_kb PID FIELD: from /proc/PID/status.
# Shell builtins only, for the same reason as above (the callers use them
# as $(...), a fork without an exec).
cpu_ticks() { local a; read -ra a <"/proc/$1/stat"; echo $((a[13] + a[14])); }
status_kb() {
	local k v r
	while read -r k v r; do
		[ "$k" = "$2:" ] && echo "$v" && return
	done <"/proc/$1/status"
}
# has FILE STRING: FILE holds STRING (builtins only)
has() {
	local l
	[ -f "$1" ] || return 1
	while IFS= read -r l; do
		[[ $l == *"$2"* ]] && return 0
	done <"$1"
	return 1
}
# gone PID: exited (a zombie, or reaped)
gone() {
	local a
	read -ra a 2>/dev/null <"/proc/$1/stat" || return 0
	[ "${a[2]}" = Z ]
}

start_iotsecd() { # start_iotsecd NAME CONFIG [iotsecd args]: sets $daemon
	local name=$1 cfg=$2
	shift 2
	"$build/iotsecd" -f -c "$cfg" --stats-file "$tmp/$name.stats" "$@" \
		>"$tmp/$name.log" 2>&1 &
	daemon=$!
	pids+=("$daemon")
	wait_for 60 "has $tmp/$name.stats '\"module\":true'" ||
		{ echo "bench: iotsecd $name did not subscribe" >&2; cat "$tmp/$name.log" >&2; exit 1; }
}
stop_iotsecd() { # stop_iotsecd PID: SIGTERM flushes the queues
	kill -TERM "$1"
	wait_for 30 "gone $1" ||
		{ log "iotsecd $1 did not exit on SIGTERM"; kill -KILL "$1"; }
	wait "$1" || true
}

echo "# iotsec device benchmark: $(uname -r) $(uname -m), $(nproc) CPUs, $(date -u +%FT%TZ)"

# ---- 3 (and 5 at steady rates): throughput and loss ----------------------
p3_config() { # p3_config RCVBUF: iotsecd's configuration for part 3
	cat <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
priorities:
  high: 1s
  low: 1s
events:
  exec:    { priority: off }
  exit:    { priority: off }
  fork:    { priority: off }
  connect: { priority: high, aggregate: true }
  accept:  { priority: high, aggregate: true }
  listen:  { priority: off }
  cred:    { priority: off }
  module:  { priority: off }
  ptrace:  { priority: off }
  file:    { priority: off }
messages:
  statistics: 0s
kernel:
  receive_buffer: $1
  watch: []
sdk:
  enabled: false
logins:
  enabled: false
snapshots:
  interval: 0s
EOC
}

ports() { local i; for i in $(seq 0 $((workers - 1))); do echo $((port + i)); done; }

# series NAME MODPARAMS RCVBUF RATES: one table of steps
series() {
	local name=$1 params=$2 rcvbuf=$3 rates_now=$4 r ops el ach k0 k1 t0 t1 c0 c1 ev out inn
	local g d v l dec enob qd rss hwm cpu cpuev c2 va va0 ok best=none
	insmod "$ko" $params
	p3_config "$rcvbuf" >"$tmp/p3.yaml"
	{
		echo "series $name: module ${params:-default parameters}, iotsecd receive_buffer $rcvbuf, high interval 1s,"
		echo "connect + accept events only, $workers workers, ${step}s per step, one fresh iotsecd per step"
		printf '%-9s %9s %8s %8s %9s %9s %7s %6s %6s %6s %10s %-10s %6s %7s %9s\n' \
			"target/s" "achieved/s" "workload" "kgener" "delivered" "published" "dropped" "lost" "enobuf" "qdrop" "identity" "loss" "cpu%" "RSS kB" "cpu us/ev"
	} >>"$tmp/p3.txt"
	for r in $rates_now; do
		# before the step's iotsecd, the only consumer: all it decodes
		va0=$(kdelivered)
		start_iotsecd "s$name$r" "$tmp/p3.yaml" --output "$tmp/s$name$r.jsonl"
		k0=$(kcount connect accept)
		c0=$(cpu_ticks "$daemon")
		t0=$(date +%s.%N)
		res=$("$tools/loadgen" --rate "$(awk -v r="$r" 'BEGIN { print r / 2 }')" connect "$step" "$workers" "$port")
		t1=$(date +%s.%N)
		c1=$(cpu_ticks "$daemon")
		rss=$(status_kb "$daemon" VmRSS)
		hwm=$(status_kb "$daemon" VmHWM)
		ops=$(echo "$res" | sed 's/.*ops=\([0-9]*\).*/\1/')
		ev=$((2 * ops))
		# settle: every generated event flushed (delivered, dropped or
		# lost) and every delivered one decoded by iotsecd
		wait_for 60 "k1=\$(kcount connect accept); set -- \$k0 \$k1; [ \$((\$5 - \$1)) = \$((\$6 - \$2 + \$7 - \$3 + \$8 - \$4)) ] &&
			[ \"\$(json_num $tmp/s$name$r.stats events)\" -ge \$((\$7 - \$3)) ]" || true
		k1=$(kcount connect accept)
		va=$(($(kdelivered) - va0))
		c2=$(cpu_ticks "$daemon")
		stop_iotsecd "$daemon"
		set -- $k0 $k1
		g=$(($5 - $1)) d=$(($6 - $2)) v=$(($7 - $3)) l=$(($8 - $4))
		dec=$(json_num "$tmp/s$name$r.stats" events)
		enob=$(json_num "$tmp/s$name$r.stats" enobufs)
		qd=$(grep -o '"dropped":[0-9]*' "$tmp/s$name$r.stats" | awk -F: '{ s += $2 } END { print s + 0 }')
		# shellcheck disable=SC2046 # the words are wanted
		set -- $("$py" "$top/tests/bench/device-msgs.py" hits "$tmp/s$name$r.jsonl" $(ports) | tr '=' ' ')
		out=$2 inn=$4
		if [ "$g" = "$ev" ] && [ $((out + inn + d + l + qd)) = "$ev" ] && [ "$dec" = "$va" ]; then
			ok=exact
		else
			ok="OFF"
		fi
		ach=$(awk -v e="$ev" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", e / (b - a) }')
		cpu=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", 100 * c / hz / (b - a) }')
		# iotsecd's CPU time per event it decoded (from the start of the
		# load until every event is decoded, clock ticks of 1/CLK_TCK s)
		cpuev=$(awk -v c="$((c2 - c0))" -v hz="$hz" -v e="$dec" 'BEGIN {
			if (e > 0) printf "%.2f", 1e6 * c / hz / e; else print "-" }')
		printf '%-9s %9s %8s %8s %9s %9s %7s %6s %6s %6s %10s %-10s %6s %7s %9s\n' \
			"$([ "$r" = 0 ] && echo max || echo "$r")" "$ach" "$ev" "$g" "$dec" "$((out + inn))" "$d" "$l" "$enob" "$qd" "$ok" \
			"$([ $((d + l + qd)) = 0 ] && echo none || awk -v x=$((d + l + qd)) -v e="$ev" 'BEGIN { printf "%.1f%%", 100 * x / e }')" \
			"$cpu" "$rss" "$cpuev" >>"$tmp/p3.txt"
		[ $((d + l + qd)) != 0 ] || best="$ach ev/s (step $([ "$r" = 0 ] && echo max || echo "$r"))"
		log "$name $r: $res; kernel g=$g d=$d v=$v l=$l decoded=$dec published=$((out + inn)) (out $out in $inn) enobufs=$enob qdrop=$qd $ok cpu=$cpu% rss=$rss hwm=$hwm ticks=$((c2 - c0)) cpu_us_per_event=$cpuev"
		[ "$ok" = exact ] || log "  identity off: workload $ev, kernel generated $g, published+dropped+lost+qdrop $((out + inn + d + l + qd)), decoded $dec vs kernel delivered $va (all types; connect+accept $v)"
	done
	echo "highest step without loss: $best" >>"$tmp/p3.txt"
	echo >>"$tmp/p3.txt"
	rmmod iotsec
}

if part 3 || part 5; then
	: >"$tmp/p3.txt"
	series default "" 8MiB "$rates"
	if [ -n "$tight" ]; then
		series tight "$tight" 8MiB "$tight_rates"
	fi
	if [ -n "$small_rcvbuf" ]; then
		series rcvbuf "" "$small_rcvbuf" "$small_rates"
	fi
	{
		echo "workload: $workers loadgen --rate workers, TCP connect+accept on 127.0.0.1:$port..; one operation = 2 events (connect, accept)"
		echo "kgener: the kernel's GENERATED (connect+accept); delivered: events iotsecd decoded;"
		echo "published: events in iotsecd's messages (aggregated hit counts summed);"
		echo "identity exact: kgener == workload == published + dropped + lost + qdrop, and decoded == kernel DELIVERED (all types)"
		echo "cpu%: iotsecd utime+stime over the step, % of one vCPU; RSS at the step's end;"
		echo "cpu us/ev: iotsecd utime+stime over the step / events it decoded (ticks of 1/$hz s)"
	} >>"$tmp/p3.txt"
	log "part 3 done"
fi

# ---- 4 (and 5 on a device): bandwidth -------------------------------------
if part 4; then
	insmod "$ko"
	cat >"$tmp/mosquitto.conf" <<EOC
listener 1883 127.0.0.1
allow_anonymous true
persistence false
EOC
	mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
	pids+=($!)
	wait_for 20 "mosquitto_pub -h 127.0.0.1 -t probe -m x 2>/dev/null" ||
		{ echo "bench: mosquitto did not start" >&2; exit 1; }
	mosquitto_sub -h 127.0.0.1 -q 1 -v -t 'iotsec/#' >"$tmp/sub.log" 2>&1 &
	sub=$!
	pids+=("$sub")
	wait_for 20 "mosquitto_pub -h 127.0.0.1 -t iotsec/probe -m probe && grep -q '^iotsec/probe' $tmp/sub.log" ||
		{ echo "bench: mosquitto_sub did not subscribe" >&2; exit 1; }
	# four daemons on the same events: the default configuration (high
	# 7m, low 5h: Azure's module twin defaults), the same with 10-second
	# and 1-minute high intervals, and aggregation off everywhere. A
	# workload shorter than an interval is flushed once, at the daemons'
	# SIGTERM: with the default 300 s, the 7m daemon's figure is that of
	# a 5-minute interval, more bytes than 7m would send (an upper bound).
	modes="agg agg10 agg60 raw"
	declare -A what=([agg]="aggregation on, high 7m (default)"
			 [agg10]="aggregation on, high 10s"
			 [agg60]="aggregation on, high 1m"
			 [raw]="aggregation off, high 7m")
	declare -A dpid c0 c1 rss hwm
	types="exec exit connect accept listen cred module ptrace file"
	mkdir -p "$tmp/state"
	# the kernel's counters over the daemons' whole life (no consumer
	# before: nothing is recorded)
	k0=$(kcount $types)
	for mode in $modes; do
		aggregate=true high=7m
		[ $mode = raw ] && aggregate=false
		[ $mode = agg10 ] && high=10s
		[ $mode = agg60 ] && high=1m
		cat >"$tmp/$mode.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: 127.0.0.1
  port: 1883
  client_id: bench-$mode
  device_id: dev-$mode
  topic: "iotsec/{device_id}/{type}"
priorities:
  high: $high
  low: 5h
events:
  exec:    { priority: high, aggregate: $aggregate }
  exit:    { priority: low, aggregate: $aggregate }
  fork:    { priority: off }
  connect: { priority: high, aggregate: $aggregate }
  accept:  { priority: high, aggregate: $aggregate }
  listen:  { priority: low, aggregate: $aggregate }
  cred:    { priority: alert, aggregate: false }
  module:  { priority: alert, aggregate: false }
  ptrace:  { priority: alert, aggregate: false }
  file:    { priority: high, aggregate: $aggregate }
messages:
  max_size: 256KiB
  statistics: 1h
kernel:
  receive_buffer: 8MiB
sdk:
  enabled: false
logins:
  enabled: false
snapshots:
  interval: 0s
EOC
		start_iotsecd "$mode" "$tmp/$mode.yaml"
		dpid[$mode]=$daemon
	done
	for mode in $modes; do
		wait_for 30 "has $tmp/$mode.stats '\"mqtt\":\"connected\"'" ||
			{ echo "bench: iotsecd $mode did not connect" >&2; cat "$tmp/$mode.log" >&2; exit 1; }
	done
	for mode in $modes; do c0[$mode]=$(cpu_ticks "${dpid[$mode]}"); done
	t0=$EPOCHREALTIME
	log "device workload for ${seconds}s"
	wl=$(timeout $((seconds + 120)) "$py" "$top/tests/bench/device-workload.py" "$seconds" "$tmp/state" 2>"$tmp/workload.log") ||
		log "workload: status $?: $(tail -n 20 "$tmp/workload.log")"
	t1=$EPOCHREALTIME
	log "workload done: $wl"
	for mode in $modes; do
		c1[$mode]=$(cpu_ticks "${dpid[$mode]}")
		rss[$mode]=$(status_kb "${dpid[$mode]}" VmRSS)
		hwm[$mode]=$(status_kb "${dpid[$mode]}" VmHWM)
	done
	for mode in $modes; do stop_iotsecd "${dpid[$mode]}"; done
	k1=$(kcount $types)
	log "iotsecd stopped"
	wait_for 30 "[ \$(grep -c MessageStatistics $tmp/sub.log) -ge 4 ]" || true
	kill "$sub"
	wait "$sub" 2>/dev/null || true
	el=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	for mode in $modes; do
		"$py" "$top/tests/bench/device-msgs.py" bandwidth "$tmp/sub.log" "iotsec/dev-$mode/" >"$tmp/$mode.bw"
	done
	bw() { sed -n "s/^$2=//p" "$tmp/$1.bw"; }
	set -- $k0 $k1
	{
		echo "device workload: $el s of guest time ($wl)"
		echo "kernel over the daemons' life (all types): generated $(($5 - $1)), dropped $(($6 - $2)), lost $(($8 - $4))"
		echo "events in the messages (hit counts summed): $(for m in $modes; do printf '%s %s, ' "$m" "$(bw "$m" events)"; done)by name (off): $(bw raw names)"
		echo "config: low 5h, max_size 256KiB; snapshots, SDK, logins off; sizes: MQTT payloads at the broker;"
		echo "units: IoT Hub bills a message in 4 KiB blocks, ceil(bytes / 4096) each; operational statistics"
		echo "(published at SIGTERM, 1 h interval) not counted: $(bw agg op_messages) message of $(bw agg op_bytes) B per daemon"
		echo
		printf '%-38s %11s %9s %10s %9s %11s %9s\n' "per hour (x 3600 / $el s)" "bytes" "messages" "4KiB units" "events" "bytes/event" "max msg B"
		row() { # row LABEL BYTES MESSAGES UNITS EVENTS MAX
			awk -v w="$1" -v b="$2" -v n="$3" -v u="$4" -v e="$5" -v x="$6" -v s="$el" 'BEGIN {
				f = 3600 / s
				printf "%-38s %11.0f %9.0f %10.0f %9.0f %11.1f %9s\n", w, b * f, n * f, u * f, e * f, b / e, x }'
		}
		for m in $modes; do
			row "${what[$m]}" "$(bw "$m" bytes)" "$(bw "$m" messages)" "$(bw "$m" units)" "$(bw "$m" events)" "$(bw "$m" max_message)"
		done
		row "one Azure message per raw event" "$(bw raw base_bytes)" "$(bw raw base_messages)" "$(bw raw base_units)" "$(bw raw events)" -
		echo
		for m in agg agg10 agg60; do
			awk -v w="${what[$m]}" -v ab="$(bw $m bytes)" -v rb="$(bw raw bytes)" -v bb="$(bw raw base_bytes)" \
			    -v au="$(bw $m units)" -v ru="$(bw raw units)" -v bu="$(bw raw base_units)" \
			    -v an="$(bw $m messages)" -v bn="$(bw raw base_messages)" 'BEGIN {
				printf "%s: baseline / this = %.1fx bytes (goal >= 20x), %.1fx units, %.1fx messages; aggregation off / this = %.1fx bytes\n", w, bb / ab, bu / au, bn / an, rb / ab }'
		done
		echo
		echo "projection per day (x 86400 / $el s), fleet of 100,000 devices; IoT Hub daily quota per unit as"
		echo "Azure publishes it: S1 400,000, S2 6,000,000, S3 300,000,000 messages (4 KiB blocks) per day,"
		echo "at most 200 units per hub in S1 and S2, 10 in S3: hub units needed (hubs)"
		printf '%-38s %11s %12s %15s %13s %11s %9s\n' "" "msgs/device" "units/device" "units, 100k dev" "S1" "S2" "S3"
		proj() { # proj LABEL MESSAGES UNITS
			awk -v w="$1" -v n="$2" -v u="$3" -v s="$el" 'function up(x, q) { return int(x / q) + (x % q > 0) }
			BEGIN { f = 86400 / s; fl = u * f * 100000
				s1 = up(fl, 400000); s2 = up(fl, 6000000); s3 = up(fl, 300000000)
				printf "%-38s %11.0f %12.0f %15.0f %13s %11s %9s\n", w, n * f, u * f, fl,
					s1 " (" up(s1, 200) ")", s2 " (" up(s2, 200) ")", s3 " (" up(s3, 10) ")" }'
		}
		for m in $modes; do
			proj "${what[$m]}" "$(bw "$m" messages)" "$(bw "$m" units)"
		done
		proj "one Azure message per raw event" "$(bw raw base_messages)" "$(bw raw base_units)"
	} >"$tmp/p4.txt"
	{
		echo "iotsecd on the device workload ($el s, four daemons at once, MQTT to the local mosquitto, no TLS):"
		for m in $modes; do
			awk -v w="${what[$m]}" -v c="$((c1[$m] - c0[$m]))" -v hz="$hz" -v s="$el" -v r="${rss[$m]}" -v h="${hwm[$m]}" 'BEGIN {
				printf "  %-38s cpu %.2f%% of one vCPU, VmRSS %d kB, VmHWM %d kB\n", w, 100 * c / hz / s, r, h }'
		done
	} >"$tmp/p5dev.txt"
	rmmod iotsec
	log "part 4 done"
fi

# ---- 5: memory and sizes --------------------------------------------------
if part 5; then
	insmod "$ko"
	modsize=$(awk '$1 == "iotsec" { print $2 }' /proc/modules)
	"$tools/iotsec-consume" >"$tmp/consumer.out" 2>&1 &
	c=$!
	pids+=("$c")
	"$tools/iotsec-consume" --wait-subscribers 1 --timeout 20 >/dev/null || true
	kst=$("$tools/iotsec-consume" --stats || echo "GET_STATS failed")
	kill "$c"
	wait "$c" || true
	rmmod iotsec
	if [ -n "${BENCH_DEVICE_STRIPPED:-}" ]; then
		cp "$BENCH_DEVICE_STRIPPED"/iotsecd "$BENCH_DEVICE_STRIPPED"/iotsecctl \
			"$BENCH_DEVICE_STRIPPED"/libiotsec.so "$BENCH_DEVICE_STRIPPED"/iotsec.ko "$tmp/"
	else
		strip -o "$tmp/iotsecd" "$build/iotsecd"
		strip -o "$tmp/iotsecctl" "$build/iotsecctl"
		strip -o "$tmp/libiotsec.so" "$(realpath "$build/libiotsec.so")"
		strip --strip-debug -o "$tmp/iotsec.ko" "$ko"
	fi
	sz() { stat -c %s "$1"; }
	{
		echo "module memory at default parameters, one consumer: GET_STATS $kst"
		echo "  (IOTSEC_A_MEMORY: per-CPU rings + config + consumers); /proc/modules size $modsize B (text + data)"
		echo "sizes (bytes): iotsec.ko $(sz "$ko") as built, $(sz "$tmp/iotsec.ko") without debug info;"
		echo "  stripped: iotsecd $(sz "$tmp/iotsecd"), iotsecctl $(sz "$tmp/iotsecctl"), libiotsec.so $(sz "$tmp/libiotsec.so") (dynamically linked)"
		[ -f "$tmp/p5dev.txt" ] && cat "$tmp/p5dev.txt"
		echo "iotsecd at steady rates: the cpu% and RSS columns of part 3 (--output to a file, no MQTT)"
	} >"$tmp/p5.txt"
fi

{
	echo "== 3. throughput and loss =="
	cat "$tmp/p3.txt" 2>/dev/null || echo "(not run)"
	echo
	echo "== 4. bandwidth and cost =="
	cat "$tmp/p4.txt" 2>/dev/null || echo "(not run)"
	echo
	echo "== 5. footprint =="
	cat "$tmp/p5.txt" 2>/dev/null || echo "(not run)"
} >"$tmp/table"
echo
cat "$tmp/table"
cp "$tmp/table" "$out/device.txt"
