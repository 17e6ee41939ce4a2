#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Every event the SDK server, the login watcher and the snapshots
# produce validates against Azure's schemas with ajv, as Azure
# validates them (custom SDK events: against iotsec's own schema).
#
#   host tests (IOTSEC_EVENT_DUMP=dir) --> dir/*.json --> sdk-validate.js
#        sdk_server, login, snapshot     (envelope + ajv)
#
# ajv and ajv-formats come from the npm registry into $BUILD/node (once);
# without node or npm the test is skipped.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
. "$top/tests/lib/schemas.sh"
azure_schemas "$top"
ref=$AZURE_SCHEMAS
validate="node $top/tests/schema/sdk-validate.js $build/node/node_modules $ref \
	$top/schemas/iotsec-sdk-event_v1_0.json"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$top/tests/lib/tap.sh"

echo "TAP version 13"
echo "1..9"
command -v node >/dev/null || skip_all 9 "node not installed"
[ -z "$AZURE_SCHEMAS_MISSING" ] || skip_all 9 "$AZURE_SCHEMAS_MISSING"
if [ ! -f "$build/node/node_modules/ajv-formats/package.json" ]; then
	(mkdir -p "$build/node" && cd "$build/node" &&
	 npm install --no-audit --no-fund --silent ajv@8 ajv-formats@2 \
		>/dev/null 2>&1) || true
fi
[ -f "$build/node/node_modules/ajv-formats/package.json" ] ||
	skip_all 9 "ajv not installable (no npm registry?)"

# Produce the events: the host tests write what they see.
mkdir -p "$tmp/ev"
for t in sdk_server login snapshot; do
	if [ ! -x "$build/tests/host/$t" ]; then
		echo "# $build/tests/host/$t missing"
		continue
	fi
	IOTSEC_EVENT_DUMP=$tmp/ev IOTSEC_BUILD=$build \
		"$build/tests/host/$t" >"$tmp/$t.log" 2>&1 ||
		echo "# $t reported failures (its own results count them)"
done

check_events() {	# check_events DESCRIPTION GLOB...
	local desc=$1 files=()
	shift
	for g in "$@"; do
		for f in "$tmp"/ev/$g; do [ -f "$f" ] && files+=("$f"); done
	done
	if [ ${#files[@]} = 0 ]; then
		notok "$desc: no events were produced"
		return
	fi
	if $validate "${files[@]}" >"$tmp/out" 2>&1; then
		ok "$desc # ${#files[@]} events"
	else
		notok "$desc"
		grep -v '^ok ' "$tmp/out" | head -n 20 | sed 's/^/# /'
	fi
}

check_events "SDK events (Azure kinds) validate against Azure's schemas" 'sdk-azure-*'
check_events "SDK custom events validate against iotsec-sdk-event_v1_0.json" 'sdk-custom-*'
check_events "Login events (wtmp, btmp) validate" 'login-*'
check_events "ListeningPorts snapshots validate" 'snapshot-ports-*' 'snapshot-real-ports-*'
check_events "LocalUsers snapshots validate" 'snapshot-users-*' 'snapshot-real-users-*'
check_events "SystemInformation snapshots validate" 'snapshot-sysinfo-*' 'snapshot-real-sysinfo-*'
check_events "OSBaseline snapshots validate" 'snapshot-baseline-*' 'snapshot-real-baseline-*'

# The check can fail: events broken the way a bug would break them.
mkdir -p "$tmp/bad"
echo '{"EventType":"Security","Category":"Triggered","Name":"Login","IsEmpty":false,"PayloadSchemaVersion":"1.0","Payload":[{"ProcessId":1,"UserName":"a","Operation":"Login","Executable":""}]}' >"$tmp/bad/no-result.json"
echo '{"EventType":"Security","Category":"Periodic","Name":"ListeningPorts","IsEmpty":false,"PayloadSchemaVersion":"1.0","Payload":[{"LocalPort":22,"Protocol":"TCP"}]}' >"$tmp/bad/port-number.json"
echo '{"EventType":"Security","Category":"Triggered","Name":"Login","IsEmpty":false,"PayloadSchemaVersion":"1.0","Payload":[{"ProcessId":1,"UserName":"a","Operation":"Login","Executable":"","Result":"Success","RemoteAddress":"host.example"}]}' >"$tmp/bad/hostname-address.json"
echo '{"EventType":"Operational","Category":"Periodic","Name":"DroppedEventsStatistics","IsEmpty":false,"PayloadSchemaVersion":"1.0","Payload":[{"Queue":"Alert","CollectedEvents":1,"DroppedEvents":0}]}' >"$tmp/bad/queue-name.json"
echo '{"EventType":"Security","Category":"Triggered","Name":"Door","IsEmpty":false,"PayloadSchemaVersion":"1.0","Payload":[{"a":"b"}]}' >"$tmp/bad/custom-unstamped.json"
if $validate --expect-invalid "$tmp"/bad/*.json >"$tmp/out" 2>&1; then
	ok "ajv refuses broken events (5 negative controls)"
else
	notok "ajv refuses broken events"
	grep '^ok ' "$tmp/out" | sed 's/^/# accepted: /'
fi

# The SDK's own validator (forwarder/sources/sdk_msg.c, a transcription of the
# schemas) accepts every Security event of Azure's valid samples.
mkdir -p "$tmp/req"
node -e '
	const fs = require("fs");
	const s = JSON.parse(fs.readFileSync(process.argv[1]));
	let i = 0;
	for (const m of s.valid)
		for (const e of m.Events) {
			if (e.EventType !== "Security" || e.IsEmpty) continue;
			const ev = {};
			for (const k of ["EventType", "Category", "Name", "IsEmpty",
					 "PayloadSchemaVersion", "Payload"])
				if (k in e) ev[k] = e[k];
			fs.writeFileSync(process.argv[2] + "/" + (i++) + ".json",
				JSON.stringify({ v: 1, op: "event", event: ev }));
		}
' "$ref/samples.json" "$tmp/req"
nreq=$(find "$tmp/req" -name '*.json' | wc -l)
if [ "$nreq" -gt 0 ] && "$build/tools/sdk-check" "$tmp"/req/*.json >"$tmp/out" 2>&1; then
	ok "the SDK validator accepts the Security events of Azure's valid samples # $nreq"
else
	notok "the SDK validator accepts the Security events of Azure's valid samples"
	head -n 20 "$tmp/out" | sed 's/^/# /'
fi
