#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The twin as configuration against a hub the test plays on mosquitto
# (tests/mqtt/twin-lib.sh, twinproto's scripted hub): iotsecd with an IoT
# Hub identity (TLS, SAS token), the test answering its GET and sending
# desired PATCHes, reading its reported PATCHes and its messages:
#
#   iotsecd (hub: dev1, SAS) ---TLS---> mosquitto + sas_auth
#                                          | plain listener
#   this script: hub_watch (GET, reported) <-'  hub_answer, hub_patch
#                receiver devices/dev1/messages/events/#  (ConfigurationError)
#
# Cases: the GET's desired document is applied (exec off, version 4) and
# reported back as a reported PATCH that validates; a desired PATCH with
# an invalid duration is a ConfigurationError event on the events topic
# and changes nothing; a valid PATCH after it is applied (merged into the
# applied document, not the refused one); a restart asks with a new GET
# and, with no answer, keeps the applied configuration from the disk.
set -u
. "$(dirname "$0")/../mqtt/lib.sh"
. "$(dirname "$0")/../mqtt/twin-lib.sh"

KEY=$(printf 0123456789abcdef0123456789abcdef | openssl base64 -A)
CERTS=$TMP/certs
AZ=ms_iotn:urn_azureiot_Security_SecurityAgentConfiguration

need_mqtt_tools twin_hub_config
"$TOP/scripts/gen-certs.sh" "$CERTS" dev1 >/dev/null 2>&1
if ! start_broker b "$CERTS" "$KEY" || ! hub_watch "$b_PLAIN_PORT"; then
	not_ok broker_and_hub_start
	done_testing
	exit 1
fi
receiver_start r "$b_PLAIN_PORT" 'devices/dev1/messages/events/#'

cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
hub:
  connection_string: "HostName=localhost;DeviceId=dev1;SharedAccessKey=$KEY"
  port: $b_TLS_PORT
  ca_file: $CERTS/ca.pem
  twin_report_interval: 1s
  twin_timeout: 5s
priorities:
  high: 1s
messages:
  statistics: 0s
snapshots:
  interval: 0s
logins:
  enabled: false
sdk:
  enabled: false
spool:
  path: $TMP/spool
EOC
iotsecd_start d "$TMP/iotsecd.yaml"
ST=$TMP/d.stats
has() { [ "$(stat_get "$ST" "$1")" = "$2" ]; }
last_report() { body_of_report "$(reports)"; }

get_applied() {
	wait_gets 1 20 || return 1
	hub_answer "$(rid_of_get 1)" 200 "{\"desired\":{\"iotsec\":{\"events\":{\"exec\":{\"priority\":\"off\"}}},\"$AZ\":{\"lowPriorityMessageFrequency\":{\"value\":\"PT2H\"}},\"other\":{\"x\":1},\"\$version\":4},\"reported\":{\"\$version\":1}}"
	wait_for 10 has twin.desiredVersion 4 || return 1
	has configuration.events.exec.priority.value off &&
		has configuration.events.exec.priority.source twin &&
		has configuration.priorities.low.value PT2H &&
		has configuration.priorities.high.source yaml
}
check get_answer_applied get_applied

reported_back() {
	wait_for 15 sh -c "grep '^\\\$iothub/twin/PATCH/properties/reported/' '$TMP/hub.sub' | grep -q '\"desiredVersion\":4'" ||
		return 1
	grep '^\$iothub/twin/PATCH/properties/reported/' "$TMP/hub.sub" |
		cut -d' ' -f2- >"$TMP/reported.jsonl"
	grep -q '"events":{"exec":{"priority":{"value":"off","source":"twin"}' \
		"$TMP/reported.jsonl" || return 1
	[ -f "$BUILD/node/node_modules/ajv/package.json" ] ||
		{ echo "# ajv missing (make node-deps)"; return 1; }
	NODE_PATH=$BUILD/node/node_modules node "$TOP/tests/schema/twin-validate.js" \
		"$TOP/schemas/iotsec-twin-reported_v1_0.json" "$TMP/reported.jsonl" |
		sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
check reported_patch_validates reported_back

bad_patch() {
	hub_patch 5 "{\"$AZ\":{\"lowPriorityMessageFrequency\":{\"value\":\"P1H\"}},\"iotsec\":{\"sdk\":{\"rate\":7}},\"\$version\":5}"
	wait_for 10 grep -q '"ConfigurationError"' "$TMP/r.recv" || return 1
	grep '"ConfigurationError"' "$TMP/r.recv" | grep -o '"Payload":\[[^]]*\]' | sed 's/^/# /'
	grep '"ConfigurationError"' "$TMP/r.recv" |
		grep -q "\"ConfigurationName\":\"$AZ.lowPriorityMessageFrequency\"" || return 1
	wait_for 5 has twin.refusedVersion 5 || return 1
	has twin.desiredVersion 4 && has configuration.priorities.low.value PT2H &&
		has configuration.sdk.rate.value 20
}
check invalid_duration_patch_refused_whole bad_patch

good_patch() {
	hub_patch 6 '{"iotsec":{"kernel":{"argv_max":512}},"$version":6}'
	wait_for 10 has twin.desiredVersion 6 || return 1
	# merged into version 4's document: exec stays off, nothing of 5
	has configuration.kernel.argv_max.value 512 &&
		has configuration.events.exec.priority.value off &&
		has configuration.sdk.rate.value 20 && has twin.status applied
}
check valid_patch_after_refused_one_applied good_patch

restart_keeps() {
	local n
	iotsecd_stop d
	n=$(gets)
	iotsecd_start d "$TMP/iotsecd.yaml"
	wait_gets $((n + 1)) 20 || return 1	# asks again; no answer
	wait_for 10 has twin.status applied || return 1
	has twin.desiredVersion 6 && has configuration.kernel.argv_max.value 512 &&
		has configuration.events.exec.priority.value off
}
check restart_asks_again_and_keeps_applied restart_keeps

no_sanitizer_reports() {
	iotsecd_stop d
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$TMP"/d.log
}
check no_sanitizer_reports no_sanitizer_reports

done_testing
