#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Count every test case in the TAP logs of RESULTS and print the closing
# line "N passed, N failed". A test program that exited non-zero without
# reporting a failed case counts as one failure of its own, so a crash
# never passes quietly.
# usage: summary.sh RESULTS
set -u
results=$1
pass=0 fail=0 skip=0
for f in "$results"/*.tap; do
	[ -f "$f" ] || continue
	name=$(basename "$f" .tap)
	p=$(grep -Ec '^ok [0-9]+ ' "$f" | head -n 1)
	s=$(grep -Ec '^ok [0-9]+ .*# (SKIP|skip)' "$f" | head -n 1)
	n=$(grep -Ec '^not ok [0-9]+ ' "$f" | head -n 1)
	rc=$(sed -n 's/^# exit: //p' "$f" | tail -n 1)
	p=$((p - s))
	if [ -n "$rc" ] && [ "$rc" != 0 ] && [ "$n" = 0 ]; then
		echo "FAIL $name: exited with status $rc and no failed case reported"
		n=1
	fi
	if [ $((p + n + s)) = 0 ]; then
		echo "FAIL $name: no test case ran"
		n=1
	fi
	grep -E '^not ok [0-9]+ ' "$f" | sed "s/^/FAIL $name: /"
	pass=$((pass + p)) fail=$((fail + n)) skip=$((skip + s))
done
echo "logs: $results"
if [ $skip -gt 0 ]; then
	echo "$pass passed, $fail failed, $skip skipped"
else
	echo "$pass passed, $fail failed"
fi
[ $fail = 0 ]
