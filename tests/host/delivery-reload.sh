#!/bin/bash
# SPDX-License-Identifier: MIT
#
# SIGHUP never leaves the daemon without a transport: the new connection
# (CA, certificate, key) is built and checked before the old one is freed,
# and a reload whose transport cannot be built keeps the running one.
# --check-config checks that the TLS files load.
#
#   sdk-stream --SDK--> iotsecd --TLS (CA certs/ca.pem)--> mosquitto :T
#                         ^ SIGHUP: ca_file a file with no   mosquitto_sub :P
#                           certificate in it
#
#   check_config_loads_tls_files   --check-config of the configuration
#       with that CA fails and names the file
#   reload_with_unreadable_ca_keeps_connection   connected and delivering;
#       SIGHUP with that configuration: the reload fails, the connection
#       stays up, and events sent after it are delivered
set -u
. "$(dirname "$0")/../lib/delivery.sh"

CERTS=$TMP/certs
command -v openssl >/dev/null || missing=" openssl"
delivery_begin delivery_reload "${missing:-}"
"$TOP/scripts/gen-certs.sh" "$CERTS" dtest >/dev/null 2>&1 || {
	not_ok gen_certs
	done_testing
	exit 1
}
tls_conf "$CERTS" >"$TMP/tls.conf"
delivery_broker 'iotsec/#' "" "$TMP/tls.conf"
echo "this is not a certificate" >"$TMP/bad-ca.pem"

# tls_config FILE CA: broker mode over TLS to localhost with CA
tls_config() {
	write_config "$1" "$b_PORT" "$TMP/spoolr" 8MiB \
		"broker: { host: localhost, port: $b_TLS_PORT, device_id: dtest, tls: true, ca_file: \"$2\", topic: \"iotsec/{device_id}/{type}/{message_id}\" }"
}

check_cfg() {
	local out rc=0
	tls_config "$TMP/bad.yaml" "$TMP/bad-ca.pem"
	tls_config "$TMP/good.yaml" "$CERTS/ca.pem"
	"$BIN/iotsecd" --check-config "$TMP/good.yaml" || return 1
	out=$("$BIN/iotsecd" --check-config "$TMP/bad.yaml" 2>&1) || rc=$?
	echo "# bad CA: exit $rc: $out"
	expect "--check-config fails" [ "$rc" = 1 ] &&
	expect "and names the CA file" eval 'echo "$out" | grep -q bad-ca.pem'
}
check check_config_loads_tls_files check_cfg

reload_bad_ca() {
	local cfg=$TMP/r.yaml st=$TMP/dr.stats
	tls_config "$cfg" "$CERTS/ca.pem"
	rm -f "$SOCK"
	iotsecd_start dr "$cfg"
	expect "iotsecd serves $SOCK" wait_for 30 test -S "$SOCK" &&
	expect "iotsecd connects over TLS" \
		wait_for 30 grep -q 'mqtt: connected to localhost' "$TMP/dr.log" ||
		return 1
	stream_start before 50
	expect "events accepted before the reload" \
		wait_for 30 acked_at_least before 20 || return 1
	stream_stop before
	expect "events delivered before the reload" \
		wait_for 30 delivered before || return 1
	tls_config "$cfg" "$TMP/bad-ca.pem"
	kill -HUP "$dr_DPID"
	expect "the reload reports the CA" \
		wait_for 15 grep -q 'bad-ca.pem' "$TMP/dr.log" || return 1
	# two writes of the stats file after the reload
	sleep 2.5
	echo "# after the reload: mqtt $(stat_get "$st" mqtt);" \
		"log: $(grep -i 'reload\|bad-ca' "$TMP/dr.log" | tr '\n' '|')"
	stream_start after 50
	expect "events accepted after the reload" \
		wait_for 30 acked_at_least after 20 || return 1
	stream_stop after
	expect "events sent after the reload are delivered" \
		wait_for 30 delivered after
	rc=$?
	echo "# after: accepted $(acked_n after), received $(val after seqs)," \
		"missing $(val after missing)"
	iotsecd_stop dr
	[ "$rc" = 0 ] &&
	expect "the reload said it failed" \
		grep -q 'reload failed; keeping the running' "$TMP/dr.log" &&
	expect "no reconnect after the failed reload" \
		eval '[ "$(grep -c "mqtt: connected to" "$TMP/dr.log")" = 1 ]' &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check reload_with_unreadable_ca_keeps_connection reload_bad_ca

done_testing
