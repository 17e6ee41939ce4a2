# SPDX-License-Identifier: MIT
#
# Shell helpers for end-to-end tests with a real mosquitto and a real
# iotsecd on loopback. Source it (bash); it sets TOP, BUILD, BIN (the
# sanitizer build of iotsecd when there is one), TMP (/tmp/$TMP_NAME.*,
# default iotsec-e2e) and a cleanup trap.
#
#   TAP        ok NAME, not_ok NAME [COMMENT...], skip NAME WHY, note TEXT,
#              check NAME FN [ARGS...], done_testing
#   waiting    wait_for SECONDS CMD... (tests/lib/wait.sh: a deadline, never
#              a fixed sleep)
#   broker     broker_start NAME [GLOBAL_CONF [TLS_CONF [TLS_PORT]]]:
#              mosquitto on a free loopback port (${NAME}_PORT), plus a
#              second listener (${NAME}_TLS_PORT: TLS_PORT, else a free
#              one) with the lines of the file TLS_CONF when given (see
#              tls_conf); GLOBAL_CONF: more lines for the top (a plugin,
#              "" for none); persistence in TMP so that a restart
#              keeps the receiver's session; broker_stop
#              NAME (SIGTERM, port free again); broker_restart NAME (same
#              port, same sessions); log in TMP/NAME.log;
#              tls_conf CERTDIR [LINE...]: the lines for TLS_CONF with the
#              certificates of scripts/gen-certs.sh CERTDIR, then LINEs
#   receiver   receiver_start NAME PORT TOPIC: mosquitto_sub -v with a
#              persistent session (clean session off, QoS 1) into
#              TMP/NAME.recv: messages published while it is away (broker
#              restart) wait for it in the broker; receiver_stop NAME
#   iotsecd    iotsecd_start NAME CONFIG [ARGS...]: BIN/iotsecd -f in the
#              background, log TMP/NAME.log, stats TMP/NAME.stats
#              (${NAME}_DPID); iotsecd_stop NAME [SIGNAL]
#   stats      stat_get FILE KEY.KEY...: one field of a JSON file ("" when
#              missing)
#
# Everything the helpers start is stopped on exit; TMP is removed when
# every test passed (KEEP_TMP=1 keeps it).

TOP=${IOTSEC_TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
BUILD=${IOTSEC_BUILD:-$TOP/build}
BIN=$BUILD
[ -x "$BUILD/san/iotsecd" ] && BIN=$BUILD/san
TMP=$(mktemp -d "/tmp/${TMP_NAME:-iotsec-e2e}.XXXXXX")
chmod 755 "$TMP"	# the broker drops to the mosquitto user
PIDS=""
tap_n=0
tap_fail=0

cleanup() {
	local p
	set +e	# a test with set -e: clean up all the same
	for p in $PIDS; do
		kill "$p" 2>/dev/null
		kill -CONT "$p" 2>/dev/null	# a stopped one too
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	[ -n "${CLEANUP_HOOK:-}" ] && $CLEANUP_HOOK
	if [ "$tap_fail" = 0 ] && [ -z "${KEEP_TMP:-}" ]; then
		rm -rf "$TMP"
	else
		echo "# kept $TMP"
	fi
}
trap cleanup EXIT
trap 'exit 143' TERM	# a timeout: clean up all the same
trap 'exit 130' INT

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n $1"; }
not_ok() {
	tap_n=$((tap_n + 1)) tap_fail=$((tap_fail + 1))
	echo "not ok $tap_n $1"
	shift
	local line
	for line in "$@"; do echo "# $line"; done
}
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n $1 # SKIP $2"; }
note() { echo "# $*"; }
# check NAME FN [ARGS...]: one TAP line from FN's status; FN runs in this
# shell (so what it starts is cleaned up) with its output in TMP/NAME.out,
# whose "# " lines are always shown (measurements) and whose last lines
# are shown on failure.
check() {
	local name=$1
	shift
	if "$@" >"$TMP/$name.out" 2>&1; then
		ok "$name"
		grep '^# ' "$TMP/$name.out"
	else
		not_ok "$name"
		grep '^# ' "$TMP/$name.out"
		grep -v '^# ' "$TMP/$name.out" | tail -n 25 | sed 's/^/#   /'
	fi
}
done_testing() {
	echo "1..$tap_n"
	[ "$tap_fail" = 0 ]
}

# wait_for SECONDS CMD...
. "$(dirname "${BASH_SOURCE[0]}")/wait.sh"

# (no pipe into grep -q: a caller's pipefail would see ss's SIGPIPE)
listening() { [ -n "$(ss -Htln "sport = :$1")" ]; }
not_listening() { ! listening "$1"; }

# A TCP port nobody listens on at 127.0.0.1.
free_port() {
	local p
	while :; do
		p=$(( (RANDOM << 8 | RANDOM) % 30000 + 20000 ))
		not_listening "$p" && { echo "$p"; return; }
	done
}

pid_forget() { PIDS=$(echo " $PIDS " | sed "s/ $1 / /"); }

# ---- mosquitto -----------------------------------------------------------

broker_start() {
	local name=$1 extra=${2:-} tls=${3:-} tport=${4:-} try port
	mkdir -p "$TMP/$name.db"
	chmod 777 "$TMP/$name.db"
	for try in 1 2 3; do
		port=$(free_port)
		[ -n "${4:-}" ] || tport=$(free_port)
		eval "${name}_PORT=$port ${name}_TLS_PORT="
		{
			echo "per_listener_settings false"
			echo "allow_anonymous true"
			echo "persistence true"
			echo "persistence_location $TMP/$name.db/"
			echo "autosave_interval 0"
			echo "max_queued_messages 0"
			echo "max_queued_bytes 0"
			echo "max_inflight_messages 0"
			echo "message_size_limit 0"
			echo "log_dest stdout"
			echo "log_type error"
			echo "log_type warning"
			echo "log_type notice"
			echo "log_type information"
			echo "connection_messages true"
			echo "log_timestamp_format %H:%M:%S"
			[ -n "$extra" ] && cat "$extra"
			echo "listener $port 127.0.0.1"
			if [ -n "$tls" ]; then
				echo "listener $tport 127.0.0.1"
				cat "$tls"
				eval "${name}_TLS_PORT=$tport"
			fi
		} >"$TMP/$name.conf"
		broker_run "$name" && return 0
		broker_stop "$name"
	done
	return 1
}

broker_run() {
	local name=$1 pid port
	eval "port=\$${name}_PORT"
	echo "--- start $(date +%T)" >>"$TMP/$name.log"
	stdbuf -oL mosquitto -c "$TMP/$name.conf" >>"$TMP/$name.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	eval "${name}_PID=$pid"
	wait_for 15 listening "$port" && kill -0 "$pid" 2>/dev/null || return 1
	eval "port=\${${name}_TLS_PORT:-}"
	[ -z "$port" ] || wait_for 15 listening "$port"
}

broker_stop() {
	local name=$1 pid port
	eval "pid=\${${name}_PID:-}; port=\$${name}_PORT"
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	pid_forget "$pid"
	eval "${name}_PID="
	echo "--- stopped $(date +%T)" >>"$TMP/$name.log"
	wait_for 15 not_listening "$port" || return 1
	eval "port=\${${name}_TLS_PORT:-}"
	[ -z "$port" ] || wait_for 15 not_listening "$port"
}

broker_restart() { broker_run "$1"; }

tls_conf() {
	echo "cafile $1/ca.pem"
	echo "certfile $1/server.pem"
	echo "keyfile $1/server.key"
	shift
	[ $# = 0 ] || printf '%s\n' "$@"
}

# ---- receiver --------------------------------------------------------------

receiver_start() {
	local name=$1 port=$2 topic=$3
	: >"$TMP/$name.recv"
	stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -t "$topic" -v -q 1 \
		-c -i "recv-$name-$$" -d >>"$TMP/$name.recv" 2>&1 &
	eval "${name}_RPID=$!"
	PIDS="$PIDS $!"
	wait_for 15 grep -q SUBACK "$TMP/$name.recv"
}

receiver_stop() {
	local pid
	eval "pid=\${${1}_RPID:-}"
	[ -n "$pid" ] || return 0
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
	pid_forget "$pid"
	eval "${1}_RPID="
}

# ---- iotsecd --------------------------------------------------------------

# feed_rounds_start REC: $TMP/feed, a FIFO for iotsecd --replay that gets
# REC's header now and its batches again at each $TMP/go.N (until
# $TMP/stop; tests/lib/feed-rounds.py).
feed_rounds_start() {
	mkfifo "$TMP/feed" || return 1
	python3 "$TOP/tests/lib/feed-rounds.py" "$1" "$TMP" >"$TMP/feed" &
	PIDS="$PIDS $!"
}

iotsecd_start() {
	local name=$1 cfg=$2
	shift 2
	echo "--- start $(date +%T.%N)" >>"$TMP/$name.log"
	"$BIN/iotsecd" -f -c "$cfg" --stats-file "$TMP/$name.stats" "$@" \
		2>>"$TMP/$name.log" &
	eval "${name}_DPID=$!"
	PIDS="$PIDS $!"
	DAEMONS="${DAEMONS:-} $name"
}

# iotsecd_stop NAME [SIGNAL]: the exit status is in IOTSECD_RC.
iotsecd_stop() {
	local pid sig=${2:-TERM}
	eval "pid=\${${1}_DPID:-}"
	IOTSECD_RC=
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null
	IOTSECD_RC=0
	wait "$pid" 2>/dev/null || IOTSECD_RC=$?
	pid_forget "$pid"
	eval "${1}_DPID="
	echo "--- stopped ($sig, status $IOTSECD_RC) $(date +%T.%N)" >>"$TMP/$1.log"
}

alive() { kill -0 "$1" 2>/dev/null; }

# stat_get FILE KEY.KEY...: a field of a JSON file, "" when missing.
stat_get() {
	python3 - "$1" "$2" <<'PY' 2>/dev/null
import json, sys
try:
    v = json.load(open(sys.argv[1]))
    for k in sys.argv[2].split("."):
        v = v[int(k)] if isinstance(v, list) else v[k]
    print(json.dumps(v) if isinstance(v, (dict, list)) else
          str(v).lower() if isinstance(v, bool) else v)
except Exception:
    print("")
PY
}

# stat_ge FILE KEY N: the field is a number >= N.
stat_ge() {
	local v
	v=$(stat_get "$1" "$2")
	[ -n "$v" ] && [ "$v" -ge "$3" ] 2>/dev/null
}

# dpid NAME: the pid of iotsecd_start NAME ("" when stopped).
dpid() { eval "echo \${${1}_DPID:-}"; }
