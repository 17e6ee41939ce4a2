#!/bin/bash
# SPDX-License-Identifier: MIT
#
# iotsecd outlives the module: started before it is loaded, it subscribes
# when it appears; when the module is unloaded and loaded again, it
# notices and subscribes again, and events flow as before.
#
#   iotsecd --output FILE   (no broker needed)
#     insmod -> subscribed -> rmmod -> insmod -> subscribed again -> exec
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
ko=${IOTSEC_KO:-$top/kmod/iotsec.ko}
tmp=$(mktemp -d /tmp/iotsecd-reload.XXXXXX)
mark=iotsec-reload-$$
daemon=
cleanup() {
	set +e
	[ -n "$daemon" ] && kill "$daemon" && wait "$daemon"
	grep -q '^iotsec ' /proc/modules && rmmod iotsec
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "TAP version 13"
echo "1..5"
n=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); echo "not ok $n $*"; }
wait_for() {
	local end=$((SECONDS + $1))
	shift
	while [ $SECONDS -lt $end ]; do
		eval "$1" && return 0
		sleep 0.2
	done
	return 1
}

printf 'priorities:\n  high: 1s\nmessages:\n  statistics: 1h\n' >"$tmp/cfg.yaml"
"$build/iotsecd" -f -c "$tmp/cfg.yaml" --output "$tmp/out.jsonl" \
	--stats-file "$tmp/stats.json" 2>"$tmp/log" &
daemon=$!
wait_for 10 "grep -q 'module not loaded' $tmp/log" &&
	ok "iotsecd runs without the module" || notok "no retry message: $(cat "$tmp/log")"

insmod "$ko"
wait_for 20 "[ \$(grep -c 'subscribed to the kernel collector' $tmp/log) = 1 ]" &&
	ok "subscribes once the module is loaded" || notok "did not subscribe: $(cat "$tmp/log")"

rmmod iotsec
wait_for 20 "grep -q 'kernel collector went away' $tmp/log" &&
	ok "notices the unload" || notok "unload not noticed: $(cat "$tmp/log")"

insmod "$ko"
wait_for 20 "[ \$(grep -c 'subscribed to the kernel collector' $tmp/log) = 2 ]" &&
	ok "subscribes again after the reload" || notok "no resubscription: $(cat "$tmp/log")"

/bin/true "$mark"
wait_for 20 "grep -q 'true $mark' $tmp/out.jsonl" &&
	ok "events flow after the reload" || notok "no event: $(tail -n 5 "$tmp/log")"
kill "$daemon"
wait "$daemon" || true
daemon=
rmmod iotsec
