#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Crashes and damaged spool files (issue 5).
#
#   sdk-stream --SDK--> iotsecd (SIGKILL, restarted) --spool DIR--> mosquitto
#                                                      (down meanwhile)  |
#                                              mosquitto_sub -v '#' <----'
#
#   sigkill_loses_nothing_written_to_the_spool   broker down, events piling
#       up in the spool, iotsecd killed with SIGKILL, the spool directory
#       copied at that moment, iotsecd restarted on the same spool, broker
#       back: every event found in the copied segment files arrives, every
#       event accepted after the restart arrives; the events the SDK had
#       accepted but the spool had not yet written (the daemon gathers SDK
#       events for up to 500 ms / 64 events before they become a message)
#       are counted and must be among the last 64 accepted before the kill
#   sigkill_with_broker_up_resends_with_same_ids   the same with the
#       broker up: messages in flight at the kill come again after the
#       restart under their message id (duplicates counted, never an event
#       under two ids), nothing written to the spool is lost
#   corrupt_records_are_skipped_and_counted      two runs of iotsecd write
#       records while the broker is down; then one segment file is cut in
#       the middle of a record and another gets flipped bytes in the middle
#       of a record; iotsecd starts, counts corrupt records, delivers every
#       event of the intact records
set -u
. "$(dirname "$0")/../lib/delivery.sh"

delivery_begin delivery_crash
delivery_broker 'iotsec/#'

sock_ready() { test -S "$SOCK"; }

# ---------------------------------------------------------------------------
# sigkill T MODE: run T of the SIGKILL test, broker "down" at the kill
# (records pending in the spool) or "up" (records in flight: published,
# not yet acknowledged, sent again after the restart with the same id)
sigkill() {
	local t=$1 mode=$2 cfg=$TMP/$1.yaml a0 akill a1 inspool lost late rec corrupt written
	fresh b
	write_config "$cfg" "$b_PORT" "$TMP/spool$t" 8MiB \
		"messages: { statistics: 1h, max_size: 16KiB }"
	rm -f "$SOCK"
	iotsecd_start d$t "$cfg"
	expect "iotsecd connects" wait_for 30 grep -q 'mqtt: connected to' "$TMP/d$t.log" ||
		return 1
	stream_start "$t" 40 -R 120
	expect "80 accepted with the broker up" wait_for 30 acked_at_least "$t" 80 ||
		return 1
	[ "$mode" = up ] || broker_stop b || return 1
	a0=$(acked_n "$t")
	expect "200 more accepted with the broker $mode" \
		wait_for 60 acked_at_least "$t" $((a0 + 200)) || return 1
	[ "$mode" = up ] || expect "the spool holds them" \
		wait_for 10 stat_ge "$TMP/d$t.stats" spool.pending 1 || return 1
	written=$(stat_get "$TMP/d$t.stats" spool.written)
	iotsecd_stop d$t KILL
	# what the SDK had been told, and what the spool held, at the kill
	grep '^[0-9]*$' "$TMP/$t.acked" >"$TMP/$t.before"
	akill=$(wc -l <"$TMP/$t.before")
	cp -a "$TMP/spool$t" "$TMP/spool$t.at-kill"
	spool_seqs "$TMP/spool$t.at-kill" "$t" >"$TMP/$t.inspool"
	inspool=$(wc -l <"$TMP/$t.inspool")
	expect "iotsecd was killed (status 137)" [ "$IOTSECD_RC" = 137 ] || return 1

	iotsecd_start d${t}2 "$cfg"
	expect "iotsecd restarts on the same spool" wait_for 30 sock_ready || return 1
	a1=$(acked_n "$t")
	expect "80 accepted after the restart" wait_for 60 acked_at_least "$t" $((a1 + 80)) ||
		return 1
	if [ "$mode" = down ]; then
		broker_restart b || return 1
		expect "40 more with the broker back" \
			wait_for 30 acked_at_least "$t" $(($(acked_n "$t") + 40)) || return 1
	fi
	stream_stop "$t"
	# everything accepted after the restart, everything in the spool
	grep -vxFf "$TMP/$t.before" <(grep '^[0-9]*$' "$TMP/$t.acked") >"$TMP/$t.after"
	cat "$TMP/$t.after" "$TMP/$t.inspool" | sort -nu >"$TMP/${t}m.acked"
	expect "everything in the spool and accepted after the restart arrives" \
		wait_for 120 eval 'count ${t}m --run "$t" && [ "$(val ${t}m missing)" = 0 ]'
	local rc=$?
	rec=$(stat_get "$TMP/d${t}2.stats" spool.recovered_records)
	corrupt=$(stat_get "$TMP/d${t}2.stats" spool.corrupt_records)
	iotsecd_stop d${t}2
	count ${t}m --run "$t"
	count "$t" --missing "$TMP/$t.lost"
	lost=$(wc -l <"$TMP/$t.lost")
	# lost ones must be among the last 64 accepted before the kill
	late=$(tail -n 64 "$TMP/$t.before" | grep -cxFf - "$TMP/$t.lost")
	echo "# broker $mode at the kill; sdk-stream: $(summary "$t")"
	echo "# accepted before the kill $akill (of which after the first 80: $((akill - a0)))," \
		"in the spool files at the kill $inspool events (spool.written $written records" \
		"a second before), after the restart: recovered_records $rec, corrupt_records $corrupt;" \
		"accepted in total $(acked_n "$t"), received distinct $(val "$t" seqs)," \
		"duplicate events $(val "$t" dup_seqs), duplicate messages (same id) $(val "$t" dup_messages)," \
		"events under two ids $(val "$t" reserialized);" \
		"missing from the spool: $(val ${t}m missing) ($(val ${t}m missing_list));" \
		"accepted before the kill but never in the spool, lost: $lost ($(tr '\n' ' ' <"$TMP/$t.lost"))"
	[ "$rc" = 0 ] || return 1
	expect "the spool files held events at the kill" [ "$inspool" -gt 0 ] &&
	expect "the lost ones ($lost) are among the last 64 accepted before the kill" \
		[ "$late" = "$lost" ] &&
	expect "an event sent again keeps its message id" [ "$(val "$t" reserialized)" = 0 ] &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ] &&
	if [ "$mode" = down ]; then
		expect "records recovered at the restart" [ "${rec:-0}" -gt 0 ]
	fi
}
sigkill_down() { sigkill k down; }
sigkill_up() { sigkill ku up; }
check sigkill_loses_nothing_written_to_the_spool sigkill_down
check sigkill_with_broker_up_resends_with_same_ids sigkill_up

# ---------------------------------------------------------------------------
# Two runs of 300 events each write ~400 KB of records (4 KiB messages)
# into a 1 MiB spool (64 KiB segments) with the broker down. Then, read
# with the format of docs/forwarder.md (spool-records.py), the first
# segment loses the second half of its last record (a torn tail) and the
# second gets 8 flipped bytes in the middle of the payload of its middle
# record. Exactly those two records' events must be missing, everything
# else must arrive, and the two damaged regions count 2 corrupt records.
corrupt() {
	local cfg=$TMP/c.yaml segs sa sb ra rb cut flip run n1 n2 cr
	fresh b
	broker_stop b || return 1
	write_config "$cfg" "$b_PORT" "$TMP/spoolc" 1MiB \
		"messages: { statistics: 1h, max_size: 4096 }"
	: >"$TMP/call.acked"
	for run in 1 2; do
		rm -f "$SOCK"
		iotsecd_start dc$run "$cfg"
		expect "iotsecd $run serves the SDK" wait_for 30 sock_ready || return 1
		stream_start c 200 -n 300 -f $(( (run - 1) * 300 + 1 )) -p 100
		expect "run $run: 300 accepted" wait_for 60 eval '! alive "$c_SPID"' ||
			return 1
		stream_stop c
		cat "$TMP/c.acked" >>"$TMP/call.acked"
		iotsecd_stop dc$run
		expect "iotsecd $run exits 0 with the broker down" [ "$IOTSECD_RC" = 0 ] ||
			return 1
	done
	python3 "$RECORDS" "$TMP/spoolc" c >"$TMP/c.records"
	mapfile -t segs < <(cut -d' ' -f1 "$TMP/c.records" | uniq)
	echo "# segment files: ${segs[*]}"
	expect "whole, valid records only before the damage" \
		eval '! grep -q " bad " "$TMP/c.records"' || return 1
	expect "at least two segment files with events" [ "${#segs[@]}" -ge 2 ] ||
		return 1
	sa=${segs[0]} sb=${segs[1]}
	# "OFFSET LENGTH SEQS" of the last record of sa, the middle one of sb
	ra=$(awk -v f="$sa" '$1 == f && $9 != "-"' "$TMP/c.records" | tail -n 1)
	n2=$(awk -v f="$sb" '$1 == f && $9 != "-"' "$TMP/c.records" | wc -l)
	rb=$(awk -v f="$sb" '$1 == f && $9 != "-"' "$TMP/c.records" |
		sed -n "$(( (n2 + 1) / 2 ))p")
	set -- $ra
	cut=$(($2 + 64 + $3 / 2))
	echo "$9" | tr , '\n' >"$TMP/c.lost"
	set -- $rb
	flip=$(($2 + 64 + $3 / 2))
	echo "$9" | tr , '\n' >>"$TMP/c.lost"
	sort -n "$TMP/c.lost" -o "$TMP/c.lost"
	awk '$9 != "-" { print $9 }' "$TMP/c.records" | tr , '\n' | sort -n |
		grep -vxFf "$TMP/c.lost" >"$TMP/cm.acked"
	n1=$(wc -l <"$TMP/cm.acked")
	truncate -s "$cut" "$TMP/spoolc/$sa" || return 1
	python3 - "$TMP/spoolc/$sb" "$flip" <<'PY' || return 1
import sys
f, off = sys.argv[1], int(sys.argv[2])
with open(f, "r+b") as h:
    h.seek(off)
    d = bytearray(h.read(8))
    h.seek(off)
    h.write(bytes(x ^ 0xA5 for x in d))
PY
	broker_restart b || return 1
	iotsecd_start dc3 "$cfg"
	expect "iotsecd starts on the damaged spool and connects" \
		wait_for 30 grep -q 'mqtt: connected to' "$TMP/dc3.log" || return 1
	expect "the intact records' events arrive" \
		wait_for 120 eval 'count cm --run c && [ "$(val cm missing)" = 0 ]'
	local rc=$?
	expect "the spool drains" wait_for 60 eval \
		'[ "$(stat_get "$TMP/dc3.stats" spool.pending)" = 0 ] &&
		 [ "$(stat_get "$TMP/dc3.stats" spool.inflight)" = 0 ]' || rc=1
	alive "$dc3_DPID" || rc=1
	iotsecd_stop_stats dc3
	cp "$TMP/call.acked" "$TMP/c.acked"
	count c --missing "$TMP/c.missing"
	cr=$(stat_get "$TMP/dc3.stats" spool.corrupt_records)
	echo "# 600 events accepted in two runs, $(grep -c . "$TMP/c.records") records in ${#segs[@]} segments;" \
		"$sa cut at $cut (in its last record: $(wc -w <<<"$(tr , ' ' <<<"${ra##* }")") events)," \
		"$sb 8 bytes flipped at $flip (record of $(wc -w <<<"$(tr , ' ' <<<"${rb##* }")") events);" \
		"after the restart: recovered_records $(stat_get "$TMP/dc3.stats" spool.recovered_records)," \
		"corrupt_records $cr, SpoolCorruptRecords $(val c drop.SpoolCorruptRecords);" \
		"received distinct $(val c seqs) of 600 (expected $n1), duplicates $(val c dup_seqs)," \
		"missing $(val c missing): $(tr '\n' ' ' <"$TMP/c.missing")"
	grep -i corrupt "$TMP/dc3.log" | head -n 3 | sed 's/^/# log: /'
	[ "$rc" = 0 ] || return 1
	expect "exactly the two damaged records' events are missing" \
		cmp -s "$TMP/c.missing" "$TMP/c.lost" &&
	expect "two corrupt records counted" [ "$cr" = 2 ] &&
	expect "DroppedEventsStatistics says SpoolCorruptRecords 2" \
		[ "$(val c drop.SpoolCorruptRecords)" = 2 ] &&
	expect "the damage is logged" grep -qi corrupt "$TMP/dc3.log" &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check corrupt_records_are_skipped_and_counted corrupt

done_testing
