# SPDX-License-Identifier: MIT
#
# What the overhead benchmarks (tests/bench/bench-kmod.sh, peers.sh)
# share; source it (bash). run_loops uses the caller's loops (the loop
# names), N (an associative array: loop -> iterations), tools and tmp.
#
#   run_loops MODE ROUND   one timing of loadgen per loop into tmp/MODE.LOOP
#   median FILE            the median of the numbers in FILE
#   minimum FILE           the smallest

run_loops() {
	local l t
	for l in $loops; do
		t=$("$tools/loadgen" "$l" "${N[$l]}")
		echo "$t" >>"$tmp/$1.$l"
		printf '#   round %d %-8s %-8s %8.3f s\n' "$2" "$1" "$l" "$t"
	done
}

median() {
	sort -g "$1" | awk '{ v[NR] = $1 }
		END { if (NR % 2) print v[(NR + 1) / 2];
		      else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

minimum() { sort -g "$1" | head -n 1; }
