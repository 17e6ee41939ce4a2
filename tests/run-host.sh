#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Run every host test (build/tests/host/*, built with sanitizers, and
# tests/host/*.sh) and leave one TAP log per test in RESULTS.
# usage: run-host.sh BUILD RESULTS
set -u
build=$1 results=$2
top=$(cd "$(dirname "$0")/.." && pwd)
export IOTSEC_TOP=$top IOTSEC_BUILD=$(realpath "$build")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$results"
for t in "$build"/tests/host/* "$top"/tests/host/*.sh; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	name=host-$(basename "$t" .sh)
	echo "# host: $name"
	timeout "${HOST_TEST_TIMEOUT:-1200}" "$t" >"$results/$name.tap" 2>&1
	echo "# exit: $?" >>"$results/$name.tap"
	grep -E '^(not )?ok |^# (Totals|PASSED|FAILED)' "$results/$name.tap" | sed 's/^/  /'
done
