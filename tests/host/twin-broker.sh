#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The twin in broker mode (forwarder/transport/twin.c, no IoT Hub): the
# desired document retained on one topic, the reported one published
# (retained, QoS 1) on another, on a plain mosquitto:
#
#   twin-client -H 127.0.0.1 -d dev1 ---> mosquitto <--- mosquitto_pub -r
#     stdout: full lines                     |          iotsec-twin/dev1/desired
#     stdin: "report {...}"                  '--> mosquitto_sub
#                                               iotsec-twin/dev1/reported
#
# Cases: the retained document whole at connect, newer ones delivered,
# same or older $version ignored, a cleared (empty) one ignored, not-JSON
# refused; reported: topic, QoS 1, retained, rate limited with the last
# winning; the retained document again after a broker restart; topic
# templates from the configuration. twin-client runs with ASan/UBSan.
set -u
TMP_NAME=iotsec-twin
. "$(dirname "$0")/../lib/broker.sh"
HUB_PORT=
. "$(dirname "$0")/../mqtt/twin-lib.sh"
INTERVAL=2

[ -x "$TWIN_CLIENT" ] && command -v mosquitto >/dev/null || {
	skip twin_broker "no $TWIN_CLIENT or mosquitto (make mqtt-tools)"
	done_testing
	exit 0
}
if ! broker_start b; then
	not_ok broker_starts
	done_testing
	exit 1
fi
pub() { mosquitto_pub -h 127.0.0.1 -p "$b_PORT" -q 1 "$@"; }
# watch TOPIC NAME: every PUBLISH on TOPIC with its flags, into TMP/NAME.rx
watch() {
	: >"$TMP/$2.rx"
	stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$b_PORT" -t "$1" -q 1 -v -d \
		-i "rx-$2-$$" >>"$TMP/$2.rx" 2>&1 &
	PIDS="$PIDS $!"
	wait_for 10 grep -q SUBACK "$TMP/$2.rx"
}
rx_count() { grep -c "^$2 " "$TMP/$1.rx"; }
rx_ge() { [ "$(rx_count "$1" "$2")" -ge "$3" ]; }

DES=iotsec-twin/dev1/desired
REP=iotsec-twin/dev1/reported
pub -r -t "$DES" -m '{"exec":"On","$version":3}'
watch "$REP" rep
client_start c -H 127.0.0.1 -p "$b_PORT" -d dev1 --interval $INTERVAL -W 300

whole_at_connect() {
	wait_for 10 client_has c \
		'^full {"desired":{"exec":"On","$version":3},"reported":{}}$'
}
check retained_desired_whole_at_connect whole_at_connect

newer_only() {
	pub -r -t "$DES" -m '{"exec":"Same3","$version":3}'
	pub -r -t "$DES" -m '{"exec":"Older2","$version":2}'
	pub -r -t "$DES" -m ''
	pub -r -t "$DES" -m 'not json at all'
	pub -r -t "$DES" -m '{"exec":"Off","$version":4}'
	wait_for 10 client_has c '"exec":"Off"' || return 1
	! client_has c 'Same3\|Older2' && log_has c 'not newer than 3' &&
		log_has c "desired document on $DES refused: not JSON"
}
check newer_delivered_same_older_empty_junk_not newer_only

reported() {
	local i t0=$SECONDS
	client_say c 'report {"n":1}'
	wait_for 10 rx_ge rep "$REP" 1 || return 1
	for i in 2 3 4 5 6 7 8 9; do
		client_say c "report {\"n\":$i}"
	done
	wait_for 10 rx_ge rep "$REP" 2 || return 1
	sleep $((INTERVAL * 2))
	echo "# 9 reports in a burst: $(rx_count rep "$REP") publishes in $((SECONDS - t0)) s"
	[ "$(rx_count rep "$REP")" = 2 ] &&
		[ "$(grep "^$REP " "$TMP/rep.rx" | tail -n 1)" = "$REP {\"n\":9}" ] &&
		grep -q "received PUBLISH (d0, q1, r0, m[0-9]*, '$REP'" "$TMP/rep.rx"
}
check reported_qos1_rate_limited_last_wins reported

retained() {
	watch "$REP" late
	wait_for 10 rx_ge late "$REP" 1 &&
		grep -q "received PUBLISH (d0, q1, r1, m[0-9]*, '$REP'" "$TMP/late.rx" &&
		grep -q "^$REP {\"n\":9}" "$TMP/late.rx"
}
check reported_retained_for_a_late_reader retained

restart() {
	local n=$(client_count c full)
	broker_stop b && broker_restart b || return 1
	pub -r -t "$DES" -m '{"exec":"Off","$version":4}'
	wait_for 30 sh -c "[ \$(grep -c '^connected' '$TMP/c.out') -ge 2 ]" || return 1
	# the retained document again, whole, though its $version is known
	wait_for 10 client_count_ge c full $((n + 1))
}
check retained_desired_again_after_reconnect restart

sanitizers() {
	client_stop c
	echo "# twin-client exit status $CLIENT_RC"
	[ "$CLIENT_RC" = 0 ] && clean_log c
}
check client_exits_clean_under_sanitizers sanitizers
# the twin's PUBLISHes are acknowledged to the twin, never to the caller
check no_twin_ack_reaches_the_caller eval '! client_has c "^ack "' 

templates() {
	pub -r -t fleet/dev2/config -m '{"exec":"On","$version":1}'
	watch fleet/dev2/state st
	client_start t -H 127.0.0.1 -p "$b_PORT" -d dev2 \
		--desired-topic 'fleet/{device_id}/config' \
		--reported-topic 'fleet/{device_id}/state' -W 60
	wait_for 10 client_has t '^full {"desired":{"exec":"On"' || return 1
	client_say t 'report {"ok":true}'
	wait_for 10 rx_ge st fleet/dev2/state 1 || return 1
	client_stop t
	[ "$CLIENT_RC" = 0 ] && clean_log t
}
check topic_templates templates

done_testing
