#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Every message iotsecd generates validates against Azure's schemas (ajv,
# as Azure's own tests use them) or, for the extended message, against the
# project's schema; and no message is above the configured size.
#
#   synth --> recording --> iotsecd --replay --output FILE --> ajv
#
# ajv and ajv-formats come from the npm registry into $BUILD/node (once).
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
# the sanitizer builds when there are (make check-host), else the plain ones
bin=$build
[ -x "$build/san/iotsecd" ] && [ -x "$build/san/iotsecctl" ] && bin=$build/san
. "$top/tests/lib/schemas.sh"
. "$top/tests/lib/tap.sh"
tmp=$(mktemp -d /tmp/iotsec-schema.XXXXXX)
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT

echo "TAP version 13"
echo "1..10"
azure_schemas "$top" || skip_all 10 "$AZURE_SCHEMAS_MISSING"
ref=$AZURE_SCHEMAS

if [ ! -f "$build/node/node_modules/ajv-formats/package.json" ]; then
	mkdir -p "$build/node"
	(cd "$build/node" && npm install --no-audit --no-fund --silent \
		ajv@8 ajv-formats@2 >/dev/null 2>&1) || true
fi
export NODE_PATH=$build/node/node_modules
validate() { node "$top/tests/lib/validate-messages.js" "$ref" \
	"$top/schemas/iotsec-extended-message_v1_0.json" "$@"; }

if out=$(validate --self-test 2>&1); then
	ok "ajv accepts Azure's valid samples and refuses the invalid ones # $out"
else
	notok "ajv self-test with Azure's samples: $out"
fi

# run NAME MAXSIZE SYNTH-ARGS...: replay a synthetic stream, validate
run() {
	local name=$1 max=$2
	shift 2
	"$build/bench/synth" "$tmp/$name.rec" "$@"
	cat >"$tmp/$name.yaml" <<-EOC
	agent:
	  id: 9c647395-b913-4997-a732-a7fe7303b649
	events:
	  fork: { priority: low }
	messages:
	  max_size: $max
	  statistics: 1h
	EOC
	"$bin/iotsecd" -c "$tmp/$name.yaml" --replay "$tmp/$name.rec" \
		--output "$tmp/$name.jsonl" --stats-file "" 2>"$tmp/$name.log"
	local msgs big
	msgs=$(wc -l <"$tmp/$name.jsonl")
	if res=$(validate "$tmp/$name.jsonl" 2>&1); then
		ok "$name: $res"
	else
		notok "$name: $(echo "$res" | tail -n 3 | cut -c1-600)"
	fi
	big=$(awk -v max="$max" 'length($0) > max { n++ } END { print n + 0 }' \
		"$tmp/$name.jsonl")
	if [ "$big" = 0 ] && [ "$msgs" -gt 0 ]; then
		ok "$name: $msgs messages, none above $max bytes"
	else
		notok "$name: $big of $msgs messages above $max bytes"
	fi
}

run mixed 262144 20000 64 64
run hostile 16384 5000 500 32 hostile
run unaggregated 4096 3000 3000 16

# the statistics and every event name the stream should give are there
missing=
for name in DroppedEventsStatistics MessageStatistics ProcessCreate \
	    ProcessTerminate ConnectionCreate FileChange CredentialsChange \
	    KernelModuleLoad ProcessTrace; do
	grep -q "\"Name\":\"$name\"" "$tmp/mixed.jsonl" || missing="$missing $name"
done
if [ -z "$missing" ]; then
	ok "mixed: every expected event name present"
else
	notok "mixed: missing$missing"
fi

# the hostile bytes reached the JSON, escaped, not silently dropped
if grep -q 'https://example.com/[0-9]*\\\\xff\\\\xfe\\"},{\\u0001' "$tmp/hostile.jsonl"; then
	ok "hostile: invalid UTF-8 and control bytes kept as visible escapes"
else
	notok "hostile: escaped bytes not found: $(grep -o 'example.com/[^"]*"' "$tmp/hostile.jsonl" | head -n 1)"
fi

# replayed events keep the recording's wall-clock time (synth: 2023-11-14)
if grep -q '"TimestampUTC":"2023-11-14T22:1' "$tmp/unaggregated.jsonl" &&
   ! grep -q '"TimestampUTC":"20[3-9]' "$tmp/unaggregated.jsonl" &&
   [ "$(grep -c '"TimestampUTC":"2023-11-1' "$tmp/unaggregated.jsonl")" -gt 200 ]; then
	ok "replay keeps the recorded wall-clock times"
else
	notok "replay times: $(grep -o '"TimestampUTC":"[^"]*"' "$tmp/unaggregated.jsonl" | sort | uniq -c | head -n 3)"
fi
