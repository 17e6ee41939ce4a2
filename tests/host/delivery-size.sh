#!/bin/bash
# SPDX-License-Identifier: MIT
#
# No published message exceeds the configured size (issue 5), looked at on
# the wire: every PUBLISH the receiver gets is measured.
#
#   sdk-stream (pads 0..4096 bytes)  --SDK-->  iotsecd          -->  mosquitto
#   synth "hostile bigargv" recording --replay-> iotsecd --replay -/      |
#     (every exec with a 4096-byte argv, most bytes not text:              |
#      \\xNN in JSON, ~19 KB per event)            mosquitto_sub -v # <-'
#
#   sdk_events_within_max_size         max_size 4096: every message <= 4096
#       bytes; each accepted event arrives or is counted in OversizeEvents,
#       and exactly the largest ones are the oversize ones
#   largest_argv_within_max_size       replay, max_size 32KiB: every event
#       arrives (one ~19 KB exec per message at most), none above 32768
#   largest_argv_oversize_counted      replay, max_size 4096: the big execs
#       are counted (OversizeEvents), the rest arrives, none above 4096
set -u
. "$(dirname "$0")/../lib/delivery.sh"

SYNTH=$BUILD/bench/synth

more=
[ -x "$SYNTH" ] || more="$more build/bench/synth (make tests)"
delivery_begin delivery_size "$more"
delivery_broker 'iotsec/#'

# ---------------------------------------------------------------------------
# 400 custom events, padding (seq * 7919) % 4097 bytes: about 10% of them
# cannot fit a 4096-byte message with the envelope.
sdk_size() {
	local cfg=$TMP/s1.yaml acc got over os
	fresh b
	write_config "$cfg" "$b_PORT" "$TMP/spool1" 1MiB \
		"messages: { statistics: 1h, max_size: 4096 }"
	rm -f "$SOCK"
	iotsecd_start d1 "$cfg"
	expect "iotsecd serves $SOCK" wait_for 30 test -S "$SOCK" || return 1
	stream_start s1 200 -n 400 -p 4096 -V
	expect "the stream ends" wait_for 60 eval '! alive "$s1_SPID"' || return 1
	stream_stop s1
	acc=$(acked_n s1)
	# everything out: sent = acked, nothing pending
	expect "the daemon has nothing left to send" wait_for 60 eval \
		'[ "$(stat_get "$TMP/d1.stats" spool.pending)" = 0 ] &&
		 [ "$(stat_get "$TMP/d1.stats" spool.inflight)" = 0 ] &&
		 [ "$(stat_get "$TMP/d1.stats" messages.sent)" = "$(stat_get "$TMP/d1.stats" messages.acked)" ]' ||
		return 1
	iotsecd_stop_stats d1
	os=$(stat_get "$TMP/d1.stats" queues.oversize)	# written at exit
	expect "the final statistics arrive" wait_for 30 eval \
		'count s1 --max-size 4096 --pad-vary 4096 --topic-prefix iotsec/dtest/ &&
		 [ -n "$(val s1 drop.OversizeEvents)" ]' || return 1
	got=$(val s1 seqs)
	over=$(val s1 drop.OversizeEvents)
	echo "# max_size 4096: sdk-stream: $(summary s1)"
	echo "# accepted $acc, received distinct $got (duplicates $(val s1 dup_seqs))," \
		"OversizeEvents $over (stats file $os), messages $(val s1 messages)," \
		"largest payload $(val s1 max_len) bytes, above 4096: $(val s1 over_max)," \
		"largest padding received $(val s1 pad_max_received), smallest not received $(val s1 pad_min_missing)"
	expect "all 400 accepted" [ "$acc" = 400 ] &&
	expect "no payload above 4096 bytes" [ "$(val s1 over_max)" = 0 ] &&
	expect "some messages close to the limit (> 3072 bytes)" \
		[ "$(val s1 max_len)" -gt 3072 ] &&
	expect "some events too large for a message" [ "${over:-0}" -gt 0 ] &&
	expect "the stats file says the same" [ "$os" = "$over" ] &&
	expect "received + oversize = accepted" [ $((got + over)) = "$acc" ] &&
	expect "the oversize ones are exactly the largest" \
		[ "$(val s1 pad_max_received)" -lt "$(val s1 pad_min_missing)" ] &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check sdk_events_within_max_size sdk_size

# ---------------------------------------------------------------------------
# replay NAME MAX_SIZE: the hostile bigargv recording published by
# iotsecd --replay (aggregation off: every event is its own) to device
# NAME; counts in TMP/NAME.count.
replay() {
	local name=$1 max=$2 cfg=$TMP/$1.yaml
	# the whole recording (~5 MB) is packed before the first PUBACK:
	# a spool (in memory) that holds it
	write_config "$cfg" "$b_PORT" "" 16MiB \
		"broker: { host: 127.0.0.1, port: $b_PORT, device_id: $name, topic: \"iotsec/{device_id}/{type}/{message_id}\" }" \
		"messages: { statistics: 1h, max_size: $max }" \
		"events: { exec: { aggregate: false }, exit: { aggregate: false }, connect: { aggregate: false }, accept: { aggregate: false }, listen: { aggregate: false }, cred: { aggregate: false }, module: { aggregate: false }, ptrace: { aggregate: false }, file: { aggregate: false } }"
	: >"$TMP/$name.acked"
	"$BIN/iotsecd" -c "$cfg" --stats-file "$TMP/$name.stats" \
		--replay "$TMP/big.rec" 2>"$TMP/$name.log"
	REPLAY_RC=$?
	# the statistics (high priority) may come before low events: all in
	wait_for 30 eval 'python3 "$COUNT" "$TMP/r.recv" --max-size "$max" \
			--topic-prefix "iotsec/$name/" >"$TMP/$name.count" &&
		[ -n "$(val "$name" drop.OversizeEvents)" ] &&
		[ $(( $(val "$name" events_total) + $(val "$name" drop.OversizeEvents) +
		      $(val "$name" drop.SpoolDroppedEvents) )) -ge 300 ]'
}

make_recording() {
	[ -f "$TMP/big.rec" ] && return 0
	# 300 events, 16 identities, 20 per batch; ~45% exec with 4 KiB argv
	"$SYNTH" "$TMP/big.rec" 300 16 20 hostile bigargv
}

big_fit() {
	local ev over
	fresh b
	make_recording || return 1
	replay big32k 32768 || return 1
	ev=$(val big32k events_total)
	over=$(val big32k drop.OversizeEvents)
	echo "# max_size 32KiB, 300 replayed events (hostile 4 KiB argv):" \
		"received $ev ($(val big32k names)), OversizeEvents $over," \
		"SpoolDroppedEvents $(val big32k drop.SpoolDroppedEvents)," \
		"messages $(val big32k messages), largest payload $(val big32k max_len) bytes," \
		"above 32768: $(val big32k over_max); iotsecd --replay exit status $REPLAY_RC"
	expect "every event arrives" [ "$ev" = 300 ] &&
	expect "the spool dropped none" [ "$(val big32k drop.SpoolDroppedEvents)" = 0 ] &&
	expect "no oversize event" [ "$over" = 0 ] &&
	expect "the big execs are there (> 16 KiB payloads)" \
		[ "$(val big32k max_len)" -gt 16384 ] &&
	expect "no payload above 32768 bytes" [ "$(val big32k over_max)" = 0 ] &&
	expect "iotsecd --replay exits 0 (all acked)" [ "$REPLAY_RC" = 0 ]
}
check largest_argv_within_max_size big_fit

big_over() {
	local ev over
	fresh b
	make_recording || return 1
	replay big4k 4096 || return 1
	ev=$(val big4k events_total)
	over=$(val big4k drop.OversizeEvents)
	echo "# max_size 4096, 300 replayed events: received $ev ($(val big4k names))," \
		"OversizeEvents $over, SpoolDroppedEvents $(val big4k drop.SpoolDroppedEvents)," \
		"messages $(val big4k messages)," \
		"largest payload $(val big4k max_len) bytes, above 4096: $(val big4k over_max);" \
		"iotsecd --replay exit status $REPLAY_RC"
	expect "the big execs are oversize" [ "${over:-0}" -gt 0 ] &&
	expect "no ProcessCreate got through" [ -z "$(val big4k names | grep -o ProcessCreate)" ] &&
	expect "received + oversize = 300" [ $((ev + over)) = 300 ] &&
	expect "the spool dropped none" [ "$(val big4k drop.SpoolDroppedEvents)" = 0 ] &&
	expect "no payload above 4096 bytes" [ "$(val big4k over_max)" = 0 ] &&
	expect "iotsecd --replay exits 0 (all acked)" [ "$REPLAY_RC" = 0 ]
}
check largest_argv_oversize_counted big_over

done_testing
