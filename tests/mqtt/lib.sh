# SPDX-License-Identifier: MIT
#
# Shell helpers for the MQTT tests: TAP output, a free loopback port, a
# mosquitto of the test's own with TLS listeners and the sas_auth plugin.
# Source it; it sets TOP, BUILD, TMP and a cleanup trap.

TOP=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${IOTSEC_BUILD:-$TOP/build}
PUB=$BUILD/tools/mqtt-pub
PLUGIN=$BUILD/tools/sas_auth.so
TMP=$(mktemp -d /tmp/iotsec-mqtt.XXXXXX)
chmod 755 "$TMP"	# the broker runs as the mosquitto user
PIDS=""
tap_n=0
tap_fail=0

cleanup() {
	for p in $PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $PIDS; do
		wait "$p" 2>/dev/null
	done
	if [ "$tap_fail" = 0 ] && [ -z "${KEEP_TMP:-}" ]; then
		rm -rf "$TMP"
	else
		echo "# kept $TMP"
	fi
}
trap cleanup EXIT

ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n $1"; }
not_ok() {
	tap_n=$((tap_n + 1)) tap_fail=$((tap_fail + 1))
	echo "not ok $tap_n $1"
	shift
	for line in "$@"; do echo "# $line"; done
}
skip() { tap_n=$((tap_n + 1)); echo "ok $tap_n $1 # SKIP $2"; }
# check NAME CMD...: one TAP line from CMD's status; its output on failure.
# CMD runs in this shell, so the servers it starts are cleaned up too.
check() {
	name=$1
	shift
	if "$@" >"$TMP/check.out" 2>&1; then
		ok "$name"
	else
		not_ok "$name"
		tail -n 20 "$TMP/check.out" | sed 's/^/# /'
	fi
}
done_testing() {
	echo "1..$tap_n"
	[ "$tap_fail" = 0 ]
}

# A TCP port nobody listens on at 127.0.0.1.
free_port() {
	while :; do
		p=$(( (RANDOM << 8 | RANDOM) % 30000 + 20000 ))
		ss -Htln "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return; }
	done
}

# wait_for SECONDS CMD...: poll CMD every 0.1 s until it succeeds.
wait_for() {
	t=$(( $1 * 10 ))
	shift
	while [ "$t" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		t=$((t - 1))
	done
	return 1
}

listening() { ss -Htln "sport = :$1" | grep -q .; }

# start_broker NAME CERTDIR KEY: mosquitto with three loopback listeners:
#   $NAME_TLS_CERT_PORT  TLS, client certificate required
#   $NAME_TLS_PORT       TLS, SAS tokens checked by the sas_auth plugin
#   $NAME_PLAIN_PORT     plain, for the test's own subscriber
# Logs: $TMP/NAME.log (verbose), $TMP/NAME.auth (one line per CONNECT).
start_broker() {
	name=$1 certs=$2 key=$3
	p1=$(free_port); p2=$(free_port); p3=$(free_port)
	: >"$TMP/$name.auth"
	chmod 666 "$TMP/$name.auth"
	cat >"$TMP/$name.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
log_dest stdout
log_type all
connection_messages true
plugin $PLUGIN
plugin_opt_key $key
plugin_opt_log $TMP/$name.auth

listener $p1 127.0.0.1
cafile $certs/ca.pem
certfile $certs/server.pem
keyfile $certs/server.key
require_certificate true

listener $p2 127.0.0.1
cafile $certs/ca.pem
certfile $certs/server.pem
keyfile $certs/server.key

listener $p3 127.0.0.1
CONF
	eval "${name}_TLS_CERT_PORT=$p1 ${name}_TLS_PORT=$p2 ${name}_PLAIN_PORT=$p3"
	run_broker "$name"
}

# run_broker NAME: (re)start the broker of start_broker NAME, same ports.
run_broker() {
	stdbuf -oL mosquitto -c "$TMP/$1.conf" >>"$TMP/$1.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "${1}_PID=$!"
	for port in $(sed -n 's/^listener \([0-9]*\) .*/\1/p' "$TMP/$1.conf"); do
		if ! wait_for 10 listening "$port"; then
			echo "# mosquitto did not start:"
			sed 's/^/# /' "$TMP/$1.log"
			return 1
		fi
	done
}

# stop_broker NAME: stop it and wait until its ports are free.
stop_broker() {
	eval "pid=\$${1}_PID"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	PIDS=$(echo " $PIDS " | sed "s/ $pid / /")
	for port in $(sed -n 's/^listener \([0-9]*\) .*/\1/p' "$TMP/$1.conf"); do
		wait_for 10 not_listening "$port"
	done
}

not_listening() { ! listening "$1"; }

# subscribe NAME PORT TOPIC COUNT: mosquitto_sub -v in the background into
# $TMP/NAME.sub, stopping after COUNT messages; waits until subscribed.
subscribe() {
	: >"$TMP/$1.sub"
	stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$2" -t "$3" -v -C "$4" -W 60 \
		-i "sub-$1-$$" -d >"$TMP/$1.sub" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 10 grep -q SUBACK "$TMP/$1.sub"
}
