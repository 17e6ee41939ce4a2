#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The acknowledgement timeout (messages.ack_timeout): a message in flight
# without a PUBACK that long, on a live connection, is published again. Its
# clock must run only while something is in flight: after a quiet time
# longer than the timeout, the next messages are not overdue the moment
# they go out (they were, and every message after a quiet spell went out
# twice: make bench-device's 7-minute daemon published each one twice).
#
#   sdk-stream --SDK--> iotsecd (ack_timeout 2s) --> mosquitto :P
#                                                   mosquitto_sub 'iotsec/#'
#
#   quiet_then_publish_sends_each_message_once   connected and idle for
#       three times the timeout, then a burst: every accepted event
#       arrives, no message id twice, nothing published again (log)
set -u
. "$(dirname "$0")/../lib/delivery.sh"

delivery_begin delivery_ack
delivery_broker 'iotsec/#'

quiet() {
	local cfg=$TMP/q.yaml acc rc
	write_config "$cfg" "$b_PORT" "$TMP/spoolq" 8MiB \
		"messages: { statistics: 1h, ack_timeout: 2s }"
	rm -f "$SOCK"
	iotsecd_start dq "$cfg"
	expect "iotsecd serves $SOCK" wait_for 30 test -S "$SOCK" &&
	expect "iotsecd connects to the broker" \
		wait_for 30 grep -q 'mqtt: connected to' "$TMP/dq.log" || return 1
	# the quiet time is the point of the test: three timeouts
	sleep 6
	stream_start q 40
	expect "60 events accepted" wait_for 30 acked_at_least q 60 || return 1
	stream_stop q
	acc=$(acked_n q)
	expect "every accepted event arrives" wait_for 30 delivered q
	rc=$?
	# a little longer than the timeout: an overdue republish would show
	sleep 3
	iotsecd_stop dq
	count q
	echo "# accepted $acc, received distinct $(val q seqs)," \
		"messages $(val q messages), duplicate messages $(val q dup_messages)," \
		"republish lines $(grep -c 'in flight again' "$TMP/dq.log")"
	[ "$rc" = 0 ] &&
	expect "no message id received twice" [ "$(val q dup_messages)" = 0 ] &&
	expect "nothing published again" \
		eval '! grep -q "in flight again" "$TMP/dq.log"' &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check quiet_then_publish_sends_each_message_once quiet

done_testing
