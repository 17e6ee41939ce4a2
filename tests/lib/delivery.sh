# SPDX-License-Identifier: MIT
#
# What the delivery tests (tests/host/delivery-*.sh) share, on top of
# broker.sh: iotsecd's configuration, a numbered event stream through the
# SDK, and counting what the receiver got.
#
#   sdk-stream --SDK socket--> iotsecd --spool DIR--> mosquitto --> mosquitto_sub
#   (TMP/NAME.acked: what                (TMP/d.stats)              (TMP/r.recv)
#    the daemon accepted)
#
#   write_config FILE PORT SPOOL_PATH SPOOL_SIZE [YAML...]: broker mode on
#       127.0.0.1:PORT, topic iotsec/{device_id}/{type}/{message_id}, SDK
#       socket TMP/sdk.sock (rate 2000/s), no logins, no snapshots,
#       statistics every 1h (so: once, at SIGTERM); each YAML argument
#       is one more top-level section (replacing the default one; a hub
#       section replaces the broker one)
#   stream_start NAME RATE [sdk-stream ARGS]: events Test.Seq with Run
#       NAME, accepted numbers into TMP/NAME.acked; stream_stop NAME
#   acked_n NAME: how many the daemon accepted so far
#   count NAME [count-delivery.py ARGS]: TMP/r.recv counted against
#       TMP/NAME.acked into TMP/NAME.count; val NAME KEY: one of its values
#   delivered NAME: every accepted number arrived (for wait_for)
#   spool_seqs DIR NAME: the numbers of run NAME in the whole, valid records
#       of DIR's segment files (spool-records.py), one a line
#   delivery_begin FILE [MISSING]: the TAP header; the whole file is skipped
#       (exit 0) when a tool (need_tools, or MISSING) is not there
#   delivery_broker TOPIC [broker_start ARGS]: broker b and a receiver r on
#       TOPIC, or the file fails (exit 1)

. "$(dirname "${BASH_SOURCE[0]}")/broker.sh"

STREAM=$BUILD/tools/sdk-stream
COUNT=$TOP/tests/lib/count-delivery.py
RECORDS=$TOP/tests/lib/spool-records.py
AGENT_ID=9c647395-b913-4997-a732-a7fe7303b649
SOCK=$TMP/sdk.sock

need_tools() {
	local m=""
	[ -x "$BIN/iotsecd" ] || m="$m iotsecd"
	[ -x "$STREAM" ] || m="$m build/tools/sdk-stream (make tests)"
	command -v mosquitto >/dev/null || m="$m mosquitto"
	command -v mosquitto_sub >/dev/null || m="$m mosquitto_sub"
	command -v python3 >/dev/null || m="$m python3"
	command -v ss >/dev/null || m="$m ss"
	echo "$m"
}

delivery_begin() {
	local missing
	echo "TAP version 13"
	missing="$(need_tools)${2:-}"
	[ -z "$missing" ] && return 0
	skip "$1" "missing:$missing"
	done_testing
	exit 0
}

delivery_broker() {
	local topic=$1
	shift
	broker_start b "$@" && receiver_start r "$b_PORT" "$topic" && return 0
	not_ok broker_and_receiver_start
	tail -n 5 "$TMP/b.log" "$TMP/r.recv" | sed 's/^/# /'
	done_testing
	exit 1
}

write_config() {
	local file=$1 port=$2 spath=$3 ssize=$4 sec
	shift 4
	{
		echo "agent:"
		echo "  id: $AGENT_ID"
		has_section broker "$@" || has_section hub "$@" || {
			echo "broker:"
			echo "  host: 127.0.0.1"
			echo "  port: $port"
			echo "  device_id: dtest"
			echo "  topic: \"iotsec/{device_id}/{type}/{message_id}\""
		}
		has_section messages "$@" || {
			echo "messages:"
			echo "  statistics: 1h"
		}
		has_section sdk "$@" || {
			echo "sdk:"
			echo "  socket: $SOCK"
			echo "  rate: 2000"
			echo "  burst: 2000"
		}
		has_section logins "$@" || {
			echo "logins:"
			echo "  enabled: false"
		}
		echo "snapshots:"
		echo "  interval: 0s"
		has_section spool "$@" || {
			echo "spool:"
			echo "  path: \"$spath\""
			echo "  size: $ssize"
			echo "  sync: 1s"
			# the SDK stream stands in for all traffic here
			echo "  local_share: 100"
		}
		has_section local "$@" || {
			echo "local:"
			echo "  rate: 100000"
			echo "  burst: 100000"
		}
		for sec in "$@"; do
			printf '%s\n' "$sec"
		done
	} >"$file"
}

has_section() {
	local name=$1 sec
	shift
	for sec in "$@"; do
		case $sec in "$name:"*) return 0 ;; esac
	done
	return 1
}

stream_start() {
	local name=$1 rate=$2
	shift 2
	: >"$TMP/$name.acked"
	"$STREAM" -s "$SOCK" -r "$rate" -t "$name" -a "$TMP/$name.acked" "$@" \
		>"$TMP/$name.summary" 2>&1 &
	eval "${name}_SPID=$!"
	PIDS="$PIDS $!"
	STREAMS="${STREAMS:-} $name"
}

stream_stop() {
	local pid
	eval "pid=\${${1}_SPID:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid_forget "$pid"
	eval "${1}_SPID="
}

acked_n() { grep -c '^[0-9]*$' "$TMP/$1.acked" 2>/dev/null; }
acked_at_least() { [ "$(acked_n "$1")" -ge "$2" ]; }

count() {
	local name=$1
	shift
	python3 "$COUNT" "$TMP/r.recv" --acked "$TMP/$name.acked" \
		--run "$name" "$@" >"$TMP/$name.count"
}

val() { sed -n "s/^$2=//p" "$TMP/$1.count"; }

delivered() { count "$1" && [ "$(val "$1" missing)" = 0 ]; }

spool_seqs() {
	python3 "$RECORDS" "$1" "$2" | awk '$3 != "bad" && $9 != "-" { print $9 }' |
		tr , '\n' | sort -nu
}

# summary NAME: the stream's own summary line (sent/accepted/refused...)
summary() { cat "$TMP/$1.summary" 2>/dev/null; }

# expect DESCRIPTION CMD...: CMD must succeed, else say what was expected.
expect() {
	local what=$1
	shift
	"$@" && return 0
	echo "expected: $what"
	return 1
}

# sampler_start NAME STATS: a copy of the stats file every 0.3 s, one a
# line, into TMP/NAME.samples (the maxima of a run); sampler_stop NAME.
sampler_start() {
	: >"$TMP/$1.samples"
	( while :; do
		cat "$2" 2>/dev/null >>"$TMP/$1.samples"
		sleep 0.3
	  done ) &
	eval "${1}_SAMPLER=$!"
	PIDS="$PIDS $!"
}
sampler_stop() {
	local pid
	eval "pid=\${${1}_SAMPLER:-}"
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid_forget "$pid"
}
# sample_max NAME KEY.KEY: the largest value KEY had in the samples.
sample_max() {
	python3 - "$TMP/$1.samples" "$2" <<'PY'
import json, sys
best = 0
for line in open(sys.argv[1]):
    try:
        v = json.loads(line)
        for k in sys.argv[2].split("."):
            v = v[k]
        best = max(best, int(v))
    except Exception:
        pass
print(best)
PY
}

# fresh BROKER: a clean start for the next test: the streams and daemons
# a failed test left are stopped, the broker runs.
fresh() {
	local n pid
	for n in ${STREAMS:-}; do stream_stop "$n"; done
	for n in ${DAEMONS:-}; do iotsecd_stop "$n"; done
	STREAMS= DAEMONS=
	eval "pid=\${${1}_PID:-}"
	[ -n "$pid" ] || broker_restart "$1"
}

# iotsecd_stop_stats NAME: SIGTERM, and wait (15 s at most) until the
# DroppedEventsStatistics it publishes on the way out reached the receiver
# (so that count reads that one).
stats_msgs() { grep -c '"Name":"DroppedEventsStatistics"' "$TMP/r.recv"; }
more_stats() { [ "$(stats_msgs)" -gt "$1" ]; }
iotsecd_stop_stats() {
	local n0
	n0=$(stats_msgs)
	iotsecd_stop "$1"
	wait_for 15 more_stats "$n0"
}
