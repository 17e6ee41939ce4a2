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
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
ko=${IOTSEC_KO:-$top/kmod/iotsec.ko}
ref=${IOTSEC_AZURE_SCHEMAS:-$top/../shared/reference/azure-security-message}
[ -d "$ref" ] || ref=/work/shared/reference/azure-security-message
tmp=$(mktemp -d /tmp/iotsec-e2e.XXXXXX)
mark=iotsec-e2e-$$
broker= sub= daemon= recorder= tailer= jtailer=

cleanup() {
	set +e
	for p in $daemon $recorder $tailer $jtailer $sub $broker; do
		kill "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	grep -q '^iotsec ' /proc/modules && rmmod iotsec
	if [ -n "${KEEP:-}" ]; then echo "# kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

n=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); echo "not ok $n $*"; }
bail() { notok "$*"; for f in "$tmp"/*.log; do sed "s|^|# $(basename "$f"): |" "$f" | tail -n 20; done; exit 1; }
# wait_for SECONDS CMD: poll a condition, never a fixed sleep
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do
		eval "$1" && return 0
		sleep 0.2
	done
	return 1
}

echo "TAP version 13"

insmod "$ko" || bail "insmod $ko"
ok "module loaded"

chmod 755 "$tmp"	# the broker drops to the mosquitto user
"$top/scripts/gen-certs.sh" "$tmp/certs" e2e >/dev/null 2>&1 ||
	bail "gen-certs.sh failed"
cat >"$tmp/mosquitto.conf" <<EOC
listener 8883 127.0.0.1
cafile $tmp/certs/ca.pem
certfile $tmp/certs/server.pem
keyfile $tmp/certs/server.key
require_certificate true
use_identity_as_username true
allow_anonymous false
persistence false
EOC
mosquitto -c "$tmp/mosquitto.conf" >"$tmp/mosquitto.log" 2>&1 &
broker=$!
tls="-h localhost -p 8883 --cafile $tmp/certs/ca.pem --cert $tmp/certs/client.pem --key $tmp/certs/client.key"
wait_for 10 "mosquitto_pub $tls -t probe -m x 2>/dev/null" ||
	bail "mosquitto did not start"

mosquitto_sub $tls -q 1 -v -t 'iotsec/#' >"$tmp/sub.log" 2>&1 &
sub=$!
wait_for 10 "mosquitto_pub $tls -t iotsec/probe -m probe && grep -q '^iotsec/probe probe' $tmp/sub.log" ||
	bail "mosquitto_sub did not subscribe"
ok "mosquitto (TLS, client certificates required) and mosquitto_sub running"

cat >"$tmp/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: localhost
  port: 8883
  tls: true
  ca_file: $tmp/certs/ca.pem
  cert_file: $tmp/certs/client.pem
  key_file: $tmp/certs/client.key
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
  path: $tmp/spool
EOC
"$build/iotsecd" -f -c "$tmp/iotsecd.yaml" --stats-file "$tmp/stats.json" \
	>"$tmp/iotsecd.log" 2>&1 &
daemon=$!
wait_for 30 "grep -q '\"module\":true,\"mqtt\":\"connected\"' $tmp/stats.json 2>/dev/null" ||
	bail "iotsecd did not subscribe and connect"
ok "iotsecd subscribed to the module and connected to the broker over TLS"

status=$("$build/iotsecctl" --stats-file "$tmp/stats.json" status 2>&1) || true
if echo "$status" | grep -q '^module *loaded' &&
   echo "$status" | grep -q '^subscribers *[1-9]' &&
   echo "$status" | grep -q "^iotsecd *running, pid $daemon"; then
	ok "iotsecctl status: module loaded, iotsecd subscribed and running"
else
	notok "iotsecctl status: $(echo "$status" | tr '\n' '|')"
fi

# a recording of the same activity, replayed below without the module
"$build/iotsecctl" record "$tmp/rec.bin" --seconds 600 2>"$tmp/record.log" &
recorder=$!
# and live views of it, human-readable and JSON
"$build/iotsecctl" tail --seconds 600 >"$tmp/tail.txt" 2>&1 &
tailer=$!
"$build/iotsecctl" tail --json --seconds 600 >"$tmp/tail.json" 2>&1 &
jtailer=$!
wait_for 10 "\"$build/iotsecctl\" status 2>/dev/null | grep -q '^subscribers *4'" ||
	bail "iotsecctl record and tail did not subscribe"

# What the test causes: 5 identical execs, 3 identical connections.
for i in 1 2 3 4 5; do
	/bin/true "$mark"
done
bash -c 'for i in 1 2 3; do exec 3<>/dev/tcp/127.0.0.1/8883; exec 3>&-; done' "$mark-conn"

# wait for the high (3 s) and low (3 s) queues to go out
wait_for 30 "grep -q 'true $mark' $tmp/sub.log && grep -q 'ProcessTerminate' $tmp/sub.log && grep -q '$mark-conn' $tmp/sub.log" ||
	bail "the events did not arrive"
kill -INT "$recorder" "$tailer" "$jtailer"
wait "$recorder" "$tailer" "$jtailer" || true
recorder= tailer= jtailer=
if [ "$(grep -c "^exec .*argv=/bin/true $mark\$" "$tmp/tail.txt")" = 5 ]; then
	ok "iotsecctl tail showed the 5 execs"
else
	notok "iotsecctl tail: $(grep -c "$mark" "$tmp/tail.txt") lines with the mark; $(head -n 3 "$tmp/tail.txt" | tr '\n' '|')"
fi
if [ "$(grep -c "\"CommandLine\":\"/bin/true $mark\"" "$tmp/tail.json")" = 5 ]; then
	ok "iotsecctl tail --json showed the 5 execs as ProcessCreate JSON"
else
	notok "iotsecctl tail --json: $(head -c 600 "$tmp/tail.json")"
fi
kill -TERM "$daemon"
rc=0
wait "$daemon" || rc=$?
daemon=
[ $rc = 0 ] && ok "iotsecd flushed and exited on SIGTERM" ||
	notok "iotsecd exited with status $rc"
wait_for 10 "grep -q MessageStatistics $tmp/sub.log" &&
	grep -q '"Name":"DroppedEventsStatistics"' "$tmp/sub.log" &&
	ok "the operational statistics were published on the way out" ||
	notok "no DroppedEventsStatistics/MessageStatistics published"
kill "$sub"; wait "$sub" 2>/dev/null || true; sub=

grep -v '^iotsec/probe ' "$tmp/sub.log" | cut -d' ' -f2- >"$tmp/messages.jsonl"
export NODE_PATH=$build/node/node_modules
if res=$(node "$top/tests/lib/validate-messages.js" "$ref" \
	"$top/schemas/iotsec-extended-message_v1_0.json" "$tmp/messages.jsonl" 2>&1); then
	ok "every published message valid (ajv): $res"
else
	notok "invalid messages: $(echo "$res" | tail -n 5 | cut -c1-800)"
fi

pid=$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p' "$tmp/stats.json")
cat >"$tmp/expect.json" <<EOC
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
TAP_START=$((n + 1)) node "$top/tests/lib/e2e-check.js" "$tmp/sub.log" "$tmp/expect.json" >"$tmp/check.out" 2>&1 || true
cat "$tmp/check.out"
n=$((n + $(grep -c '^\(not \)\?ok ' "$tmp/check.out")))

# the recording, replayed without the kernel, holds the same execs
printf 'agent:\n  id: 9c647395-b913-4997-a732-a7fe7303b649\nmessages:\n  statistics: 1h\n' >"$tmp/replay.yaml"
if "$build/iotsecd" -c "$tmp/replay.yaml" --replay "$tmp/rec.bin" \
	--output "$tmp/replayed.jsonl" --stats-file "" 2>"$tmp/replay.log" &&
   grep -q "\"CommandLine\":\"/bin/true $mark\",\"ExtraDetails\":{\"HitCount\":\"5\"" "$tmp/replayed.jsonl"; then
	ok "iotsecctl record + iotsecd --replay: the 5 execs again, in one record ($(cat "$tmp/record.log"))"
else
	notok "replay of the recording: $(cat "$tmp/record.log" "$tmp/replay.log" | tr '\n' '|')"
fi

rmmod iotsec && ok "module unloaded" || notok "rmmod iotsec"
echo "1..$n"
