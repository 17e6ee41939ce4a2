#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The host's half of a VM test whose guest has no node (the ARM lab's root):
# tests/vm/test-e2e.sh leaves what mosquitto_sub received (sub.log, and the
# messages alone in messages.jsonl) and its expectations (expect.json) in
# LAB_OUT/host-check/NAME; this checks them as the guest would have, every
# message against Azure's schemas with ajv (tests/lib/validate-messages.js)
# and the events against the expectations (tests/lib/e2e-check.js), with
# node and ajv of the amd64 build (BUILD/node, make node-deps).
#
# usage: host-check.sh DIR BUILD LABEL     TAP on stdout; LABEL prefixes
#                                          each result ("[arm64 6.1.0-57-arm64]")
set -u
dir=$1 build=$2 label=$3
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/tests/lib/schemas.sh"
export NODE_PATH=$build/node/node_modules
n=0 fail=0
echo "TAP version 13"
echo "# host check of $(basename "$dir"): $(grep -c . "$dir/messages.jsonl" 2>/dev/null || echo 0) messages"
if ! [ -s "$dir/messages.jsonl" ] || ! [ -s "$dir/expect.json" ]; then
	echo "1..1"
	echo "not ok 1 - $label the guest left no messages or no expectations in $dir"
	exit 1
fi
n=$((n + 1))
if ! azure_schemas "$top"; then
	echo "ok $n - $label every published message valid (ajv) # SKIP $AZURE_SCHEMAS_MISSING"
elif res=$(node "$top/tests/lib/validate-messages.js" "$AZURE_SCHEMAS" \
	"$top/schemas/iotsec-extended-message_v1_0.json" "$dir/messages.jsonl" 2>&1); then
	echo "ok $n - $label every published message valid (ajv, on the host): $res"
else
	echo "not ok $n - $label invalid messages: $(echo "$res" | tail -n 5 | cut -c1-800)"
	fail=$((fail + 1))
fi
out=$(TAP_START=$((n + 1)) node "$top/tests/lib/e2e-check.js" "$dir/sub.log" "$dir/expect.json" 2>&1)
echo "$out" | sed -E "s/^((not )?ok [0-9]+)( - | )?/\1 - $label /"
n=$((n + $(echo "$out" | grep -c '^\(not \)\?ok ' || true)))
fail=$((fail + $(echo "$out" | grep -c '^not ok ' || true)))
echo "1..$n"
[ "$fail" = 0 ]
