#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Fuzz the parsers of the local sources for a bounded time each, from their
# seed corpora: SDK requests (tests/fuzz/sdk_msg.c, what any local program
# can send) and wtmp/btmp records (tests/fuzz/login_record.c). Any crash,
# leak, sanitizer report or rejection without a reason fails the test.
#
#   seeds --> build/fuzz/<target> (libFuzzer, ASan, UBSan) --N s--> ok / crash
#
# IOTSEC_FUZZ_SECONDS (default 20; the record parser gets a quarter) sets
# the time. Skipped when a target was not built (no clang). Crashing inputs
# are kept in $BUILD/fuzz/artifacts with the command that replays them.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
secs=${IOTSEC_FUZZ_SECONDS:-20}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$top/tests/lib/tap.sh"

fuzz() {	# fuzz TARGET SECONDS [libFuzzer options]
	local name=$1 t=$2 target=$build/fuzz/$1 dict rc runs
	shift 2
	if [ ! -x "$target" ]; then
		ok "$name: seeds run cleanly # SKIP not built (clang missing?)"
		ok "$name: ${t}s of fuzzing find nothing # SKIP not built"
		return
	fi
	if "$target" -runs=0 "$top/tests/fuzz/corpus/$name" \
		>"$tmp/$name-seeds.log" 2>&1; then
		ok "$name: seeds run cleanly"
	else
		notok "$name: seeds run cleanly"
		sed 's/^/# /' "$tmp/$name-seeds.log" | tail -n 30
	fi
	# New inputs go to a copy of the corpus, never into the tree.
	mkdir -p "$tmp/$name/corpus"
	cp "$top/tests/fuzz/corpus/$name"/* "$tmp/$name/corpus/"
	dict=
	[ -f "$top/tests/fuzz/$name.dict" ] && dict=-dict=$top/tests/fuzz/$name.dict
	(cd "$tmp/$name" && "$target" -max_total_time="$t" -rss_limit_mb=1024 \
		-print_final_stats=1 $dict "$@" corpus >fuzz.log 2>&1)
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$name/fuzz.log")
	if [ $rc = 0 ] && [ -n "$runs" ] && [ "$runs" -gt 0 ]; then
		ok "$name: ${t}s of fuzzing find nothing # $runs inputs"
		return
	fi
	notok "$name: ${t}s of fuzzing find nothing (status $rc)"
	grep -A 30 -E 'ERROR|runtime error|Deadly' "$tmp/$name/fuzz.log" |
		head -n 60 | sed 's/^/# /'
	mkdir -p "$build/fuzz/artifacts"
	for a in "$tmp/$name"/crash-* "$tmp/$name"/leak-* "$tmp/$name"/timeout-* \
		 "$tmp/$name"/oom-*; do
		[ -f "$a" ] || continue
		cp "$a" "$build/fuzz/artifacts/"
		echo "# reproduce: $target $build/fuzz/artifacts/$(basename "$a")"
	done
}

echo "TAP version 13"
echo "1..4"
fuzz sdk_msg "$secs" -max_len=8192
fuzz login_record "$(( (secs + 3) / 4 ))"
