#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The rules stage in iotsecd, with the default pack: a synthetic recording
# replayed (iotsecd --replay --output) gives RuleAlert events that validate
# against the project's extended schema (ajv, next to Azure's schemas), at
# most two per rule (the first hit at once, the rest of the interval in
# one), whose hit counts add up to the triggering events the same output
# carries; with the rules off there is none, and a broken rules file stops
# the start with file:line:col.
#
#   synth --> recording --> iotsecd --replay --output FILE --> ajv, python
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
bin=$build
[ -x "$build/san/iotsecd" ] && bin=$build/san
. "$top/tests/lib/schemas.sh"
. "$top/tests/lib/tap.sh"
tmp=$(mktemp -d /tmp/iotsec-rules.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

echo "TAP version 13"
echo "1..6"
"$build/bench/synth" "$tmp/mixed.rec" 20000 64 64
conf() {	# conf NAME ENABLED DIR
	cat >"$tmp/$1.yaml" <<-EOC
	agent:
	  id: 9c647395-b913-4997-a732-a7fe7303b649
	messages:
	  statistics: 1h
	rules:
	  enabled: $2
	  dir: $3
	  aggregate_interval: 1h
	EOC
}
conf on true "$top/config/rules"
conf off false "$top/config/rules"
for c in on off; do
	"$bin/iotsecd" -c "$tmp/$c.yaml" --replay "$tmp/mixed.rec" \
		--output "$tmp/$c.jsonl" --stats-file "" 2>"$tmp/$c.log"
done

# rule -> [alerts, sum of HitCount]; event name -> events (with HitCount)
cat >"$tmp/count.py" <<'EOP'
import json, sys
alerts, events = {}, {}
for line in open(sys.argv[1]):
    for e in json.loads(line)["Events"]:
        if e["Name"] == "RuleAlert":
            p = e["Payload"][0]
            a = alerts.setdefault(p["RuleName"], [0, 0, set()])
            a[0] += 1
            a[1] += p["HitCount"]
            a[2].add(p["TriggeringEvent"]["Name"])
        else:
            for p in e["Payload"]:
                n = int(p.get("ExtraDetails", {}).get("HitCount", 1))
                events[e["Name"]] = events.get(e["Name"], 0) + n
for r, (n, hits, trig) in sorted(alerts.items()):
    print("alert", r, n, hits, ",".join(sorted(trig)))
for name, n in sorted(events.items()):
    print("event", name, n)
EOP
python3 "$tmp/count.py" "$tmp/on.jsonl" >"$tmp/on.count"
python3 "$tmp/count.py" "$tmp/off.jsonl" >"$tmp/off.count"

# the synthetic stream: /etc/passwd written by "sh" (not an account tool),
# ptrace attaches by non-debuggers, of pid 1 (root's) by uid 1000 too; its
# module loads are at boot (1 s), its credential changes from euid 0
want() {	# want RULE EVENTNAME: 2 alerts whose hits = the events
	local r=$1 ev=$2 got n
	got=$(awk -v r="$r" '$1 == "alert" && $2 == r { print $3, $4, $5 }' "$tmp/on.count")
	n=$(awk -v e="$ev" '$1 == "event" && $2 == e { print $3 }' "$tmp/on.count")
	[ -n "$n" ] && [ "$n" -gt 1 ] && [ "$got" = "2 $n $ev" ] ||
		{ echo "# $r: alerts/hits/trigger '$got', $ev events '$n'"; return 1; }
}
check "account-file-write: 2 alerts, hit counts = FileChange events" \
	want account-file-write FileChange
check "ptrace-by-non-debugger: 2 alerts, hit counts = ProcessTrace events" \
	want ptrace-by-non-debugger ProcessTrace
rules=$(awk '$1 == "alert" { print $2 }' "$tmp/on.count" | tr '\n' ' ')
check "no other rule fires on the normal stream (got: $rules)" \
	test "$rules" = "account-file-write ptrace-by-non-debugger ptrace-of-other-user "
check "rules.enabled: false: no alert" \
	sh -c "! grep -q '^alert' '$tmp/off.count'"

azure_schemas "$top" || { ok "# SKIP $AZURE_SCHEMAS_MISSING"; ok "# SKIP"; exit 0; }
export NODE_PATH=$build/node/node_modules
if res=$(node "$top/tests/lib/validate-messages.js" "$AZURE_SCHEMAS" \
	"$top/schemas/iotsec-extended-message_v1_0.json" "$tmp/on.jsonl" 2>&1); then
	ok "every message validates, RuleAlert ones included: $res"
else
	notok "schema: $(echo "$res" | tail -n 3 | cut -c1-600)"
fi

mkdir "$tmp/bad"
printf 'rules:\n  - name: x\n    event: exec\n    match: { rport: http }\n' \
	>"$tmp/bad/a.yaml"
conf bad true "$tmp/bad"
if ! "$bin/iotsecd" -c "$tmp/bad.yaml" --replay "$tmp/mixed.rec" \
	--output /dev/null --stats-file "" 2>"$tmp/bad.log" &&
   grep -q "$tmp/bad/a.yaml:4:21: expected a port or a range, got 'http'" "$tmp/bad.log"; then
	ok "a broken rules file stops the start, with file:line:col"
else
	notok "broken rules: $(cat "$tmp/bad.log")"
fi
[ "$failed" = 0 ]
