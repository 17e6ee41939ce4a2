#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Detection under the module twin (docs/twin.md, docs/rules.md): a real
# iotsecd in broker mode, a mosquitto, the desired document retained on
# its topic, a recording fed through a pipe in rounds:
#
#   feed.py --FIFO--> iotsecd --replay FIFO -----> mosquitto <-- mosquitto_pub -r
#    round N when        rules: tmp-exec,             |          iotsec/dev1/twin/desired
#    go.N exists         also-tmp (both match)        '--> receiver iotsec/dev1/#
#
# Cases: both rules alert in round 1; a desired document with
# rules.disabled [tmp-exec] and the baseline on (learning_window 2h) is
# applied (sources twin); in round 2 tmp-exec sends no alert while
# also-tmp still does, and the baseline learns (not what alerted); the
# reported document shows the values in force (rules.disabled,
# baseline.*) and validates against schemas/iotsec-twin-reported_v1_0.json;
# a name the hub sends that is not a rule name is refused
# (ConfigurationError) and changes nothing; indicator lists inline
# (indicators.paths, .addresses) alert in round 3 as the twin's, are
# reported and validate; a bad entry refuses the patch, the lists stay.
set -u
TMP_NAME=iotsec-baseline-twin
. "$(dirname "$0")/../lib/broker.sh"
EVGEN=$BUILD/tests/tools/evgen

command -v mosquitto >/dev/null || {
	skip baseline_twin "mosquitto not installed"
	done_testing
	exit 0
}
[ -x "$EVGEN" ] || {
	skip baseline_twin "no $EVGEN (make tests)"
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
pub() { mosquitto_pub -h 127.0.0.1 -p "$b_PORT" -q 1 "$@"; }

"$EVGEN" "$TMP/rec" <<'EOF'
exec 200 1 /tmp/dropper
exec 201 1 /usr/bin/app
connect 201 443 tcp
EOF
mkdir "$TMP/rules"
cat >"$TMP/rules/local.yaml" <<'EOF'
rules:
  - name: tmp-exec
    event: exec
    match: { exe: /tmp/* }
  - name: also-tmp
    event: exec
    match: { exe: "/tmp/drop*" }
EOF
feed_rounds_start "$TMP/rec"

cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: 127.0.0.1
  port: $b_PORT
  device_id: dev1
  twin_report_interval: 1s
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
rules:
  dir: $TMP/rules
  aggregate_interval: 0s
baseline:
  state_file: $TMP/baseline
EOC
receiver_start r "$b_PORT" 'iotsec/dev1/#'
iotsecd_start d "$TMP/iotsecd.yaml" --replay "$TMP/feed"
ST=$TMP/d.stats
alerts() { grep -v "^$REP " "$TMP/r.recv" | grep -o "\"RuleName\":\"$1\"" | wc -l; }
alerts_ge() { [ "$(alerts "$1")" -ge "$2" ]; }
count() { grep -v "^$REP " "$TMP/r.recv" | grep -o "\"Name\":\"$1\"" | wc -l; }
count_ge() { [ "$(count "$1")" -ge "$2" ]; }
reported() { grep "^$REP " "$TMP/r.recv" | cut -d' ' -f2-; }
has() {
	[ "$(stat_get "$ST" "$1")" = "$2" ] ||
		{ echo "# $1: $(stat_get "$ST" "$1"), not $2"; return 1; }
}

both_alert() {
	touch "$TMP/go.1"
	wait_for 20 alerts_ge tmp-exec 1 || return 1
	wait_for 10 alerts_ge also-tmp 1 || return 1
	has baseline.state off
}
check both_rules_alert_before_any_desired both_alert

disable() {
	local t c
	wait_for 10 has twin.status none || return 1
	t=$(alerts tmp-exec)
	c=$(alerts also-tmp)
	pub -r -t "$DES" -m '{"iotsec":{"rules":{"disabled":["tmp-exec"]},"baseline":{"enabled":true,"learning_window":"2h","max_entries":500}},"$version":2}'
	wait_for 10 has twin.desiredVersion 2 || return 1
	has configuration.rules.disabled.source twin &&
		has configuration.rules.disabled.value '["tmp-exec"]' &&
		has configuration.baseline.enabled.value true &&
		has configuration.baseline.learning_window.value PT2H &&
		has configuration.baseline.max_entries.value 500 &&
		has baseline.state learning || return 1
	grep -q 'rules: 1 enabled' "$TMP/d.log" || return 1
	touch "$TMP/go.2"
	wait_for 10 alerts_ge also-tmp $((c + 1)) || return 1
	# app's exec and connect; not /tmp/dropper: also-tmp alerted on it
	wait_for 10 has baseline.entries 2 || return 1
	has baseline.suspect 1 || return 1
	sleep 1.5	# one more interval for anything late
	echo "# round 2: tmp-exec $t -> $(alerts tmp-exec), also-tmp $c -> $(alerts also-tmp)"
	[ "$(alerts tmp-exec)" = "$t" ]
}
check desired_disables_a_rule_and_turns_the_baseline_on disable

reported_ok() {
	wait_for 10 sh -c "grep '^$REP ' '$TMP/r.recv' | grep -q '\"desiredVersion\":2'" ||
		return 1
	reported | tail -n 1 >"$TMP/reported.last"
	python3 - "$TMP/reported.last" <<'PY' || return 1
import json, sys
c = json.load(open(sys.argv[1]))["iotsec"]["configuration"]
assert c["rules"]["disabled"] == {"value": ["tmp-exec"], "source": "twin"}, c["rules"]
assert c["rules"]["enabled"] == {"value": True, "source": "default"}, c["rules"]
assert c["rules"]["aggregate_interval"] == {"value": "PT0S", "source": "yaml"}, c["rules"]
assert c["baseline"]["enabled"] == {"value": True, "source": "twin"}, c["baseline"]
assert c["baseline"]["learning_window"] == {"value": "PT2H", "source": "twin"}
assert c["baseline"]["max_entries"] == {"value": 500, "source": "twin"}
print("# reported: rules.disabled [tmp-exec] (twin), baseline on, PT2H, 500 (twin)")
PY
	command -v node >/dev/null || { echo "# node missing"; return 1; }
	reported >"$TMP/reported.jsonl"
	NODE_PATH=$BUILD/node/node_modules node "$TOP/tests/schema/twin-validate.js" \
		"$TOP/schemas/iotsec-twin-reported_v1_0.json" "$TMP/reported.jsonl" |
		sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
check reported_shows_the_detection_settings reported_ok

bad_name() {
	local ce
	ce=$(count ConfigurationError)
	pub -r -t "$DES" -m '{"iotsec":{"rules":{"disabled":["tmp exec!"]}},"$version":3}'
	wait_for 10 count_ge ConfigurationError $((ce + 1)) || return 1
	grep -v "^$REP " "$TMP/r.recv" | grep '"ConfigurationError"' | tail -n 1 >"$TMP/ce"
	grep -o '"Message":"[^"]*"' "$TMP/ce" | sed 's/^/# /'
	grep -q '"ConfigurationName":"iotsec.rules.disabled"' "$TMP/ce" &&
		has twin.desiredVersion 2 &&
		has configuration.rules.disabled.value '["tmp-exec"]'
}
check a_bad_rule_name_is_refused bad_name

# indicator lists inline in the desired properties, with the files' (none
# here): round 3 alerts on the listed path, named as the twin's list
IOC='"indicators":{"paths":["/usr/bin/app"],"addresses":["203.0.113.0/24"]}'
twin_ioc() {
	local n
	n=$(alerts ioc:path)
	pub -r -t "$DES" -m '{"iotsec":{"rules":{"disabled":["tmp-exec"]},"baseline":{"enabled":true,"learning_window":"2h","max_entries":500},'"$IOC"'},"$version":4}'
	wait_for 10 has twin.desiredVersion 4 || return 1
	has configuration.indicators.paths.source twin &&
		has configuration.indicators.paths.value '["/usr/bin/app"]' || return 1
	grep -q 'indicators from the twin: 0 hashes, 1 addresses, 0 domains, 1 paths' "$TMP/d.log" || return 1
	touch "$TMP/go.3"
	wait_for 10 alerts_ge ioc:path $((n + 1)) || return 1
	grep -v "^$REP " "$TMP/r.recv" | grep -o '"Description":"executable /usr/bin/app is listed in twin:indicators.paths:1"' | head -n 1 | sed 's/^/# /'
	grep -v "^$REP " "$TMP/r.recv" | grep -q '"Description":"executable /usr/bin/app is listed in twin:indicators.paths:1"'
}
check twin_indicator_lists_alert twin_ioc

twin_ioc_reported() {
	wait_for 10 sh -c "grep '^$REP ' '$TMP/r.recv' | grep -q '\"desiredVersion\":4'" ||
		return 1
	reported | grep '"desiredVersion":4' | tail -n 1 >"$TMP/reported4.last"
	python3 - "$TMP/reported4.last" <<'PY' || return 1
import json, sys
c = json.load(open(sys.argv[1]))["iotsec"]["configuration"]["indicators"]
assert c["paths"] == {"value": ["/usr/bin/app"], "source": "twin"}, c
assert c["addresses"] == {"value": ["203.0.113.0/24"], "source": "twin"}, c
assert c["hashes"] == {"value": [], "source": "default"}, c
print("# reported: indicators.paths, .addresses (twin)")
PY
	NODE_PATH=$BUILD/node/node_modules node "$TOP/tests/schema/twin-validate.js" \
		"$TOP/schemas/iotsec-twin-reported_v1_0.json" "$TMP/reported4.last" |
		sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
check twin_indicator_lists_reported_and_valid twin_ioc_reported

# a bad entry: the whole patch refused, said in a ConfigurationError, the
# running lists stay (round 4 still alerts)
twin_ioc_bad() {
	local ce n
	ce=$(count ConfigurationError)
	n=$(alerts ioc:path)
	pub -r -t "$DES" -m '{"iotsec":{"indicators":{"paths":["/usr/bin/app","relative/x"]}},"$version":5}'
	wait_for 10 count_ge ConfigurationError $((ce + 1)) || return 1
	grep -v "^$REP " "$TMP/r.recv" | grep '"ConfigurationError"' | tail -n 1 >"$TMP/ce5"
	grep -o '"Message":"[^"]*"' "$TMP/ce5" | sed 's/^/# /'
	grep -q '"ConfigurationName":"iotsec.indicators.paths"' "$TMP/ce5" &&
		grep -q 'at \[1\]' "$TMP/ce5" &&
		has twin.desiredVersion 4 && has twin.status refused &&
		has configuration.indicators.paths.value '["/usr/bin/app"]' || return 1
	touch "$TMP/go.4"
	wait_for 10 alerts_ge ioc:path $((n + 1))
}
check a_bad_indicator_is_refused_the_lists_stay twin_ioc_bad

no_sanitizer_reports() {
	touch "$TMP/stop"
	iotsecd_stop d
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$TMP"/d*.log
}
check no_sanitizer_reports no_sanitizer_reports

done_testing
