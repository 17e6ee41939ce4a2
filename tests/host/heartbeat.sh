#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The heartbeat (docs/events.md): iotsecd sends a Heartbeat extended event
# every messages.heartbeat, also when the module is not loaded (the host
# cannot load it: ModuleLoaded and Subscribed false, no kernel counters),
# numbered from 1, valid against the extended schema; 0 turns it off, and
# a SIGHUP that changes the interval takes effect.
#
#   iotsecd -f -c CFG --output OUT   (heartbeat: 1s)
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
bin=$build
[ -x "$build/san/iotsecd" ] && bin=$build/san
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/wait.sh"
. "$top/tests/lib/schemas.sh"
tmp=$(mktemp -d /tmp/iotsec-heartbeat.XXXXXX)
pid=
cleanup() { [ -z "$pid" ] || kill "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

echo "TAP version 13"
echo "1..5"

config() {
	cat >"$tmp/run.yaml" <<-EOC
	agent:
	  id: 9c647395-b913-4997-a732-a7fe7303b649
	messages:
	  statistics: 1h
	  heartbeat: $1
	EOC
}
beats() { grep -c '"Name":"Heartbeat"' "$tmp/out.jsonl" 2>/dev/null || true; }

config 1s
"$bin/iotsecd" -f -c "$tmp/run.yaml" --output "$tmp/out.jsonl" \
	--stats-file "" 2>"$tmp/log" &
pid=$!
check "three heartbeats in 10 s at 1 s" \
	eval 'wait_for 10 eval "[ \$(beats) -ge 3 ]"'

if res=$(python3 - "$tmp/out.jsonl" <<'EOP'
import json, sys
hbs = [e for line in open(sys.argv[1]) for e in json.loads(line)["Events"]
       if e["Name"] == "Heartbeat"]
bad = []
for e in hbs:
    if (e["EventType"], e["Category"]) != ("Operational", "Periodic"):
        bad.append("type %s/%s" % (e["EventType"], e["Category"]))
p = [e["Payload"][0] for e in hbs]
if [x["Sequence"] for x in p] != list(range(1, len(p) + 1)):
    bad.append("sequence %s" % [x["Sequence"] for x in p])
for x in p:
    if x["ModuleLoaded"] or x["Subscribed"] or "KernelGenerated" in x or \
       "EventMask" in x or "LastEventSequence" in x:
        bad.append("module state %s" % x)
        break
if p[-1]["AgentUptime"] < 1 or p[-1]["Uptime"] < p[-1]["AgentUptime"]:
    bad.append("uptimes %s" % p[-1])
print(json.dumps(p[-1], sort_keys=True))
sys.exit("; ".join(bad) if bad else 0)
EOP
); then
	ok "numbered from 1, no module: ModuleLoaded/Subscribed false, no kernel fields # $res"
else
	notok "heartbeat payloads: $res"
fi

config 0s
kill -HUP "$pid"
wait_for 10 grep -q "configuration reloaded" "$tmp/log" || true
sleep 1
before=$(beats)
sleep 3
check "messages.heartbeat: 0s by SIGHUP stops them ($before before)" \
	test "$(beats)" = "$before"
kill -TERM "$pid"
wait "$pid" || true
pid=

grep -q '"Name":"Heartbeat"' "$tmp/out.jsonl" &&
	sed -n '/"Name":"Heartbeat"/p' "$tmp/out.jsonl" >"$tmp/hb.jsonl"
if ! azure_schemas "$top"; then
	ok "# SKIP $AZURE_SCHEMAS_MISSING"
elif [ ! -f "$build/node/node_modules/ajv-formats/package.json" ]; then
	ok "# SKIP ajv not installed in $build/node (tests/host/schema-messages.sh installs it)"
elif res=$(NODE_PATH=$build/node/node_modules node \
	"$top/tests/lib/validate-messages.js" "$AZURE_SCHEMAS" \
	"$top/schemas/iotsec-extended-message_v1_0.json" "$tmp/hb.jsonl" 2>&1); then
	ok "every heartbeat message valid against the extended schema # $res"
else
	notok "invalid heartbeat messages: $(echo "$res" | tail -n 5 | cut -c1-600)"
fi

config 1s
sed -i 's/heartbeat: 1s/heartbeat: 0s/' "$tmp/run.yaml"
: >"$tmp/out.jsonl"
"$bin/iotsecd" -f -c "$tmp/run.yaml" --output "$tmp/out.jsonl" \
	--stats-file "" 2>"$tmp/log" &
pid=$!
sleep 7
kill -TERM "$pid"
wait "$pid" || true
pid=
check "messages.heartbeat: 0s sends none in 7 s" test "$(beats)" = 0
[ "$failed" = 0 ]
