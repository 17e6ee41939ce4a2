#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The IoT Hub twin of the transport (forwarder/transport/twin.c) against a
# hub the test plays by hand on mosquitto:
#
#   twin-client (mqtt.c + twin.c,     TLS, SAS   .------------------------.
#   epoll loop like iotsecd's) ----------------->| mosquitto (this test's)|
#     stdin: "report {...}"                      |  sas_auth plugin       |
#     stdout: full/patch lines                   '-----------+------------'
#                                          plain listener    |
#   this script: mosquitto_sub $iothub/twin/GET/#, .../reported/#  <-'
#                mosquitto_pub $iothub/twin/res/..., desired PATCHes
#
# Cases: GET at connect (and its form), the answer delivered, desired
# PATCHes in order, stale ones ignored, a PATCH before the GET's answer,
# a gap that asks again, a GET without answer or answered 500 asked again,
# a GET after the broker restarts; reported PATCHes: form, rate limit
# (a burst gives a bounded number, the last wins), 429 sent again, 400
# dropped; a hostile hub (too big, not JSON, unterminated, unknown $rid,
# a malformed response topic) refused with a log line and no crash; a
# module identity. twin-client is built with ASan/UBSan (SAN=1).
set -u
. "$(dirname "$0")/../mqtt/lib.sh"
. "$(dirname "$0")/../mqtt/twin-lib.sh"

KEY=$(printf 0123456789abcdef0123456789abcdef | openssl base64 -A)
CERTS=$TMP/certs
CS="HostName=localhost;DeviceId=dev1;SharedAccessKey=$KEY"
UUID='[0-9a-f]\{8\}-[0-9a-f]\{4\}-4[0-9a-f]\{3\}-[89ab][0-9a-f]\{3\}-[0-9a-f]\{12\}'
INTERVAL=2	# s between reported PATCHes
TIMEOUT=5	# s for the hub's answer (a loaded machine: not less)

need_mqtt_tools twin_hub
[ -x "$TWIN_CLIENT" ] || { skip twin_hub "no $TWIN_CLIENT (make mqtt-tools)"; done_testing; exit 0; }
"$TOP/scripts/gen-certs.sh" "$CERTS" dev1 >/dev/null 2>&1
if ! start_broker b "$CERTS" "$KEY" || ! hub_watch "$b_PLAIN_PORT"; then
	not_ok broker_and_hub_start
	done_testing
	exit 1
fi

client_start c -c "$CS" -p "$b_TLS_PORT" --ca "$CERTS/ca.pem" \
	--interval $INTERVAL --timeout $TIMEOUT -W 300

# --- desired ---------------------------------------------------------
get_at_connect() {
	wait_gets 1 || return 1
	echo "# $(get_line 1 | cat -A | cut -c1-90)"
	# topic with a version 4 UUID as $rid, and the SDK's body: one space
	get_line 1 | grep -q "^\$iothub/twin/GET/?\$rid=$UUID  \$"
}
check get_at_connect_uuid_rid_body_one_space get_at_connect

DOC='{"desired":{"exec":"On","$version":5},"reported":{"$version":1}}'
full_delivered() {
	hub_answer "$(rid_of_get 1)" 200 "$DOC"
	wait_for 10 client_has c "^full $DOC\$"
}
check get_answer_delivered_whole full_delivered

patch_delivered() {
	hub_patch 6 '{"exec":"Off","$version":6}'
	wait_for 10 client_has c '^patch {"exec":"Off","$version":6}$'
}
check desired_patch_delivered patch_delivered

stale_ignored() {
	hub_patch 6 '{"exec":"Stale6","$version":6}'
	hub_patch 4 '{"exec":"Stale4","$version":4}'
	hub_patch 7 '{"exec":"On","$version":7}'
	wait_for 10 client_has c '"$version":7' || return 1
	! client_has c Stale && log_has c 'PATCH $version 4 ignored: not newer than 6'
}
check stale_version_ignored stale_ignored

gap_gets_again() {
	local n=$(gets)
	hub_patch 9 '{"exec":"Gap9","$version":9}'
	wait_gets $((n + 1)) || return 1
	! client_has c Gap9 || return 1
	# the whole twin at 8, then the held PATCH 9 in order
	hub_answer "$(rid_of_get $((n + 1)))" 200 \
		'{"desired":{"exec":"Whole8","$version":8},"reported":{}}'
	wait_for 10 client_has c Gap9 || return 1
	client_lines c '\(full\|patch\)' | tail -n 2 | tr '\n' ' ' |
		grep -q 'Whole8.*Gap9'
}
check gap_asks_whole_twin_then_applies_held_patch gap_gets_again

get_timeout() {
	local n=$(gets) t0=$SECONDS
	hub_patch 12 '{"exec":"Gap12","$version":12}'
	wait_gets $((n + 1)) || return 1
	# no answer: asked again after the timeout
	wait_gets $((n + 2)) $((TIMEOUT + 5)) || return 1
	echo "# second GET after $((SECONDS - t0)) s (timeout $TIMEOUT s)"
	[ "$(rid_of_get $((n + 1)))" != "$(rid_of_get $((n + 2)))" ] &&
		log_has c 'no answer to GET within'
}
check get_without_answer_asked_again get_timeout

get_500() {
	local n=$(gets)
	hub_answer "$(rid_of_get "$n")" 500 '{"message":"busy"}'
	wait_gets $((n + 1)) || return 1
	log_has c 'GET answered 500' || return 1
	hub_answer "$(rid_of_get $((n + 1)))" 200 \
		'{"desired":{"exec":"Whole12","$version":12},"reported":{}}'
	wait_for 10 client_has c Whole12
}
check get_answered_500_asked_again get_500

reconnect() {
	local n=$(gets)
	stop_broker b && run_broker b || return 1
	# the hub's own subscriber comes back by itself? make sure
	kill "$HUB_PID" 2>/dev/null
	hub_watch "$b_PLAIN_PORT" || return 1
	wait_for 30 sh -c "[ \$(grep -c '^connected' '$TMP/c.out') -ge 2 ]" || return 1
	wait_gets 1 30 || return 1
	# a PATCH before the GET's answer waits for it
	hub_patch 13 '{"exec":"Early13","$version":13}'
	sleep 0.5	# let it arrive first (order is what is tested)
	! client_has c Early13 || return 1
	hub_answer "$(rid_of_get 1)" 200 \
		'{"desired":{"exec":"After12","$version":12},"reported":{}}'
	wait_for 10 client_has c Early13 || return 1
	client_lines c '\(full\|patch\)' | tail -n 2 | tr '\n' ' ' |
		grep -q 'After12.*Early13'
}
check get_after_reconnect_and_early_patch_in_order reconnect

# --- reported --------------------------------------------------------
report_form() {
	local n=$(reports)
	client_say c 'report {"n":1,"state":{"ok":true}}'
	wait_reports $((n + 1)) || return 1
	echo "# $(report_line $((n + 1)))"
	report_line $((n + 1)) | grep -q "^\$iothub/twin/PATCH/properties/reported/?\$rid=$UUID {\"n\":1,\"state\":{\"ok\":true}}\$" ||
		return 1
	hub_answer "$(rid_of_report $((n + 1)))" 204 "" "&\$version=2"
}
check reported_patch_form report_form

# answer_reports N SECONDS: answer 204 to every reported PATCH after the
# Nth for SECONDS
answer_reports() {
	local n=$1 end=$((SECONDS + $2)) i
	while [ $SECONDS -lt $end ]; do
		for i in $(seq $((n + 1)) "$(reports)"); do
			if ! grep -q "^answered $i\$" "$TMP/answered"; then
				hub_answer "$(rid_of_report "$i")" 204 "" "&\$version=$i"
				echo "answered $i" >>"$TMP/answered"
			fi
		done
		sleep 0.2
	done
}

rate_limited() {
	local n=$(reports) i t0=$SECONDS lines=
	: >"$TMP/answered"
	for i in 2 3 4 5 6 7 8 9 10 11; do
		lines="${lines}report {\"n\":$i}
"
	done
	client_say c "${lines%?}"	# one write: the ten arrive together
	answer_reports "$n" $((INTERVAL * 3))
	echo "# 10 reports in a burst: $(( $(reports) - n )) PATCH(es) in $((SECONDS - t0)) s, the last $(body_of_report "$(reports)")"
	# the first may go at once if the interval is over, then one more
	[ "$(reports)" -gt "$n" ] && [ "$(reports)" -le $((n + 2)) ] &&
		[ "$(body_of_report "$(reports)")" = '{"n":11}' ]
}
check reported_burst_rate_limited_last_wins rate_limited

throttled() {
	local n=$(reports) t0=$SECONDS
	client_say c 'report {"n":12}'
	wait_reports $((n + 1)) || return 1
	hub_answer "$(rid_of_report $((n + 1)))" 429 '{"message":"throttled"}'
	wait_reports $((n + 2)) 15 || return 1
	echo "# sent again $((SECONDS - t0)) s later"
	[ "$(body_of_report $((n + 2)))" = '{"n":12}' ] &&
		log_has c 'answered 429' || return 1
	hub_answer "$(rid_of_report $((n + 2)))" 204 "" "&\$version=4"
}
check reported_429_sent_again throttled

refused_400() {
	local n=$(reports)
	sleep $INTERVAL
	client_say c 'report {"n":"bad"}'
	wait_reports $((n + 1)) || return 1
	hub_answer "$(rid_of_report $((n + 1)))" 400 '{"message":"bad request"}'
	wait_for 5 log_has c 'refused (400' || return 1
	sleep $((INTERVAL + TIMEOUT + 1))
	[ "$(reports)" = $((n + 1)) ]
}
check reported_400_logged_and_dropped refused_400

not_object() {
	grep -q '^report -22$' "$TMP/c.out" && return 1
	client_say c 'report [1,2]'
	client_say c 'report {"unterminated":'
	wait_for 5 sh -c "[ \$(grep -c '^report -22\$' '$TMP/c.out') = 2 ]"
}
check report_of_non_object_refused not_object

# --- a hostile hub ----------------------------------------------------
hostile() {
	{ printf '{"big":"'; head -c 200000 /dev/zero | tr '\0' a
	  printf '","$version":14}'; } >"$TMP/big"
	mosquitto_pub -h 127.0.0.1 -p "$HUB_PORT" \
		-t '$iothub/twin/PATCH/properties/desired/?$version=14' -f "$TMP/big"
	hub_patch 14 'this is not json'
	hub_patch 14 '{"exec":"Unterminated'
	hub_patch 14 '{"exec":"NoVersion"}'
	hub_patch 14 '[14]'
	printf '{"a":"\377","$version":14}' >"$TMP/bad-utf8"
	mosquitto_pub -h 127.0.0.1 -p "$HUB_PORT" \
		-t '$iothub/twin/PATCH/properties/desired/?$version=14' \
		-f "$TMP/bad-utf8"
	hub_answer 00000000-0000-4000-8000-000000000000 200 "$DOC"
	mosquitto_pub -h 127.0.0.1 -p "$HUB_PORT" -t '$iothub/twin/res/abc' -m x
	mosquitto_pub -h 127.0.0.1 -p "$HUB_PORT" -t '$iothub/twin/res/200/?$rid=' -m x
	# after all that, a good PATCH still arrives
	hub_patch 14 '{"exec":"Good14","$version":14}'
	wait_for 10 client_has c Good14 || return 1
	kill -0 "$c_CPID" || return 1
	grep 'twin: ' "$TMP/c.err" | grep -i 'refused\|ignored' | sed 's/^/# /' | cut -c1-160
	log_has c 'more than 131072' && log_has c 'not JSON' &&
		log_has c 'unterminated' && log_has c 'no "$version"' &&
		log_has c 'not a JSON object' && log_has c 'not UTF-8' &&
		log_has c 'unknown request id 00000000-0000-4000-8000-000000000000' &&
		log_has c 'malformed topic' &&
		! client_has c 'NoVersion\|Unterminated\|not json'
}
check hostile_hub_refused_with_log_no_crash hostile

hostile_get() {
	local n
	client_say c quit	# a fresh client: its GET answered with junk
	wait "$c_CPID"; CLIENT_RC=$?
	pid_forget "$c_CPID"
	exec 8>&-; CLIENT_FD8=
	clean_log c || return 1
	: >"$TMP/hub.sub"
	client_start c -c "$CS" -p "$b_TLS_PORT" --ca "$CERTS/ca.pem" \
		--interval $INTERVAL --timeout $TIMEOUT -W 300
	wait_gets 1 || return 1
	hub_answer "$(rid_of_get 1)" 200 '{"desired":'
	wait_gets 2 || return 1
	hub_answer "$(rid_of_get 2)" 200 '{"desired":[1],"reported":{}}'
	wait_gets 3 || return 1
	hub_answer "$(rid_of_get 3)" 200 \
		'{"desired":{"exec":"Fine","$version":20},"reported":{}}'
	wait_for 10 client_has c Fine &&
		[ "$(client_count c full)" = 1 ] && log_has c 'no "desired" object'
}
check hostile_get_answer_refused_and_asked_again hostile_get

sanitizers() {
	client_stop c
	echo "# twin-client exit status $CLIENT_RC"
	[ "$CLIENT_RC" = 0 ] && clean_log c
}
check client_exits_clean_under_sanitizers sanitizers
# the twin's PUBLISHes are acknowledged to the twin, never to the caller
check no_twin_ack_reaches_the_caller eval '! client_has c "^ack "' 

# --- a module identity: the same topics on the module's connection ---
module() {
	: >"$TMP/hub.sub"
	client_start m -c "HostName=localhost;DeviceId=dev1;ModuleId=sec;SharedAccessKey=$KEY" \
		-p "$b_TLS_PORT" --ca "$CERTS/ca.pem" -W 60
	wait_gets 1 || return 1
	grep -q "^dev1/sec" "$TMP/b.auth" || return 1
	hub_answer "$(rid_of_get 1)" 200 '{"desired":{"$version":1},"reported":{}}'
	wait_for 10 client_has m '^full ' || return 1
	client_stop m
	[ "$CLIENT_RC" = 0 ] && clean_log m
}
check module_identity_same_topics module

done_testing
