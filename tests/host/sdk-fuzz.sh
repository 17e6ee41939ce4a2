#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Fuzz the SDK request parser (tests/fuzz/sdk_msg.c, libFuzzer) for a
# bounded time, starting from the seed corpus. Any crash, leak, sanitizer
# report or rejection without a reason fails the test.
#
#   corpus seeds --> build/fuzz/sdk_msg (ASan, UBSan) --N s--> ok / crash
#
# IOTSEC_FUZZ_SECONDS (default 20) sets the time. Skipped when the target
# was not built (no clang).
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
secs=${IOTSEC_FUZZ_SECONDS:-20}
target=$build/fuzz/sdk_msg
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "TAP version 13"
echo "1..2"
if [ ! -x "$target" ]; then
	echo "ok 1 sdk_msg fuzz target runs the seeds # SKIP not built (clang missing?)"
	echo "ok 2 sdk_msg fuzzing for ${secs}s finds nothing # SKIP not built"
	exit 0
fi

# The seeds alone: each must run cleanly (also shows the target works).
if "$target" -runs=0 "$top/tests/fuzz/corpus/sdk_msg" >"$tmp/seeds.log" 2>&1; then
	echo "ok 1 sdk_msg fuzz target runs the seeds"
else
	echo "not ok 1 sdk_msg fuzz target runs the seeds"
	sed 's/^/# /' "$tmp/seeds.log" | tail -n 30
fi

# Work on a copy: new inputs go to the temporary corpus, not the tree.
mkdir -p "$tmp/corpus"
cp "$top"/tests/fuzz/corpus/sdk_msg/* "$tmp/corpus/"
(cd "$tmp" && "$target" -max_total_time="$secs" -max_len=8192 \
	-dict="$top/tests/fuzz/sdk_msg.dict" -rss_limit_mb=1024 \
	-print_final_stats=1 corpus >"$tmp/fuzz.log" 2>&1)
rc=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/fuzz.log")
if [ $rc = 0 ] && [ -n "$runs" ] && [ "$runs" -gt 0 ]; then
	echo "ok 2 sdk_msg fuzzing for ${secs}s finds nothing # $runs inputs"
else
	echo "not ok 2 sdk_msg fuzzing for ${secs}s finds nothing (status $rc)"
	grep -A 30 -E 'ERROR|runtime error|Deadly' "$tmp/fuzz.log" | head -n 60 |
		sed 's/^/# /'
	mkdir -p "$build/fuzz/artifacts"
	for a in "$tmp"/crash-* "$tmp"/leak-* "$tmp"/timeout-* "$tmp"/oom-*; do
		[ -f "$a" ] || continue
		cp "$a" "$build/fuzz/artifacts/"
		echo "# reproduce: $target $build/fuzz/artifacts/$(basename "$a")"
	done
fi
