#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The learned baseline in iotsecd (docs/rules.md, "Learned baseline"):
# recordings made by tests/tools/evgen replayed through the daemon, the
# model file next to them, iotsecctl against a running daemon.
#
#   evgen --> learn.rec, dev.rec --> iotsecd --replay --output FILE
#                                     model: $TMP/model (baseline.state_file)
#   feed.py --FIFO--> iotsecd -f --replay FIFO <-- iotsecctl baseline
#                      stats file                   reset | relearn | show
#
# Cases: learning records the three tuples and sends no alert; a restart
# keeps the model and the window's start (a second recording adds to
# it); after the window, the new tuples of a recording alert (RuleAlert
# baseline-process/-connection/-listen, every message valid by the
# schemas) and the learned ones do not; iotsecctl relearn and reset on a
# running daemon (confirmed, the state and the model as said); a full
# model stops learning with one baseline-full alert; a truncated or
# corrupt model file is reported and a new window starts.
set -u
TMP_NAME=iotsec-baseline
. "$(dirname "$0")/../lib/broker.sh"
. "$TOP/tests/lib/schemas.sh"
EVGEN=$BUILD/tests/tools/evgen
CTL=$BIN/iotsecctl

[ -x "$EVGEN" ] || {
	skip baseline_replay "no $EVGEN (make tests)"
	done_testing
	exit 0
}

conf() {	# conf NAME WINDOW MAX
	cat >"$TMP/$1.yaml" <<-EOC
	agent:
	  id: 9c647395-b913-4997-a732-a7fe7303b649
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
	rules:
	  dir: ""
	  aggregate_interval: 1h
	baseline:
	  enabled: true
	  learning_window: $2
	  max_entries: $3
	  state_file: $TMP/$1.model
	EOC
}
replay() {	# replay CONF REC OUT
	"$BIN/iotsecd" -c "$TMP/$1.yaml" --replay "$2" --output "$3" \
		--stats-file "" 2>>"$TMP/$1.log"
}
# alerts of an output: "RULE HITS" lines, sorted
alerts() {
	python3 - "$1" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    for e in json.loads(line)["Events"]:
        if e["Name"] == "RuleAlert":
            p = e["Payload"][0]
            print(p["RuleName"], p["HitCount"], p["Description"])
PY
}

# the device's normal life: a broker, a shell it starts, a client
"$EVGEN" "$TMP/learn.rec" <<'EOF'
exec 100 1 /usr/sbin/mosquitto
listen 100 1883
accept 100 1883
accept 100 1883
exec 101 1 /usr/bin/updater
connect 101 443 tcp
connect 101 53 udp
exec 102 101 /bin/sh
EOF
# a second run of it adds the NTP client
"$EVGEN" "$TMP/learn2.rec" <<'EOF'
exec 110 1 /usr/sbin/ntpd
connect 110 123 udp
EOF
# afterwards: the same, and three new things (twice each)
"$EVGEN" "$TMP/dev.rec" <<'EOF'
exec 100 1 /usr/sbin/mosquitto
listen 100 1883
accept 100 1883
listen 100 4444
listen 100 4444
exec 101 1 /usr/bin/updater
connect 101 443 tcp
connect 101 6667 tcp
connect 101 6667 tcp
exec 102 101 /bin/sh
exec 103 100 /bin/sh
exec 104 100 /bin/sh
exec 110 1 /usr/sbin/ntpd
connect 110 123 udp
EOF

conf a 1h 1000
learn() {
	replay a "$TMP/learn.rec" "$TMP/learn.jsonl" || return 1
	[ -z "$(alerts "$TMP/learn.jsonl")" ] || return 1
	"$CTL" baseline show "$TMP/a.model" >"$TMP/show1" || return 1
	sed 's/^/# /' "$TMP/show1"
	grep -q '^process     /bin/sh parent=/usr/bin/updater seen=1$' "$TMP/show1" &&
	grep -q '^process     /usr/sbin/mosquitto parent=- seen=1$' "$TMP/show1" &&
	grep -q '^connection  /usr/sbin/mosquitto in tcp/1883 seen=2$' "$TMP/show1" &&
	grep -q '^connection  /usr/bin/updater out tcp/443 seen=1$' "$TMP/show1" &&
	grep -q '^connection  /usr/bin/updater out udp/53 seen=1$' "$TMP/show1" &&
	grep -q '^listen      /usr/sbin/mosquitto tcp/1883 seen=1$' "$TMP/show1" &&
	[ "$(grep -c . "$TMP/show1")" = 8 ]
}
check learning_records_the_tuples_without_alerts learn

started() { sed -n 's/^started //p' "$TMP/$1.model"; }
restart_keeps() {
	local s0
	s0=$(started a)
	replay a "$TMP/learn2.rec" "$TMP/learn2.jsonl" || return 1
	[ -z "$(alerts "$TMP/learn2.jsonl")" ] || return 1
	echo "# window started $s0, still $(started a) after a restart"
	[ "$(started a)" = "$s0" ] &&
		grep -q '^p /usr/sbin/ntpd % 1$' "$TMP/a.model" &&
		grep -q '^p /usr/sbin/mosquitto % 1$' "$TMP/a.model" &&
		grep -q '^ended 0$' "$TMP/a.model"
}
check restart_keeps_model_and_window restart_keeps

# the window made 1 s long: it applies to the window under way. Learning
# time is the daemon's running time (the monotonic clock, not the date):
# this run's recording comes once the daemon wrote the window's end
after_window() {	# after_window MODEL REC: REC once MODEL says ended
	wait_for 30 grep -q '^ended 1$' "$1"
	cat "$2"
}
deviations() {
	sed -i 's/learning_window: 1h/learning_window: 1s/' "$TMP/a.yaml"
	"$BIN/iotsecd" -c "$TMP/a.yaml" \
		--replay <(after_window "$TMP/a.model" "$TMP/dev.rec") \
		--output "$TMP/dev.jsonl" --stats-file "" 2>>"$TMP/a.log" || return 1
	alerts "$TMP/dev.jsonl" | sort >"$TMP/dev.alerts"
	sed 's/^/# /' "$TMP/dev.alerts"
	# each new tuple: an alert at once, its second hit at the exit
	[ "$(cut -d' ' -f1,2 "$TMP/dev.alerts" | tr '\n' ,)" = \
	  "baseline-connection 1,baseline-connection 1,baseline-listen 1,baseline-listen 1,baseline-process 1,baseline-process 1," ] &&
	grep -q 'baseline-process 1 /bin/sh started by /usr/sbin/mosquitto: not in the learned baseline' "$TMP/dev.alerts" &&
	grep -q 'baseline-connection 1 /usr/bin/updater connected out to tcp port 6667' "$TMP/dev.alerts" &&
	grep -q 'baseline-listen 1 /usr/sbin/mosquitto listening on tcp port 4444' "$TMP/dev.alerts" &&
	grep -q '^ended 1$' "$TMP/a.model"
}
check deviations_alert_after_the_window deviations

dev_schema() {
	azure_schemas "$TOP" || { echo "# $AZURE_SCHEMAS_MISSING"; return 1; }
	NODE_PATH=$BUILD/node/node_modules node "$TOP/tests/lib/validate-messages.js" \
		"$AZURE_SCHEMAS" "$TOP/schemas/iotsec-extended-message_v1_0.json" \
		"$TMP/dev.jsonl" | sed 's/^/# /'
	return "${PIPESTATUS[0]}"
}
if azure_schemas "$TOP"; then
	check deviation_alerts_validate dev_schema
else
	skip deviation_alerts_validate "$AZURE_SCHEMAS_MISSING"
fi

# a running daemon: the recording in rounds through a FIFO
feed_rounds_start "$TMP/dev.rec"
# the same model, a window long enough for a loaded machine
sed 's/learning_window: 1s/learning_window: 1h/' "$TMP/a.yaml" >"$TMP/b.yaml"
iotsecd_start d "$TMP/b.yaml" --replay "$TMP/feed" --output "$TMP/live.jsonl"
ST=$TMP/d.stats
has() {
	[ "$(stat_get "$ST" "$1")" = "$2" ] ||
		{ echo "# $1: $(stat_get "$ST" "$1"), not $2"; return 1; }
}
n_alerts() { grep -o '"Name":"RuleAlert"' "$TMP/live.jsonl" | wc -l; }
n_ge() { [ "$(n_alerts)" -ge "$1" ]; }

ctl_relearn() {
	wait_for 10 has baseline.state enforcing || return 1
	touch "$TMP/go.1"
	wait_for 10 n_ge 3 || return 1
	"$CTL" --stats-file "$ST" baseline show >"$TMP/show2" || return 1
	grep -q '^state          enforcing$' "$TMP/show2" || return 1
	"$CTL" --stats-file "$ST" baseline relearn || return 1
	has baseline.state learning && has baseline.restarts 1 || return 1
	has baseline.entries 9 || return 1
	# the new tuples are learned now, and kept
	touch "$TMP/go.2"
	wait_for 10 has baseline.entries 12 || return 1
	"$CTL" --stats-file "$ST" baseline show >"$TMP/show3" || return 1
	sed 's/^/# /' "$TMP/show3"
	grep -q '^state          learning, [0-9]* s of learning left$' "$TMP/show3" &&
	grep -q '^window         3600 s from .*Z, [0-9]* s learned$' "$TMP/show3" &&
	grep -q '^not learned    0 alerted on by a rule or an indicator, 0 with a listed hash; deviations not itemised 0$' "$TMP/show3" &&
	grep -q '^listen      /usr/sbin/mosquitto tcp/4444 seen=2$' "$TMP/show3" &&
	[ "$(started a)" -ge "$(( $(date +%s%3N) - 120000 ))" ]
}
check iotsecctl_relearn_keeps_the_model ctl_relearn

ctl_reset() {
	"$CTL" --stats-file "$ST" baseline reset || return 1
	has baseline.entries 0 && has baseline.restarts 2 &&
		has baseline.state learning || return 1
	grep -q '^end 0 ' "$TMP/a.model" &&
		grep -q 'baseline: reset, the model emptied' "$TMP/d.log"
}
check iotsecctl_reset_empties_the_model ctl_reset

ctl_not_running() {
	touch "$TMP/stop"
	iotsecd_stop d
	! "$CTL" --stats-file "$ST" baseline reset 2>"$TMP/ctl.err" &&
		grep -q 'iotsecd is not running' "$TMP/ctl.err"
}
check iotsecctl_without_daemon_says_so ctl_not_running

conf f 1h 16
full() {
	local i
	for i in $(seq 100 140); do echo "exec $i 1 /opt/app$i"; done |
		"$EVGEN" "$TMP/many.rec" || return 1
	replay f "$TMP/many.rec" "$TMP/many.jsonl" || return 1
	alerts "$TMP/many.jsonl" >"$TMP/many.alerts"
	sed 's/^/# /' "$TMP/many.alerts"
	[ "$(grep -c '^p ' "$TMP/f.model")" = 16 ] &&
		grep -q '^full 1$' "$TMP/f.model" &&
		[ "$(wc -l <"$TMP/many.alerts")" = 1 ] &&
		grep -q '^baseline-full 1 the baseline is full (16 entries): learning stopped' "$TMP/many.alerts" &&
		[ "$(grep -c 'baseline: the baseline is full (16 entries): learning stopped' "$TMP/f.log")" = 1 ]
}
check full_model_stops_learning_and_says_so full

# an intruder active while learning: a rule alerts on /tmp/dropper, an
# indicator on /usr/bin/evil; neither is learned, both deviate after
conf p 1s 1000
mkdir -p "$TMP/prules"
cat >"$TMP/prules/r.yaml" <<'EOF'
rules:
  - name: tmp-exec
    event: exec
    match: { exe: /tmp/* }
EOF
echo /usr/bin/evil >"$TMP/evil.paths"
sed -i "s|  dir: \"\"|  dir: $TMP/prules|" "$TMP/p.yaml"
printf 'indicators:\n  paths: %s\n' "$TMP/evil.paths" >>"$TMP/p.yaml"
"$EVGEN" "$TMP/intruder.rec" <<'EOF'
exec 300 1 /tmp/dropper
exec 301 1 /usr/bin/evil
exec 302 1 /usr/bin/good
EOF
poison() {
	replay p "$TMP/intruder.rec" "$TMP/p1.jsonl" || return 1
	alerts "$TMP/p1.jsonl" | sed 's/^/# learning: /'
	"$CTL" baseline show "$TMP/p.model" | grep '^process' | sed 's/^/# /'
	"$BIN/iotsecd" -c "$TMP/p.yaml" \
		--replay <(after_window "$TMP/p.model" "$TMP/intruder.rec") \
		--output "$TMP/p2.jsonl" --stats-file "" 2>>"$TMP/p.log" || return 1
	alerts "$TMP/p2.jsonl" | sort >"$TMP/p2.alerts"
	sed 's/^/# after: /' "$TMP/p2.alerts"
	grep -q '^baseline-process 1 /tmp/dropper started by' "$TMP/p2.alerts" &&
		grep -q '^baseline-process 1 /usr/bin/evil started by' "$TMP/p2.alerts" &&
		! grep -q 'baseline-process 1 /usr/bin/good' "$TMP/p2.alerts"
}
check an_intruder_while_learning_is_not_learned poison

corrupt() {
	local s0 size
	s0=$(started a)
	size=$(stat -c %s "$TMP/a.model")
	replay a "$TMP/learn.rec" "$TMP/c0.jsonl" || return 1
	truncate -s $((size / 2)) "$TMP/a.model"
	replay a "$TMP/learn.rec" "$TMP/c1.jsonl" || return 1
	grep 'baseline:' "$TMP/a.log" | tail -n 2 | sed 's/^/# /'
	grep -q "baseline: $TMP/a.model:[0-9]*: truncated: no end record; a new learning window starts" "$TMP/a.log" || return 1
	[ -z "$(alerts "$TMP/c1.jsonl")" ] && grep -q '^ended 0$' "$TMP/a.model" || return 1
	printf 'iotsec-baseline 1\nstarted x\n' >"$TMP/a.model"
	replay a "$TMP/learn.rec" "$TMP/c2.jsonl" || return 1
	grep -q "baseline: $TMP/a.model:2: expected started, ended and full; a new learning window starts" "$TMP/a.log" &&
		[ "$(started a)" -ge "$s0" ]
}
check corrupt_model_file_new_window corrupt

no_sanitizer_reports() {
	! grep -E 'AddressSanitizer|LeakSanitizer|runtime error' "$TMP"/*.log
}
check no_sanitizer_reports no_sanitizer_reports

done_testing
