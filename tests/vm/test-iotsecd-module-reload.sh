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
. "$(dirname "$0")/../lib/vm.sh"
mark=iotsec-reload-$$
log=$TMP/d.log

echo "TAP version 13"

printf 'priorities:\n  high: 1s\nmessages:\n  statistics: 1h\n' >"$TMP/cfg.yaml"
iotsecd_start d "$TMP/cfg.yaml" --output "$TMP/out.jsonl"
wait_for 10 grep -q 'module not loaded' "$log" &&
	ok "iotsecd runs without the module" || not_ok "no retry message: $(cat "$log")"

insmod "$KO"
wait_for 20 eval "[ \$(grep -c 'subscribed to the kernel collector' $log) = 1 ]" &&
	ok "subscribes once the module is loaded" || not_ok "did not subscribe: $(cat "$log")"

rmmod iotsec
wait_for 20 grep -q 'kernel collector went away' "$log" &&
	ok "notices the unload" || not_ok "unload not noticed: $(cat "$log")"

insmod "$KO"
wait_for 20 eval "[ \$(grep -c 'subscribed to the kernel collector' $log) = 2 ]" &&
	ok "subscribes again after the reload" || not_ok "no resubscription: $(cat "$log")"

/bin/true "$mark"
wait_for 20 grep -q "true $mark" "$TMP/out.jsonl" &&
	ok "events flow after the reload" || not_ok "no event: $(tail -n 5 "$log")"
iotsecd_stop d
rmmod iotsec
done_testing
