#!/bin/bash
# SPDX-License-Identifier: MIT
#
# iotsec side by side with collectors nobody here wrote, in one boot of the
# lab (run by `make bench-peers`, not a test; root, a kernel that loads
# modules):
#
#   mode      collecting process creation, connect and accept with
#   base      nothing
#   iotsec    iotsec.ko + iotsecd publishing to mosquitto on 127.0.0.1:1883
#   auditd    auditd, rules for execve, connect, accept, accept4, log on tmpfs
#   procconn  the proc connector + /proc/<pid>/{cmdline,exe} (processes only)
#   bcc       execsnoop + tcpconnect + tcpaccept (bpfcc-tools), to files
#   sysdig    scap.ko (falcosecurity-scap-dkms) + sysdig filtering
#             evt.type in (execve,connect,accept,accept4), to a file
#
# Phase 1, capture completeness (and start-up time): each collector is
# started and waited for until it demonstrably captures (start-up timed,
# bounded by BENCH_START_TIMEOUT), then N short processes
# `/bin/true arg-<i>-<tag> --n=<i> last-<tag>` are started back to back,
# once from C (tests/tools/shortproc) and once from a shell loop; after the
# output settles the collector is stopped and its output counted
# (tests/bench/peers-count.py): reported, executable right, argv whole.
# A collector that cannot start is reported as such and left out below.
#
# Phase 2, overhead: BENCH_ROUNDS rounds; in each every mode in an order
# that rotates from round to round: start the collector (not timed), run
# the exec, connect and open/close loops of tests/tools/loadgen (timed),
# stop it. Reported like bench-kmod.sh: median of the per-round ratios to
# base and the ratio of the fastest runs.
#
# BENCH_PEERS (modes, default all), BENCH_ROUNDS, BENCH_EXEC,
# BENCH_CONNECT, BENCH_OPEN, BENCH_SHORT, BENCH_START_TIMEOUT.
set -eu

top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
ko=${IOTSEC_KO:-$top/kmod/iotsec.ko}
tools=$build/tests/tools
peers=${BENCH_PEERS:-iotsec auditd procconn bcc sysdig}
rounds=${BENCH_ROUNDS:-3}
declare -A N=([exec]=${BENCH_EXEC:-100} [connect]=${BENCH_CONNECT:-2000}
	      [open]=${BENCH_OPEN:-20000})
loops="exec connect open"
nshort=${BENCH_SHORT:-200}
start_timeout=${BENCH_START_TIMEOUT:-300}
out=${LAB_OUT:-/tmp}
tmp=$(mktemp -d /run/iotsec-peers.XXXXXX)
chmod 755 "$tmp"	# mosquitto drops to its own user
logs=$out/peers-logs
mkdir -p "$logs"
scap_ko=/lib/modules/$(uname -r)/updates/dkms/scap.ko
broker= sub=
declare -A why=() startup=()

log() { echo "# $*"; }

cleanup() {
	set +e
	stop_all
	[ -z "$sub" ] || kill "$sub" 2>/dev/null
	[ -z "$broker" ] || kill "$broker" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

. "$(dirname "$0")/../lib/wait.sh"
. "$(dirname "$0")/../lib/bench.sh"

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f\n", b - a }'; }

# settle PATTERNS FILE...: wait until the number of matches of the
# patterns (a file, so that no command line of ours carries them: the
# collectors record our own polling too) stops growing for 4 s, at most 90 s
settle() {
	local pat=$1 last=-1 cur since=$SECONDS end=$((SECONDS + 90))
	shift
	while [ $SECONDS -lt $end ] && [ $((SECONDS - since)) -lt 4 ]; do
		cur=$(cat "$@" 2>/dev/null | grep -o -F -f "$pat" | wc -l)
		if [ "$cur" != "$last" ]; then since=$SECONDS; last=$cur; fi
		sleep 0.5
	done
}

# A marker exec the collector has to show before it counts as started.
marker=
probe_exec() {	# probe_exec FILE...
	marker=peers-ready-$RANDOM$RANDOM
	/bin/true "$marker"
	sleep 0.3
	grep -qs -- "$marker" "$@"
}

# Stop whatever is running; every stop_* is safe to call twice.
stop_all() {
	local m
	for m in iotsec auditd procconn bcc sysdig; do
		"stop_$m" 2>/dev/null || true
	done
}

kill_wait() {	# kill_wait PID...: SIGTERM, then SIGKILL after 20 s
	local p
	for p in "$@"; do
		kill "$p" 2>/dev/null || continue
		wait_for 20 eval "! kill -0 $p 2>/dev/null" || kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null || true
	done
}

# ---- iotsec: module + iotsecd publishing to the local mosquitto ----------
iotsecd_pid=
iotsec_ready() { grep -qs '"module":true,"mqtt":"connected"' "$tmp/iotsecd.json"; }
start_iotsec() {
	cat >"$tmp/iotsecd.yaml" <<EOC
agent:
  id: 6f1c8a52-3d0e-4b7a-9a51-0c2f4e9d7b13
broker:
  host: 127.0.0.1
  port: 1883
  device_id: bench
  topic: "iotsec/{device_id}/{type}"
priorities:
  high: 2s
  low: 1m
events:
  exec:    { priority: high, aggregate: true }
  connect: { priority: high, aggregate: true }
  accept:  { priority: high, aggregate: true }
  file:    { priority: high, aggregate: true }
  exit:    { priority: off }
  fork:    { priority: off }
  listen:  { priority: off }
  cred:    { priority: off }
  module:  { priority: off }
  ptrace:  { priority: off }
messages:
  statistics: 1h
kernel:
  watch: [ /etc/passwd, /etc/shadow, /etc/sudoers ]
sdk:
  enabled: false
logins:
  enabled: false
snapshots:
  interval: 0s
EOC
	insmod "$ko" || { why[iotsec]="insmod iotsec.ko failed"; return 1; }
	"$build/iotsecd" -f -c "$tmp/iotsecd.yaml" --stats-file "$tmp/iotsecd.json" \
		>>"$tmp/iotsecd.log" 2>&1 &
	iotsecd_pid=$!
	wait_for "$start_timeout" iotsec_ready ||
		{ why[iotsec]="iotsecd did not subscribe and connect: $(tail -n 2 "$tmp/iotsecd.log" | tr '\n' ' ')"; return 1; }
}
stop_iotsec() {
	[ -z "$iotsecd_pid" ] || kill_wait "$iotsecd_pid"
	iotsecd_pid=
	rm -f "$tmp/iotsecd.json"
	if grep -q '^iotsec ' /proc/modules; then rmmod iotsec; fi
}

# ---- auditd: the rules Azure's C agent relied on, log on tmpfs ------------
auditd_pid=
start_auditd() {
	mkdir -p "$tmp/audit"
	sed -e "s|^log_file.*|log_file = $tmp/audit/audit.log|" \
	    -e 's|^log_format.*|log_format = RAW|' \
	    -e 's|^max_log_file_action.*|max_log_file_action = IGNORE|' \
	    /etc/audit/auditd.conf >"$tmp/audit/auditd.conf"
	chmod 640 "$tmp/audit/auditd.conf"
	: >"$tmp/audit/audit.log"
	auditctl -D >/dev/null
	auditd -c "$tmp/audit" || { why[auditd]="auditd did not start"; return 1; }
	wait_for 30 eval 'auditd_pid=$(pidof auditd)' ||
		{ why[auditd]="auditd exited"; return 1; }
	# Debian's default backlog (audit.rules), then the bench rules
	auditctl -b 8192 >/dev/null
	auditctl -a always,exit -F arch=b64 -S execve -S connect -S accept \
		-S accept4 -k bench >/dev/null
	wait_for "$start_timeout" probe_exec "$tmp/audit/audit.log" ||
		{ why[auditd]="no execve records in the log"; return 1; }
}
stop_auditd() {
	[ -n "$auditd_pid" ] || return 0
	auditctl -D >/dev/null
	kill_wait "$auditd_pid"
	auditd_pid=
	# Once audit was enabled, every new task gets an audit context (and
	# the syscall slow path) unless a task rule says never: keep the
	# other modes free of auditd's cost.
	auditctl -e 0 >/dev/null
	auditctl -a never,task >/dev/null
}

# ---- procconn: proc connector + /proc reads (processes only) --------------
procconn_pid=
start_procconn() {
	"$tools/procconn" --output "$tmp/procconn.out" 2>"$tmp/procconn.err" &
	procconn_pid=$!
	wait_for "$start_timeout" probe_exec "$tmp/procconn.out" ||
		{ why[procconn]="no exec events: $(cat "$tmp/procconn.err")"; return 1; }
}
stop_procconn() {
	[ -n "$procconn_pid" ] || return 0
	kill_wait "$procconn_pid"
	procconn_pid=
}

# ---- bcc: execsnoop + tcpconnect + tcpaccept together ---------------------
bcc_pids=
bcc_ready() {
	probe_exec "$tmp/execsnoop.out" || return 1
	"$tools/loadgen" connect 1 >/dev/null
	sleep 0.3
	grep -qs loadgen "$tmp/tcpconnect.out" && grep -qs loadgen "$tmp/tcpaccept.out"
}
start_bcc() {
	local t
	bcc_pids=
	for t in execsnoop tcpconnect tcpaccept; do
		: >"$tmp/$t.out"
		PYTHONUNBUFFERED=1 "$t-bpfcc" >"$tmp/$t.out" 2>"$tmp/$t.err" &
		bcc_pids="$bcc_pids $!"
	done
	wait_for "$start_timeout" bcc_ready ||
		{ why[bcc]="not capturing after ${start_timeout}s: $(cat "$tmp"/exec*.err "$tmp"/tcp*.err | tail -n 3 | tr '\n' ' ')"; return 1; }
}
stop_bcc() {
	[ -n "$bcc_pids" ] || return 0
	# SIGINT: the tools end their loop on KeyboardInterrupt
	kill -INT $bcc_pids 2>/dev/null || true
	# shellcheck disable=SC2086
	kill_wait $bcc_pids
	bcc_pids=
}

# ---- sysdig with the Falco kernel module ----------------------------------
sysdig_pid=
sysdig_ready() {
	# capturing once it holds a ring of every CPU open
	[ "$(ls -l "/proc/$sysdig_pid/fd" 2>/dev/null | grep -c /dev/scap)" -ge "$(nproc)" ]
}
start_sysdig() {	# start_sysdig [--unbuffered]
	[ -f "$scap_ko" ] || { why[sysdig]="no $scap_ko (falcosecurity-scap-dkms not built for $(uname -r))"; return 1; }
	if ! grep -q '^scap ' /proc/modules; then
		insmod "$scap_ko" || { why[sysdig]="insmod scap.ko failed"; return 1; }
	fi
	sysdig ${1:-} -p '%evt.type|%proc.pid|%proc.exepath|%proc.exe|%proc.args' \
		'evt.type in (execve,connect,accept,accept4) and evt.dir=<' \
		>"$tmp/sysdig.out" 2>"$tmp/sysdig.err" &
	sysdig_pid=$!
	wait_for "$start_timeout" sysdig_ready ||
		{ why[sysdig]="sysdig did not open the scap devices: $(tail -n 2 "$tmp/sysdig.err" | tr '\n' ' ')"; return 1; }
}
stop_sysdig() {
	if [ -n "$sysdig_pid" ]; then
		kill_wait "$sysdig_pid"
		sysdig_pid=
	fi
	if grep -q '^scap ' /proc/modules; then rmmod scap; fi
}

start_base() { :; }
stop_base() { :; }

# ---- the local broker, up for every mode (idle when iotsec is off) --------
cat >"$tmp/mosquitto.conf" <<EOC
listener 1883 127.0.0.1
allow_anonymous true
persistence false
EOC
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker=$!
wait_for 20 eval "mosquitto_pub -h 127.0.0.1 -t probe -m x 2>/dev/null" ||
	{ echo "peers: mosquitto did not start" >&2; cat "$tmp/mosquitto.log" >&2; exit 1; }

ncpu=$(nproc)
echo "# peers benchmark: $(uname -r), $ncpu CPUs, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB; modes: base $peers"
echo "# versions: auditd $(dpkg-query -W -f='${Version}' auditd 2>/dev/null), bpfcc-tools $(dpkg-query -W -f='${Version}' bpfcc-tools 2>/dev/null), sysdig $(dpkg-query -W -f='${Version}' sysdig 2>/dev/null), scap $(dpkg-query -W -f='${Version}' falcosecurity-scap-dkms 2>/dev/null), iotsec $(cd "$top" && git describe --always --dirty 2>/dev/null || echo ?)"

# ---- phase 1: start-up and capture completeness ---------------------------
count_args() {	# the collector's output files and parser format
	case $1 in
	iotsec) echo "iotsec $tmp/sub.log" ;;
	auditd) echo "auditd $tmp/audit/audit.log" ;;
	procconn) echo "procconn $tmp/procconn.out" ;;
	bcc) echo "execsnoop $tmp/execsnoop.out" ;;
	sysdig) echo "sysdig $tmp/sysdig.out" ;;
	esac
}

echo "# phase 1: start-up and $nshort short processes per spawner"
: >"$tmp/complete"
: >"$tmp/notes"
running=()
for m in $peers; do
	if [ "$m" = iotsec ]; then
		: >"$tmp/sub.log"
		mosquitto_sub -h 127.0.0.1 -q 1 -v -t 'iotsec/#' >"$tmp/sub.log" 2>&1 &
		sub=$!
		wait_for 20 eval "mosquitto_pub -h 127.0.0.1 -t iotsec/probe -m probe && grep -q '^iotsec/probe probe' $tmp/sub.log" ||
			{ echo "peers: mosquitto_sub did not subscribe" >&2; exit 1; }
	fi
	t0=$(now)
	# sysdig unbuffered here, to see when it has caught up
	if ! "start_$m" --unbuffered; then
		log "$m: could not run: ${why[$m]}"
		"stop_$m" || true
		continue
	fi
	startup[$m]=$(elapsed "$t0")
	echo "${startup[$m]}" >>"$tmp/start.$m"
	log "$m: capturing after ${startup[$m]} s"
	running+=("$m")
	tag_c=c$RANDOM$RANDOM tag_s=s$RANDOM$RANDOM
	"$tools/shortproc" "$nshort" "$tag_c" >/dev/null
	# from a shell: bash forks, the child execs (strings on bash's heap)
	(
		for ((i = 0; i < nshort; i++)); do
			/bin/true "arg-$i-$tag_s" "--n=$i" "last-$tag_s" &
		done
		wait
	)
	read -r fmt files <<<"$(count_args "$m")"
	printf 'last-%s\n' "$tag_c" "$tag_s" >"$tmp/pat"
	# shellcheck disable=SC2086
	settle "$tmp/pat" $files
	"stop_$m"
	if [ "$m" = iotsec ]; then
		# iotsecd flushed on SIGTERM; let the subscriber take it all
		settle "$tmp/pat" "$tmp/sub.log"
		kill_wait "$sub"
		sub=
	fi
	for sp in C:$tag_c shell:$tag_s; do
		# shellcheck disable=SC2086
		res=$(python3 "$top/tests/bench/peers-count.py" "$fmt" "${sp#*:}" "$nshort" $files)
		echo "$m ${startup[$m]} ${sp%%:*} $res" >>"$tmp/complete"
		log "$m ${sp%%:*}: $res"
	done
	# shellcheck disable=SC2086
	cp $files "$tmp"/*.err "$logs/" 2>/dev/null || true
	note="$m: -"
	case $m in
	procconn) note="procconn: $(tail -n 1 "$tmp/procconn.err") (exec events whose /proc entries were gone: unreadable)" ;;
	bcc) note="bcc: $(cat "$tmp"/exec*.err "$tmp"/tcp*.err | grep -i lost | sort | uniq -c | head -n 3 | tr '\n' ' ')" ;;
	iotsec) note="iotsec: $(grep -o '"KernelGenerated":"[0-9]*","KernelDropped":"[0-9]*","KernelLost":"[0-9]*"' "$tmp/sub.log" | tail -n 1 | tr -d '"')" ;;
	auditd) note="auditd: $(grep -c '^type=EXECVE' "$tmp/audit/audit.log" || true) EXECVE records, $(auditctl -s | grep -E '^lost' | tr '\n' ' ')" ;;
	sysdig) note="sysdig: $(grep -ci drop "$tmp/sysdig.err" || true) lines about drops on stderr" ;;
	esac
	log "$note"
	echo "$note" >>"$tmp/notes"
done

# ---- phase 2: overhead ---------------------------------------------------

modes=(base "${running[@]}")
echo "# phase 2: overhead, $rounds rounds of: ${modes[*]}"
echo "# loops: exec ${N[exec]} x fork+exec /bin/true; connect ${N[connect]} x TCP connect+accept on 127.0.0.1; open ${N[open]} x open(O_WRONLY)+close of unwatched files"
for l in $loops; do "$tools/loadgen" "$l" $((N[$l] / 4)) >/dev/null; done
failed=()
nm=${#modes[@]}
for r in $(seq 1 "$rounds"); do
	for k in $(seq 0 $((nm - 1))); do
		m=${modes[$(((k + r - 1) % nm))]}
		case " ${failed[*]} " in *" $m "*) continue ;; esac
		t0=$(now)
		if ! "start_$m"; then
			log "$m: could not start in round $r: ${why[$m]}"
			"stop_$m" || true
			failed+=("$m")
			continue
		fi
		[ "$m" = base ] || elapsed "$t0" >>"$tmp/start.$m"
		run_loops "$m" "$r"
		"stop_$m"
	done
done

# ---- the table --------------------------------------------------------------
ratio() {	# ratio MODE LOOP: "median per-round ratio / fastest-run ratio"
	local b=$tmp/base.$2 x=$tmp/$1.$2
	if [ ! -s "$x" ] || [ "$(wc -l <"$x")" != "$(wc -l <"$b")" ]; then
		echo "-"
		return
	fi
	paste "$b" "$x" | awk '{ print $2 / $1 }' >"$tmp/r"
	awk -v r="$(median "$tmp/r")" -v a="$(minimum "$b")" -v b="$(minimum "$x")" \
		'BEGIN { printf "%.2f / %.2f", r, b / a }'
}

{
	echo "iotsec vs peers, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r) guest, $ncpu vCPUs"
	echo
	echo "1. overhead: $rounds rounds, modes rotating; cell = median of the per-round"
	echo "   ratios to base / ratio of the fastest runs (1.00 = no overhead)"
	printf '%-8s %-6s %9s' loop n "base (s)"
	for m in "${running[@]}"; do printf '  %-13s' "$m"; done
	echo
	for l in $loops; do
		printf '%-8s %-6d %9.3f' "$l" "${N[$l]}" "$(median "$tmp/base.$l")"
		for m in "${running[@]}"; do printf '  %-13s' "$(ratio "$m" "$l")"; done
		echo
	done
	echo
	echo "2. capture of $nshort short processes per spawner (/bin/true arg-<i>-<tag> --n=<i> last-<tag>):"
	echo "   reported = events of those processes; exe = a path naming /usr/bin/true"
	echo "   (exact: the string /usr/bin/true); argv = all four arguments exact;"
	echo "   complete = exe and argv right"
	printf '%-9s %-8s %8s %5s %6s %5s %9s\n' tool spawner reported exe exact argv complete
	while read -r m st sp rep exe exact argv comp; do
		printf '%-9s %-8s %8s %5s %6s %5s %9s\n' "$m" "$sp" "$rep" "$exe" "$exact" "$argv" "$comp/$nshort"
	done <"$tmp/complete"
	echo
	echo "3. start-up until capturing (s): median over the starts, (min-max, starts); not in the loop times"
	for m in "${running[@]}"; do
		printf '%-9s %8.1f  (%s-%s, %d)\n' "$m" "$(median "$tmp/start.$m")" \
			"$(minimum "$tmp/start.$m")" "$(sort -g "$tmp/start.$m" | tail -n 1)" "$(wc -l <"$tmp/start.$m")"
	done
	echo
	echo "notes from phase 1:"
	sed 's/^/  /' "$tmp/notes"
	for m in $peers; do
		if [ -n "${why[$m]:-}" ]; then
			echo
			echo "could not run: $m: ${why[$m]}"
		fi
	done
	[ "${#failed[@]}" = 0 ] || echo "stopped starting in phase 2: ${failed[*]}"
	echo
	echo "procconn reports processes only (no connect/accept); it ran in every loop anyway."
} >"$tmp/table"

cp "$tmp/table" "$out/peers.txt"
# in the lab, make prints it
[ -n "${LAB:-}" ] || { echo; cat "$tmp/table"; }
