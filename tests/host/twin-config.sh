#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The twin as configuration, end to end on the host (docs/twin.md): a real
# iotsecd in broker mode, a mosquitto, the desired document retained on
# its topic as a fleet manager would put it, events from a recording fed
# through a pipe in rounds (the kernel's stand-in):
#
#   feed.py --FIFO--> iotsecd --replay FIFO -----> mosquitto <-- mosquitto_pub -r
#    round N when        twin: desired in,          |           iotsec/dev1/twin/desired
#    go.N exists         reported out               '--> receiver iotsec/dev1/#
#                        twin.json next to the spool      (messages, reported)
#
# Cases: ProcessCreate flows before any desired document; a desired
# document setting events.exec.priority off is applied (version, source
# twin) and the next round's ProcessCreate do not come within one interval
# while its connections do; the reported document says so and validates
# against schemas/iotsec-twin-reported_v1_0.json (ajv); the applied
# document is kept next to the spool; an invalid duration gives a
# ConfigurationError event (Azure's schema, ajv) naming the key, and
# changes nothing; a restart without the broker keeps the applied
# configuration (status, and no ProcessCreate from a replay); a corrupt
# kept file is refused with a log line and ignored.
set -u
TMP_NAME=iotsec-twin-config
. "$(dirname "$0")/../lib/broker.sh"
. "$TOP/tests/lib/schemas.sh"

command -v mosquitto >/dev/null || {
	skip twin_config "mosquitto not installed"
	done_testing
	exit 0
}
[ -x "$BUILD/bench/synth" ] || {
	skip twin_config "no $BUILD/bench/synth (make tests)"
	done_testing
	exit 0
}
if ! broker_start b; then
	not_ok broker_starts
	done_testing
	exit 1
fi

DES=iotsec/dev1/twin/desired
REP=iotsec/dev1/twin/reported
AZ=ms_iotn:urn_azureiot_Security_SecurityAgentConfiguration
pub() { mosquitto_pub -h 127.0.0.1 -p "$b_PORT" -q 1 "$@"; }

"$BUILD/bench/synth" "$TMP/rec" 200 >/dev/null
feed_rounds_start "$TMP/rec"

cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: 127.0.0.1
  port: $b_PORT
  device_id: dev1
  twin_report_interval: 1s
  # under the receiver's iotsec/dev1/#, beside the events (the defaults
  # are iotsec-twin/{device_id}/...)
  twin_desired_topic: iotsec/{device_id}/twin/desired
  twin_reported_topic: iotsec/{device_id}/twin/reported
priorities:
  high: 1s
  low: 1s
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
receiver_start r "$b_PORT" 'iotsec/dev1/#'
iotsecd_start d "$TMP/iotsecd.yaml" --replay "$TMP/feed"
ST=$TMP/d.stats
# messages of one kind so far; the reported documents, one a line
count() { grep -v "^$REP " "$TMP/r.recv" | grep -o "\"Name\":\"$1\"" | wc -l; }
count_ge() { [ "$(count "$1")" -ge "$2" ]; }
reported() { grep "^$REP " "$TMP/r.recv" | cut -d' ' -f2-; }
has() { [ "$(stat_get "$ST" "$1")" = "$2" ]; }

exec_before() {
	touch "$TMP/go.1"
	wait_for 20 count_ge ProcessCreate 1 || return 1
	wait_for 10 count_ge ConnectionCreate 1 || return 1
	echo "# round 1: $(count ProcessCreate) ProcessCreate, $(count ConnectionCreate) ConnectionCreate"
}
check processcreate_flows_before_any_desired exec_before

exec_off() {
	local pc cc t0 t1
	wait_for 10 has twin.status none || return 1
	pc=$(count ProcessCreate)
	cc=$(count ConnectionCreate)
	t0=$(date +%s%N)
	pub -r -t "$DES" -m '{"iotsec":{"events":{"exec":{"priority":"off"}}},"$version":2}'
	wait_for 10 has twin.desiredVersion 2 || return 1
	t1=$(date +%s%N)
	has configuration.events.exec.priority.value off || return 1
	has configuration.events.exec.priority.source twin || return 1
	has twin.status applied || return 1
	echo "# applied $(( (t1 - t0) / 1000000 )) ms after the publish (stats file: once a second)"
	# the next round, within one interval (1 s): connections, no process
	touch "$TMP/go.2"
	wait_for 10 count_ge ConnectionCreate $((cc + 1)) || return 1
	sleep 1.5	# one more interval for anything late
	echo "# round 2: ProcessCreate $pc -> $(count ProcessCreate), ConnectionCreate $cc -> $(count ConnectionCreate)"
	[ "$(count ProcessCreate)" = "$pc" ]
}
check desired_exec_off_stops_processcreate exec_off

reported_ok() {
	wait_for 10 sh -c "grep '^$REP ' '$TMP/r.recv' | grep -q '\"desiredVersion\":2'" ||
		return 1
	reported | tail -n 1 >"$TMP/reported.last"
	python3 - "$TMP/reported.last" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
i = r["iotsec"]
assert i["configuration"]["events"]["exec"]["priority"] == {"value": "off", "source": "twin"}, i
assert i["configuration"]["priorities"]["high"] == {"value": "PT1S", "source": "yaml"}
assert i["configuration"]["events"]["fork"]["priority"]["source"] == "default"
assert i["twin"]["status"] == "applied" and i["twin"]["desiredVersion"] == 2
assert r["ms_iotn:urn_azureiot_Security_SecurityAgentConfiguration"]["eventPriorityProcessCreate"] == {"value": "Off"}
print("# reported: exec off (twin), high PT1S (yaml), version 2")
PY
}
check reported_says_what_is_in_force reported_ok

reported_schema() {
	command -v node >/dev/null || { echo "# node missing"; return 1; }
	[ -f "$BUILD/node/node_modules/ajv/package.json" ] ||
		{ echo "# ajv missing (make node-deps)"; return 1; }
	reported >"$TMP/reported.jsonl"
	NODE_PATH=$BUILD/node/node_modules node "$TOP/tests/schema/twin-validate.js" \
		"$TOP/schemas/iotsec-twin-reported_v1_0.json" --self-test &&
	NODE_PATH=$BUILD/node/node_modules node "$TOP/tests/schema/twin-validate.js" \
		"$TOP/schemas/iotsec-twin-reported_v1_0.json" "$TMP/reported.jsonl" |
		sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
check reported_validates_against_schema reported_schema

kept() {
	python3 - "$TMP/twin.json" <<'PY'
import json, sys
k = json.load(open(sys.argv[1]))
assert k["version"] == 2, k
assert k["desired"] == {"iotsec": {"events": {"exec": {"priority": "off"}}}}, k
PY
	[ ! -e "$TMP/twin.json.tmp" ] && [ "$(stat -c %a "$TMP/twin.json")" = 600 ]
}
check applied_document_kept_next_to_spool kept

bad_duration() {
	local ce
	ce=$(count ConfigurationError)
	pub -r -t "$DES" -m "{\"iotsec\":{\"events\":{\"exec\":{\"priority\":\"off\"}}},\"$AZ\":{\"highPriorityMessageFrequency\":{\"value\":\"PT7X\"},\"eventPriorityProcessTerminate\":{\"value\":\"Off\"}},\"\$version\":3}"
	wait_for 10 count_ge ConfigurationError $((ce + 1)) || return 1
	wait_for 5 has twin.refusedVersion 3 || return 1
	grep -v "^$REP " "$TMP/r.recv" | grep '"ConfigurationError"' | tail -n 1 |
		cut -d' ' -f2- >"$TMP/ce.json"
	grep -q "\"ConfigurationName\":\"$AZ.highPriorityMessageFrequency\"" "$TMP/ce.json" || return 1
	grep -q '"ErrorType":"TypeMismatch"' "$TMP/ce.json" || return 1
	grep -q '"UsedConfiguration":"PT1S"' "$TMP/ce.json" || return 1
	grep -o '"Message":"[^"]*"' "$TMP/ce.json" | sed 's/^/# /'
	# nothing changed: not the valid key of the same document either
	has twin.desiredVersion 2 || return 1
	has configuration.priorities.high.value PT1S || return 1
	has configuration.events.exit.priority.value low || return 1
	grep -q '"version":2' "$TMP/twin.json"
}
check invalid_duration_configuration_error_changes_nothing bad_duration

ce_schema() {
	NODE_PATH=$BUILD/node/node_modules node "$TOP/tests/lib/validate-messages.js" \
		"$AZURE_SCHEMAS" "$TOP/schemas/iotsec-extended-message_v1_0.json" \
		"$TMP/ce.json" | sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
if azure_schemas "$TOP"; then
	check configuration_error_validates_against_azure ce_schema
else
	skip configuration_error_validates_against_azure "$AZURE_SCHEMAS_MISSING"
fi

restart_no_broker() {
	touch "$TMP/stop"
	iotsecd_stop d
	broker_stop b
	iotsecd_start d2 "$TMP/iotsecd.yaml"
	ST=$TMP/d2.stats
	wait_for 10 has twin.status applied || return 1
	has twin.desiredVersion 2 || return 1
	has configuration.events.exec.priority.value off || return 1
	has configuration.events.exec.priority.source twin || return 1
	has mqtt disconnected || return 1
	grep -q 'twin: desired version 2 from .* in force until the hub is reached' "$TMP/d2.log" || return 1
	iotsecd_stop d2
	# and it acts on it: a replay without a broker has no ProcessCreate
	"$BIN/iotsecd" -c "$TMP/iotsecd.yaml" --replay "$TMP/rec" \
		--output "$TMP/restart.jsonl" --stats-file "" 2>"$TMP/restart.log" ||
		return 1
	echo "# after restart: $(grep -o '"Name":"ProcessCreate"' "$TMP/restart.jsonl" | wc -l) ProcessCreate, $(grep -o '"Name":"ConnectionCreate"' "$TMP/restart.jsonl" | wc -l) ConnectionCreate"
	! grep -q '"Name":"ProcessCreate"' "$TMP/restart.jsonl" &&
		grep -q '"Name":"ConnectionCreate"' "$TMP/restart.jsonl"
}
check restart_without_broker_keeps_applied_config restart_no_broker

corrupt_ignored() {
	printf '{"version":2,"desired":{"iotsec":{"events":{"exec"' >"$TMP/twin.json"
	"$BIN/iotsecd" -c "$TMP/iotsecd.yaml" --replay "$TMP/rec" \
		--output "$TMP/corrupt.jsonl" --stats-file "" 2>"$TMP/corrupt.log" ||
		return 1
	grep 'twin:' "$TMP/corrupt.log" | sed 's/^/# /'
	grep -q "twin: $TMP/twin.json: not a saved twin configuration (corrupt?); ignored" \
		"$TMP/corrupt.log" &&
		grep -q '"Name":"ProcessCreate"' "$TMP/corrupt.jsonl"
}
check corrupt_kept_file_refused_and_ignored corrupt_ignored

no_sanitizer_reports() {
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$TMP"/d*.log \
		"$TMP"/restart.log "$TMP"/corrupt.log
}
check no_sanitizer_reports no_sanitizer_reports

done_testing
