# SPDX-License-Identifier: MIT
#
# Shell helpers for the MQTT tests: those of tests/lib/broker.sh (TOP,
# BUILD, TMP and its cleanup, TAP, wait_for, free_port, listening), and a
# mosquitto of the test's own with TLS listeners and the sas_auth plugin.
# Source it (bash).
TMP_NAME=iotsec-mqtt
. "$(dirname "${BASH_SOURCE[0]}")/../lib/broker.sh"
PUB=$BUILD/tools/mqtt-pub
PLUGIN=$BUILD/tools/sas_auth.so

# need_mqtt_tools NAME: without mqtt-pub, the plugin or mosquitto, the
# whole test NAME is one skip, and it ends here.
need_mqtt_tools() {
	[ -x "$PUB" ] && [ -f "$PLUGIN" ] && command -v mosquitto >/dev/null &&
		return 0
	skip "$1" "build/tools or mosquitto missing (make mqtt-tools)"
	done_testing
	exit 0
}

# start_broker NAME CERTDIR KEY: mosquitto with three loopback listeners:
#   $NAME_TLS_CERT_PORT  TLS, client certificate required
#   $NAME_TLS_PORT       TLS, SAS tokens checked by the sas_auth plugin
#   $NAME_PLAIN_PORT     plain, for the test's own subscriber
# Logs: $TMP/NAME.log (verbose), $TMP/NAME.auth (one line per CONNECT).
# Broker-mode user "agent", password "s3cret pass".
start_broker() {
	name=$1 certs=$2 key=$3 try=0
	while :; do
		start_broker_once "$@" && return 0
		# Someone took a port between our look and mosquitto's bind.
		try=$((try + 1))
		[ "$try" -lt 3 ] || return 1
		stop_broker "$name"
	done
}

start_broker_once() {
	name=$1 certs=$2 key=$3
	p1=$(free_port); p2=$(free_port); p3=$(free_port)
	# The broker drops to the mosquitto user, who may not reach BUILD.
	# One copy per broker: rewriting a library a broker runs crashes it.
	plugin=$TMP/$name-sas_auth.so
	[ -f "$plugin" ] || install -m 644 "$PLUGIN" "$plugin" || return 1
	: >"$TMP/$name.auth"
	chmod 666 "$TMP/$name.auth"
	cat >"$TMP/$name.conf" <<CONF
per_listener_settings false
allow_anonymous true
persistence false
log_dest stdout
log_type all
connection_messages true
plugin $plugin
plugin_opt_key $key
plugin_opt_log $TMP/$name.auth
plugin_opt_user agent:s3cret pass

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

# run_broker NAME: (re)start the broker of start_broker NAME, same ports;
# ready when it logged "running" once more and every port listens.
running() { [ "$(grep -c ' running$' "$TMP/$1.log" 2>/dev/null)" -gt "$2" ]; }
alive_and_running() { kill -0 "$1" 2>/dev/null && running "$2" "$3"; }
run_broker() {
	before=$(grep -c ' running$' "$TMP/$1.log" 2>/dev/null)
	stdbuf -oL mosquitto -c "$TMP/$1.conf" >>"$TMP/$1.log" 2>&1 &
	pid=$!
	PIDS="$PIDS $pid"
	eval "${1}_PID=$pid"
	if ! wait_for 10 alive_and_running "$pid" "$1" "${before:-0}"; then
		echo "# mosquitto did not start:"
		tail -n 5 "$TMP/$1.log" | sed 's/^/# /'
		return 1
	fi
	for port in $(sed -n 's/^listener \([0-9]*\) .*/\1/p' "$TMP/$1.conf"); do
		wait_for 5 listening "$port" || return 1
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

# subscribe NAME PORT TOPIC COUNT: mosquitto_sub -v in the background into
# $TMP/NAME.sub, stopping after COUNT messages; waits until subscribed.
subscribe() {
	: >"$TMP/$1.sub"
	stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$2" -t "$3" -v -C "$4" -W 60 \
		-i "sub-$1-$$" -d >"$TMP/$1.sub" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 10 grep -q SUBACK "$TMP/$1.sub"
}
