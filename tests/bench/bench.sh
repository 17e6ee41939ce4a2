#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The forwarder benchmark (not a test): a large synthetic recording through
# iotsecd --replay (decode + enrich + aggregate + serialize + pack, one
# core), written to /dev/null.
#   events/s          best of 3 wall-clock runs
#   instructions/ev   callgrind, on a smaller stream
#   max RSS           /usr/bin/time, of the replay and of an idle daemon
#   sizes             stripped binaries
# usage: bench.sh BUILD [EVENTS] [UNIQUE]
set -eu
build=$1
events=${2:-1000000}
unique=${3:-256}
tmp=$(mktemp -d /tmp/iotsec-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/bench.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
messages:
  statistics: 0s
EOC
"$build/bench/synth" "$tmp/big.rec" "$events" "$unique" 64
echo "recording: $events events, $unique distinct identities per type, $(du -m "$tmp/big.rec" | cut -f1) MiB"

best=
for i in 1 2 3; do
	s=$(date +%s.%N)
	"$build/iotsecd" -c "$tmp/bench.yaml" --replay "$tmp/big.rec" \
		--output /dev/null --stats-file "" 2>/dev/null
	e=$(date +%s.%N)
	t=$(echo "$e - $s" | bc)
	echo "run $i: $t s"
	if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
done
echo "throughput: $(echo "$events / $best" | bc) events/s (best of 3)"

/usr/bin/time -f "%M" -o "$tmp/rss" "$build/iotsecd" -c "$tmp/bench.yaml" \
	--replay "$tmp/big.rec" --output /dev/null --stats-file "" 2>/dev/null
echo "replay max RSS: $(cat "$tmp/rss") KiB"

if command -v valgrind >/dev/null; then
	small=100000
	"$build/bench/synth" "$tmp/small.rec" $small "$unique" 64
	valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" \
		"$build/iotsecd" -c "$tmp/bench.yaml" --replay "$tmp/small.rec" \
		--output /dev/null --stats-file "" >/dev/null 2>"$tmp/cg.log"
	ir=$(sed -n 's/^summary: //p' "$tmp/cg.out")
	echo "callgrind: $ir instructions for $small events: $((ir / small)) per event (start-up included)"
	callgrind_annotate "$tmp/cg.out" 2>/dev/null | sed -n '/Ir .*file:function/,+12p' | sed 's/^/  /'
fi

# an idle daemon at steady state (no module here: it retries the kernel)
"$build/iotsecd" -f -c "$tmp/bench.yaml" --output /dev/null \
	--stats-file "$tmp/stats.json" 2>/dev/null &
pid=$!
for _ in $(seq 50); do [ -s "$tmp/stats.json" ] && break; sleep 0.1; done
sleep 1
echo "idle daemon RSS: $(sed -n 's/^VmRSS:\s*//p' /proc/$pid/status)" \
	"(anonymous: $(sed -n 's/^RssAnon:\s*//p' /proc/$pid/status)," \
	"shared libraries: $(sed -n 's/^RssFile:\s*//p' /proc/$pid/status))"
kill $pid; wait $pid || true

# the rules stage alone, default pack (tests/bench/rules-bench.c)
top=$(cd "$(dirname "$0")/../.." && pwd)
"$build/bench/rules-bench" "$top/config/rules" 2000000
# indicator lists and executable hashes (tests/bench/ioc-bench.c)
"$build/bench/ioc-bench" 2000000

# the learned baseline alone: a model of 10000 tuples (baseline-bench.c)
"$build/bench/baseline-bench" 2000000 10000

for b in iotsecd iotsecctl; do
	strip -o "$tmp/$b" "$build/$b"
	echo "stripped $b: $(stat -c %s "$tmp/$b") bytes"
done
