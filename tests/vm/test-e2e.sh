#!/bin/bash
# SPDX-License-Identifier: MIT
#
# End to end, inside the lab (root):
#
#   this test --exec/connect--> kernel (iotsec.ko) --netlink--> iotsecd
#        ^                                                        | MQTT
#        |                                                        v
#   mosquitto_sub -v <---- mosquitto (localhost:8883) <-----------+
#                          TLS, client certificates required (CA, server
#                          and device certificates from scripts/gen-certs.sh)
#
# It runs marked processes and connections, then finds exactly those
# events in what mosquitto_sub received, aggregated as configured, every
# message valid against Azure's schemas (ajv, from $BUILD/node, installed
# on the host by `make node-deps`).
set -eu
. "$(dirname "$0")/../lib/vm.sh"
. "$TOP/tests/lib/schemas.sh"
mark=iotsec-e2e-$$
tls="-h localhost -p 8883 --cafile $TMP/certs/ca.pem --cert $TMP/certs/client.pem --key $TMP/certs/client.key"

bail() {
	not_ok "$*"
	for f in "$TMP"/*.log; do
		sed "s|^|# $(basename "$f"): |" "$f" | tail -n 20
	done
	exit 1
}
# bg CMD...: in the background, stopped at exit; its pid in $!
bg() { "$@" & PIDS="$PIDS $!"; }

echo "TAP version 13"

insmod "$KO" || bail "insmod $KO"
ok "module loaded"

"$TOP/scripts/gen-certs.sh" "$TMP/certs" e2e >/dev/null 2>&1 ||
	bail "gen-certs.sh failed"
tls_conf "$TMP/certs" "require_certificate true" \
	"use_identity_as_username true" >"$TMP/tls.conf"
broker_start mqtt "" "$TMP/tls.conf" 8883 || bail "mosquitto did not start"

bg mosquitto_sub $tls -q 1 -v -t 'iotsec/#' >"$TMP/sub.log" 2>&1
sub=$!
wait_for 10 eval "mosquitto_pub $tls -t iotsec/probe -m probe && grep -q '^iotsec/probe probe' $TMP/sub.log" ||
	bail "mosquitto_sub did not subscribe"
ok "mosquitto (TLS, client certificates required) and mosquitto_sub running"

cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: localhost
  port: 8883
  tls: true
  ca_file: $TMP/certs/ca.pem
  cert_file: $TMP/certs/client.pem
  key_file: $TMP/certs/client.key
  device_id: e2e
  topic: "iotsec/{device_id}/{type}"
priorities:
  high: 3s
  low: 3s
events:
  exec: { priority: high, aggregate: true }
  exit: { priority: low, aggregate: true }
  connect: { priority: high, aggregate: true }
  cred: { priority: alert }
messages:
  statistics: 1h
log:
  level: debug
spool:
  path: $TMP/spool
EOC
iotsecd_start d "$TMP/iotsecd.yaml"
daemon=$(dpid d)
wait_for 30 grep -q '"module":true,"mqtt":"connected"' "$TMP/d.stats" ||
	bail "iotsecd did not subscribe and connect"
ok "iotsecd subscribed to the module and connected to the broker over TLS"

status=$("$BIN/iotsecctl" --stats-file "$TMP/d.stats" status 2>&1) || true
if echo "$status" | grep -q '^module *loaded' &&
   echo "$status" | grep -q '^subscribers *[1-9]' &&
   echo "$status" | grep -q "^iotsecd *running, pid $daemon"; then
	ok "iotsecctl status: module loaded, iotsecd subscribed and running"
else
	not_ok "iotsecctl status: $(echo "$status" | tr '\n' '|')"
fi

# a recording of the same activity, replayed below without the module
bg "$BIN/iotsecctl" record "$TMP/rec.bin" --seconds 600 2>"$TMP/record.log"
recorder=$!
# and live views of it, human-readable and JSON
bg "$BIN/iotsecctl" tail --seconds 600 >"$TMP/tail.txt" 2>&1
tailer=$!
bg "$BIN/iotsecctl" tail --json --seconds 600 >"$TMP/tail.json" 2>&1
jtailer=$!
wait_for 10 eval "'$BIN/iotsecctl' status | grep -q '^subscribers *4'" ||
	bail "iotsecctl record and tail did not subscribe"

# What the test causes: 5 identical execs, 3 identical connections.
for i in 1 2 3 4 5; do
	/bin/true "$mark"
done
bash -c 'for i in 1 2 3; do exec 3<>/dev/tcp/127.0.0.1/8883; exec 3>&-; done' "$mark-conn"

# wait for the high (3 s) and low (3 s) queues to go out
wait_for 30 eval "grep -q 'true $mark' $TMP/sub.log && grep -q 'ProcessTerminate' $TMP/sub.log && grep -q '$mark-conn' $TMP/sub.log" ||
	bail "the events did not arrive"
kill -INT "$recorder" "$tailer" "$jtailer"
wait "$recorder" "$tailer" "$jtailer" || true
pid_forget "$recorder"; pid_forget "$tailer"; pid_forget "$jtailer"
if [ "$(grep -c "^exec .*argv=/bin/true $mark\$" "$TMP/tail.txt")" = 5 ]; then
	ok "iotsecctl tail showed the 5 execs"
else
	not_ok "iotsecctl tail: $(grep -c "$mark" "$TMP/tail.txt") lines with the mark; $(head -n 3 "$TMP/tail.txt" | tr '\n' '|')"
fi
if [ "$(grep -c "\"CommandLine\":\"/bin/true $mark\"" "$TMP/tail.json")" = 5 ]; then
	ok "iotsecctl tail --json showed the 5 execs as ProcessCreate JSON"
else
	not_ok "iotsecctl tail --json: $(head -c 600 "$TMP/tail.json")"
fi
iotsecd_stop d TERM
[ "$IOTSECD_RC" = 0 ] && ok "iotsecd flushed and exited on SIGTERM" ||
	not_ok "iotsecd exited with status $IOTSECD_RC"
wait_for 10 grep -q MessageStatistics "$TMP/sub.log" &&
	grep -q '"Name":"DroppedEventsStatistics"' "$TMP/sub.log" &&
	ok "the operational statistics were published on the way out" ||
	not_ok "no DroppedEventsStatistics/MessageStatistics published"
kill "$sub"; wait "$sub" 2>/dev/null || true; pid_forget "$sub"

# The kernel's accounting as iotsecd reports it (tests/lib/kernel-acct.py).
acct() { python3 "$TOP/tests/lib/kernel-acct.py" "$@"; }
if res=$(acct "$TMP/d.stats" first 2>&1); then
	ok "iotsecd's kernel accounting closes: $res"
else
	not_ok "iotsecd's kernel accounting: $res"
fi

grep -v '^iotsec/probe ' "$TMP/sub.log" | cut -d' ' -f2- >"$TMP/messages.jsonl"
export NODE_PATH=$BUILD/node/node_modules
# A guest without node (the ARM lab's root): the messages and the
# expectations below go to LAB_OUT/host-check/NAME, and the host checks
# them with the same ajv and e2e-check.js after the run
# (tests/lib/host-check.sh, called by tests/run-kernels.sh).
hostcheck=
if ! command -v node >/dev/null && [ -n "${LAB_OUT:-}" ]; then
	hostcheck=$LAB_OUT/host-check/vm-${IOTSEC_KERNEL:+$IOTSEC_KERNEL-}test-e2e
	mkdir -p "$hostcheck"
	cp "$TMP/messages.jsonl" "$TMP/sub.log" "$hostcheck/"
	n=$(grep -c . "$TMP/messages.jsonl" || true)
	[ "$n" -gt 0 ] && ok "$n published messages kept for ajv on the host" ||
		not_ok "no published message to check"
elif ! azure_schemas "$TOP"; then
	skip "every published message valid (ajv)" "$AZURE_SCHEMAS_MISSING"
elif res=$(node "$TOP/tests/lib/validate-messages.js" "$AZURE_SCHEMAS" \
	"$TOP/schemas/iotsec-extended-message_v1_0.json" "$TMP/messages.jsonl" 2>&1); then
	ok "every published message valid (ajv): $res"
else
	not_ok "invalid messages: $(echo "$res" | tail -n 5 | cut -c1-800)"
fi

pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$TMP/d.stats")
cat >"$TMP/expect.json" <<EOC
{ "daemon_pid": ${pid:-0}, "checks": [
  { "what": "5 execs of /bin/true $mark aggregate", "name": "ProcessCreate",
    "match": { "CommandLine": "true $mark", "Executable": "/true" },
    "hits": 5, "max_records": 2, "topic_suffix": "/e2e/security" },
  { "what": "their 5 exits aggregate", "name": "ProcessTerminate",
    "match": { "Executable": "/true", "ExitStatus": 0 },
    "hits": 5, "max_records": 2 },
  { "what": "3 connections to 127.0.0.1:8883 aggregate", "name": "ConnectionCreate",
    "match": { "CommandLine": "$mark-conn", "Direction": "Out",
               "RemoteAddress": "127.0.0.1", "RemotePort": "8883", "Protocol": "TCP" },
    "hits": 3, "max_records": 2 }
] }
EOC
if [ -n "$hostcheck" ]; then
	cp "$TMP/expect.json" "$hostcheck/"
else
	TAP_START=$((tap_n + 1)) node "$TOP/tests/lib/e2e-check.js" "$TMP/sub.log" "$TMP/expect.json" >"$TMP/check.out" 2>&1 || true
	cat "$TMP/check.out"
	tap_n=$((tap_n + $(grep -c '^\(not \)\?ok ' "$TMP/check.out" || true)))
	tap_fail=$((tap_fail + $(grep -c '^not ok ' "$TMP/check.out" || true)))
fi

# the recording, replayed without the kernel, holds the same execs
printf 'agent:\n  id: 9c647395-b913-4997-a732-a7fe7303b649\nmessages:\n  statistics: 1h\n' >"$TMP/replay.yaml"
if "$BIN/iotsecd" -c "$TMP/replay.yaml" --replay "$TMP/rec.bin" \
	--output "$TMP/replayed.jsonl" --stats-file "$TMP/replay.stats" 2>"$TMP/replay.log" &&
   grep -q "\"CommandLine\":\"/bin/true $mark\",\"ExtraDetails\":{\"HitCount\":\"5\"" "$TMP/replayed.jsonl"; then
	ok "iotsecctl record + iotsecd --replay: the 5 execs again, in one record ($(cat "$TMP/record.log"))"
else
	not_ok "replay of the recording: $(cat "$TMP/record.log" "$TMP/replay.log" | tr '\n' '|')"
fi

# the recorder subscribed after iotsecd: what went before is its BEFORE
if res=$(acct "$TMP/replay.stats" late 2>&1); then
	ok "the recording's kernel accounting closes, with BEFORE: $res"
else
	not_ok "the recording's kernel accounting: $res"
fi

rmmod iotsec && ok "module unloaded" || not_ok "rmmod iotsec"
done_testing
