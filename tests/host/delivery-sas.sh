#!/bin/bash
# SPDX-License-Identifier: MIT
#
# SAS tokens with a short lifetime in IoT Hub mode (issue 5): iotsecd with
# a connection string and sas_ttl 60 s (the shortest the configuration
# takes) publishes a steady stream over TLS to a mosquitto playing the hub
# (tests/mqtt/sas_auth.c checks every token and logs each CONNECT); the
# token is renewed 15 s before it expires (a quarter of the lifetime), by a
# new CONNECT, twice in ~95 s.
#
#   sdk-stream (20 ev/s) --SDK--> iotsecd --TLS, SAS, $.mid--> mosquitto :TLS
#                                                      sas_auth |  :plain
#                                           mosquitto_sub -v 'devices/#' <-'
#
#   short_sas_lifetime_renewed_nothing_lost   at least two renewals in
#       iotsecd's log, each a CONNECT the plugin verified with a later
#       expiry; every accepted event arrives (duplicates counted), on the
#       device's topic with its message id
set -u
. "$(dirname "$0")/../lib/delivery.sh"

PLUGIN=$BUILD/tools/sas_auth.so
KEY=$(printf 0123456789abcdef0123456789abcdef | openssl base64 -A)
CERTS=$TMP/certs

more=
[ -f "$PLUGIN" ] || more="$more build/tools/sas_auth.so (make tests)"
command -v openssl >/dev/null || more="$more openssl"
delivery_begin delivery_sas "$more"
if ! "$TOP/scripts/gen-certs.sh" "$CERTS" dev1 >"$TMP/gen-certs.log" 2>&1; then
	not_ok certificates "$(tail -n 3 "$TMP/gen-certs.log")"
	done_testing
	exit 1
fi
# the broker drops to the mosquitto user: its own copy of the plugin
install -m 644 "$PLUGIN" "$TMP/sas_auth.so"
: >"$TMP/auth.log"
chmod 666 "$TMP/auth.log"
cat >"$TMP/global.conf" <<CONF
plugin $TMP/sas_auth.so
plugin_opt_key $KEY
plugin_opt_log $TMP/auth.log
CONF
tls_conf "$CERTS" >"$TMP/tls.conf"
delivery_broker 'devices/#' "$TMP/global.conf" "$TMP/tls.conf"

renewals() { grep -c 'expires soon: reconnecting with a new one' "$TMP/ds.log"; }
renewed_twice() { [ "$(renewals)" -ge 2 ]; }

sas() {
	local cfg=$TMP/s.yaml a2 acc oks bad
	write_config "$cfg" "" "$TMP/spools" 8MiB \
		"hub: { connection_string: \"HostName=localhost;DeviceId=dev1;SharedAccessKey=$KEY\", port: $b_TLS_PORT, ca_file: $CERTS/ca.pem, sas_ttl: 60s }"
	rm -f "$SOCK"
	iotsecd_start ds "$cfg"
	expect "iotsecd connects with a SAS token" \
		wait_for 30 grep -q 'mqtt: connected to' "$TMP/ds.log" || return 1
	stream_start s 20
	# renewals at about 45 s and 90 s
	expect "two renewals within 150 s" wait_for 150 renewed_twice || return 1
	a2=$(acked_n s)
	expect "40 more accepted after the second renewal" \
		wait_for 30 acked_at_least s $((a2 + 40)) || return 1
	stream_stop s
	acc=$(acked_n s)
	expect "every accepted event arrives" wait_for 60 delivered s
	local rc=$?
	iotsecd_stop ds
	count s
	oks=$(grep -cP '^dev1\t.*\tok$' "$TMP/auth.log")
	bad=$(grep -P '^dev1\t' "$TMP/auth.log" | grep -cvP '\tok$')
	grep -o 'se=[0-9]*' "$TMP/auth.log" | cut -d= -f2 >"$TMP/se"
	echo "# sdk-stream: $(summary s)"
	echo "# renewals logged $(renewals), CONNECTs verified ok $oks, refused $bad," \
		"expiries $(tr '\n' ' ' <"$TMP/se");" \
		"accepted $acc, received distinct $(val s seqs), duplicates $(val s dup_seqs)" \
		"(messages $(val s messages), duplicate messages $(val s dup_messages))," \
		"missing $(val s missing) ($(val s missing_list))"
	[ "$rc" = 0 ] || return 1
	expect "at least 3 CONNECTs with valid tokens (first + 2 renewals)" [ "$oks" -ge 3 ] &&
	expect "no CONNECT refused" [ "$bad" = 0 ] &&
	expect "each token expires later than the one before" \
		eval 'sort -nu "$TMP/se" | cmp -s - "$TMP/se"' &&
	expect "messages on the device's topic with a message id" \
		grep -q '^devices/dev1/messages/events/%24.mid=[^&]' "$TMP/r.recv" &&
	expect "each message has a distinct id (the topic's \$.mid)" \
		[ "$(val s distinct)" -gt 0 ] && [ "$(val s reserialized)" = 0 ] &&
	expect "iotsecd exits 0" [ "$IOTSECD_RC" = 0 ]
}
check short_sas_lifetime_renewed_nothing_lost sas

done_testing
