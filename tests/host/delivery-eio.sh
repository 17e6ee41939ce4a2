#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A spool on a failing disk (issue 14, item 6): reads give EIO.
#
#   sdk-stream --SDK--> iotsecd --spool MNT--> mosquitto --> mosquitto_sub
#                                    |
#                      eiofs (FUSE): MNT = DIR, one segment file of which
#                      fails reads (EIO) from the middle of a record on
#
#   eio_in_a_segment_is_an_error_not_a_signal   one run of iotsecd writes
#       records into DIR while the broker is down. Then DIR is served
#       through eiofs (tests/tools/eiofs.c, the stand-in for dm-error: the
#       host kernel has no device-mapper), where the second segment file
#       fails reads from the middle of its middle record on, and iotsecd
#       starts on it with the broker back. It must not die (a private
#       mapping of the file raised SIGBUS), must log the read error and
#       count it (spool.read_errors), must deliver every event of every
#       other record (those of the failing segment before the error too)
#       and everything accepted after the start, and must leave the failing
#       file where it is.
set -u
. "$(dirname "$0")/../lib/delivery.sh"

EIOFS=$BUILD/tests/tools/eiofs
m=""
[ -x "$EIOFS" ] || m=" $EIOFS (libfuse3-dev, make tests)"
[ -c /dev/fuse ] || m="$m /dev/fuse"
delivery_begin delivery_eio "$m"
delivery_broker 'iotsec/#'

sock_ready() { test -S "$SOCK"; }
mounted() { grep -q " $1 fuse" /proc/mounts; }
CLEANUP_HOOK=unmount
unmount() { mounted "$TMP/mnt" && umount "$TMP/mnt"; }

eio() {
	local cfg=$TMP/e.yaml cfg2=$TMP/e2.yaml segs sb rb n2 bad rc rerr
	fresh b
	broker_stop b || return 1
	write_config "$cfg" "$b_PORT" "$TMP/spool" 1MiB \
		"messages: { statistics: 1h, max_size: 4096 }"
	rm -f "$SOCK"
	iotsecd_start w "$cfg"
	expect "iotsecd serves the SDK" wait_for 30 sock_ready || return 1
	stream_start c 200 -n 300 -p 100
	expect "300 accepted with the broker down" wait_for 60 eval '! alive "$c_SPID"' ||
		return 1
	stream_stop c
	iotsecd_stop w
	expect "iotsecd exits 0 with the broker down" [ "$IOTSECD_RC" = 0 ] || return 1

	python3 "$RECORDS" "$TMP/spool" c >"$TMP/c.records"
	mapfile -t segs < <(cut -d' ' -f1 "$TMP/c.records" | uniq)
	echo "# segment files: ${segs[*]}"
	expect "at least two segment files with events" [ "${#segs[@]}" -ge 2 ] ||
		return 1
	sb=${segs[1]}
	n2=$(awk -v f="$sb" '$1 == f && $9 != "-"' "$TMP/c.records" | wc -l)
	expect "three records or more in $sb" [ "$n2" -ge 3 ] || return 1
	rb=$(awk -v f="$sb" '$1 == f && $9 != "-"' "$TMP/c.records" |
		sed -n "$(( (n2 + 1) / 2 ))p")
	set -- $rb
	bad=$(($2 + 64 + $3 / 2))
	# lost: the events of the records of sb from the failing one on
	awk -v f="$sb" -v o="$2" '$1 == f && $2 >= o && $9 != "-" { print $9 }' \
		"$TMP/c.records" | tr , '\n' | sort -n >"$TMP/c.lost"
	sort -n "$TMP/c.acked" | grep -vxFf "$TMP/c.lost" >"$TMP/cm.acked"

	mkdir -p "$TMP/mnt"
	"$EIOFS" "$TMP/spool" "$TMP/mnt" "$sb" "$bad" 2>"$TMP/eiofs.log" &
	PIDS="$PIDS $!"
	expect "eiofs mounts the spool" wait_for 10 mounted "$TMP/mnt" || return 1
	write_config "$cfg2" "$b_PORT" "$TMP/mnt" 1MiB \
		"messages: { statistics: 1h, max_size: 4096 }"
	broker_restart b || return 1
	rm -f "$SOCK"
	iotsecd_start d "$cfg2"
	expect "iotsecd starts on the failing spool and connects" \
		wait_for 30 grep -q 'mqtt: connected to' "$TMP/d.log"
	rc=$?
	if ! alive "$d_DPID"; then
		iotsecd_stop d
		echo "# iotsecd died: status $IOTSECD_RC"
		tail -n 5 "$TMP/d.log" | sed 's/^/# log: /'
		return 1
	fi
	[ "$rc" = 0 ] || return 1
	expect "the readable records' events arrive" \
		wait_for 120 eval 'count cm --run c && [ "$(val cm missing)" = 0 ]'
	rc=$?
	stream_start n 200 -n 100 -f 1001
	expect "100 more accepted after the start" wait_for 60 eval '! alive "$n_SPID"' ||
		rc=1
	stream_stop n
	expect "every event accepted after the start arrives" wait_for 60 delivered n ||
		rc=1
	expect "the spool drains" wait_for 60 eval \
		'[ "$(stat_get "$TMP/d.stats" spool.pending)" = 0 ] &&
		 [ "$(stat_get "$TMP/d.stats" spool.inflight)" = 0 ]' || rc=1
	alive "$d_DPID" || rc=1
	rerr=$(stat_get "$TMP/d.stats" spool.read_errors)
	echo "# $(grep -c . "$TMP/c.records") records in ${#segs[@]} segments;" \
		"$sb fails reads from byte $bad (in its record $(( (n2 + 1) / 2 )) of $n2);" \
		"events in the unreadable part: $(grep -c . "$TMP/c.lost");" \
		"read_errors $rerr, mode $(stat_get "$TMP/d.stats" spool.mode);" \
		"received distinct of run c $(val cm seqs), missing $(val cm missing)"
	grep -i 'read error' "$TMP/d.log" | head -n 2 | sed 's/^/# log: /'
	head -n 2 "$TMP/eiofs.log" | sed 's/^/# eiofs: /'
	iotsecd_stop d
	[ "$rc" = 0 ] || return 1
	expect "the read error is counted" [ "${rerr:-0}" -ge 1 ] &&
	expect "the read error is logged with the file" \
		grep -q "segment $sb: read error" "$TMP/d.log" &&
	expect "the spool stayed on disk" \
		grep -q '"mode":"disk"' "$TMP/d.stats" &&
	expect "the failing file is still there" [ -f "$TMP/spool/$sb" ] &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check eio_in_a_segment_is_an_error_not_a_signal eio

done_testing
