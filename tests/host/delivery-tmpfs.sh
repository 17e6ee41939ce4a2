#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A spool on a file system that fills up (issue 5): a 64 KiB tmpfs under a
# spool configured for 1 MiB. Needs root (mount); skipped otherwise.
#
#   sdk-stream (100 ev/s, ~2.4 KB each) --SDK--> iotsecd --spool--> TMP/tiny
#                                                   |       (tmpfs, 64 KiB)
#                               mosquitto (down, then up) --> mosquitto_sub
#
#   full_disk_spool_keeps_running   the broker is down, so everything goes
#       to the spool; the tmpfs fills: iotsecd logs a clear error naming
#       the spool and "No space left on device", counts write_errors, goes
#       on in memory (mode "memory", same 1 MiB bound) and drops there,
#       counted; it does not crash, and once the broker is back it
#       delivers: received + dropped = accepted
#   full_disk_spool_back_on_disk_when_possible   once drained, the retry
#       (every 30 s) finds the directory usable: mode disk again, said in
#       the log, new events go through it, and nothing that was delivered
#       or dropped meanwhile comes back from the files left on the tmpfs
#   restart_on_still_full_disk_brings_nothing_back   the same fill and
#       drain again, then a restart at once (before any retry; the files
#       written before the tmpfs filled are there unless the spool removed
#       them): nothing recovered, nothing received twice, no dropped event
#       back
set -u
. "$(dirname "$0")/../lib/delivery.sh"

delivery_begin delivery_tmpfs
if [ "$(id -u)" != 0 ]; then
	skip full_disk_spool_keeps_running "needs root to mount a tmpfs"
	done_testing
	exit 0
fi
mkdir -p "$TMP/tiny"
if ! mount -t tmpfs -o size=64k,mode=0755 tmpfs "$TMP/tiny" 2>"$TMP/mount.err"; then
	skip full_disk_spool_keeps_running "mount -t tmpfs failed: $(cat "$TMP/mount.err")"
	done_testing
	exit 0
fi
unmount_tiny() { umount "$TMP/tiny" 2>/dev/null; }
CLEANUP_HOOK=unmount_tiny
delivery_broker 'iotsec/#'
CFG=$TMP/t.yaml
write_config "$CFG" "$b_PORT" "$TMP/tiny/spool" 1MiB \
	"messages: { statistics: 1h, max_size: 16KiB }"

# fill D T: iotsecd D with the broker down, stream T until the tmpfs is
# full and the memory spool drops; then the broker back and drained. D
# keeps running. Measures into the TAP comments.
fill() {
	local d=$1 t=$2 acc drop got werr last
	fresh b
	broker_stop b || return 1
	rm -f "$SOCK" "$TMP/$d.stats"
	iotsecd_start "$d" "$CFG"
	expect "iotsecd serves the SDK" wait_for 30 test -S "$SOCK" || return 1
	expect "and starts on disk" wait_for 10 eval \
		'[ "$(stat_get "$TMP/$d.stats" spool.mode)" = disk ]' || return 1
	sampler_start "s$d" "$TMP/$d.stats"
	stream_start "$t" 100 -p 2000
	expect "a write error is logged naming the spool and ENOSPC" \
		wait_for 60 eval 'grep "spool $TMP/tiny/spool" "$TMP/$d.log" |
			grep -q "No space left on device"' || return 1
	expect "write_errors counted" wait_for 10 stat_ge "$TMP/$d.stats" spool.write_errors 1 ||
		return 1
	expect "the spool goes on in memory" \
		wait_for 10 eval '[ "$(stat_get "$TMP/$d.stats" spool.mode)" = memory ]' || return 1
	expect "and drops at its bound, counted" \
		wait_for 60 stat_ge "$TMP/$d.stats" spool.dropped_events 1 || return 1
	expect "iotsecd still runs" alive "$(dpid "$d")" || return 1
	broker_restart b || return 1
	expect "200 more accepted with the broker up" \
		wait_for 60 acked_at_least "$t" $(($(acked_n "$t") + 200)) || return 1
	stream_stop "$t"
	last=$(grep '^[0-9]*$' "$TMP/$t.acked" | tail -n 1)
	acc=$(acked_n "$t")
	expect "the spool drains, the last event arrives" wait_for 120 eval \
		'[ "$(stat_get "$TMP/$d.stats" spool.pending)" = 0 ] &&
		 [ "$(stat_get "$TMP/$d.stats" spool.inflight)" = 0 ] &&
		 grep -q "\"Seq\":$last,\"Run\":\"$t\"" "$TMP/r.recv"'
	local rc=$?
	sampler_stop "s$d"
	alive "$(dpid "$d")" || rc=1
	count "$t"
	drop=$(stat_get "$TMP/$d.stats" spool.dropped_events)
	werr=$(stat_get "$TMP/$d.stats" spool.write_errors)
	got=$(val "$t" seqs)
	echo "# sdk-stream: $(summary "$t")"
	echo "# accepted $acc, received distinct $got (duplicates $(val "$t" dup_seqs))," \
		"spool dropped_events $drop (messages $(stat_get "$TMP/$d.stats" spool.dropped_messages))," \
		"write_errors $werr, largest spool in memory $(sample_max "s$d" spool.bytes) bytes" \
		"(bound 1 MiB), mode after the drain $(stat_get "$TMP/$d.stats" spool.mode)"
	grep -m 3 "No space left" "$TMP/$d.log" | sed 's/^/# log: /'
	[ "$rc" = 0 ] || return 1
	expect "received + dropped = accepted ($got + $drop = $acc)" \
		[ $((got + drop)) = "$acc" ] &&
	expect "the spool stayed within 1 MiB" [ "$(sample_max "s$d" spool.bytes)" -le 1048576 ] &&
	expect "the log says so once or a few times, not per record" \
		[ "$(grep -c "No space left" "$TMP/$d.log")" -le 10 ]
}

# what a run got once drained: nothing of it may come again
full() {
	fill dt t || return 1
	T_MSGS=$(val t messages)
}
check full_disk_spool_keeps_running full

# Drained, the messages that were on the tmpfs are done (delivered or
# dropped): the retry every 30 s finds the directory usable, the finished
# segments go, and the spool is on disk again.
back_to_disk() {
	expect "iotsecd still runs" alive "$(dpid dt)" || return 1
	expect "the spool is on disk again within 45 s" wait_for 45 eval \
		'[ "$(stat_get "$TMP/dt.stats" spool.mode)" = disk ]' || return 1
	expect "and says so" grep -q "spool $TMP/tiny/spool: writable again" "$TMP/dt.log" ||
		return 1
	echo "# $(grep -m 1 'writable again' "$TMP/dt.log")"
	echo "# spool files now: $(ls "$TMP/tiny/spool" | tr '\n' ' ');" \
		"$(df -k "$TMP/tiny" | awk 'NR == 2 { print $4 }') KiB free"
	stream_start t2 50 -n 50
	expect "new events go to disk and arrive" wait_for 60 delivered t2 || return 1
	iotsecd_stop_stats dt
	count t
	echo "# messages of the first stream received again since the drain:" \
		"$(( $(val t messages) - T_MSGS )), received distinct $(val t seqs)"
	echo "# iotsecd exit status $IOTSECD_RC, its DroppedEventsStatistics at exit:" \
		"SpoolDroppedEvents $(val t drop.SpoolDroppedEvents) (stats file" \
		"$(stat_get "$TMP/dt.stats" spool.dropped_events)), High $(val t drop.High)"
	expect "spool still on disk" [ "$(stat_get "$TMP/dt.stats" spool.mode)" = disk ] &&
	expect "nothing delivered or dropped before comes back from the files" \
		[ "$(val t messages)" = "$T_MSGS" ] &&
	expect "its DroppedEventsStatistics reports the spool's drops" \
		[ "$(val t drop.SpoolDroppedEvents)" = "$(stat_get "$TMP/dt.stats" spool.dropped_events)" ] &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check full_disk_spool_back_on_disk_when_possible back_to_disk

# The same again, but restarted at once after the drain, before the retry:
# the records of the files written before the tmpfs filled were delivered
# or dropped from memory. A restart must not bring them back.
restart_on_full() {
	local n0 rec
	fill dt3 u || return 1
	n0=$(val u messages)
	expect "still in memory (no retry yet)" \
		[ "$(stat_get "$TMP/dt3.stats" spool.mode)" = memory ] || return 1
	iotsecd_stop_stats dt3
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ] || return 1
	python3 "$RECORDS" "$TMP/tiny/spool" u >"$TMP/u.records"
	echo "# at the restart: $(ls "$TMP/tiny/spool" | grep -c '\.seg$') segment files," \
		"$(awk '$4 == "L"' "$TMP/u.records" | wc -l) records still marked live" \
		"($(awk '$4 == "L" && $9 != "-"' "$TMP/u.records" | cut -d' ' -f9 | tr , '\n' | wc -l) events)," \
		"$(df -k "$TMP/tiny" | awk 'NR == 2 { print $4 }') KiB free"
	rm -f "$SOCK"
	iotsecd_start dt4 "$CFG"
	expect "iotsecd connects" wait_for 30 grep -q 'mqtt: connected to' "$TMP/dt4.log" ||
		return 1
	expect "the spool settles" wait_for 60 eval \
		'[ "$(stat_get "$TMP/dt4.stats" spool.pending)" = 0 ] &&
		 [ "$(stat_get "$TMP/dt4.stats" spool.inflight)" = 0 ]' || return 1
	rec=$(stat_get "$TMP/dt4.stats" spool.recovered_records)
	iotsecd_stop_stats dt4
	count u
	echo "# after the restart: recovered_records $rec, mode $(stat_get "$TMP/dt4.stats" spool.mode)," \
		"messages of the run received again $(( $(val u messages) - n0 ))," \
		"received distinct $(val u seqs), accepted $(acked_n u)," \
		"dropped (first run) $(stat_get "$TMP/dt3.stats" spool.dropped_events), exit status $IOTSECD_RC"
	grep 'spool' "$TMP/dt4.log" | head -n 3 | sed 's/^/# log: /'
	expect "nothing recovered: all was delivered or dropped" [ "${rec:-0}" = 0 ] &&
	expect "no message of the run received again" [ "$(val u messages)" = "$n0" ] &&
	expect "received + dropped = accepted still" \
		[ $(( $(val u seqs) + $(stat_get "$TMP/dt3.stats" spool.dropped_events) )) = "$(acked_n u)" ] &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check restart_on_still_full_disk_brings_nothing_back restart_on_full

done_testing
