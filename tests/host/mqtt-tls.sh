#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The MQTT transport against a real mosquitto over TLS on loopback.
#
#   mqtt-pub (forwarder/transport/mqtt.c in an epoll loop)
#      |  TLS, server cert verified + name   .----------------------------.
#      +--------------------------------------> mosquitto (this test's)    |
#      |   :TLS_CERT  require_certificate     |   sas_auth plugin: checks  |
#      |   :TLS       SAS token checked       |   SAS tokens / X.509 CN,   |
#      |                                      |   logs every CONNECT       |
#      |                                      '------------+---------------'
#      |                                    :PLAIN         |
#      |                       mosquitto_sub -t '#' <------'
#
# Certificates from scripts/gen-certs.sh; a second CA whose server
# certificate names another host, for the refusals.
set -u
. "$(dirname "$0")/../mqtt/lib.sh"

KEY=$(printf 0123456789abcdef0123456789abcdef | openssl base64 -A)
OTHER_KEY=$(printf 'another key, not the device key!' | openssl base64 -A)
CERTS=$TMP/certs
WRONG=$TMP/wrongname
IFID='%24.ifid=urn%3Aazureiot%3ASecurity%3ASecurityAgent%3A1'

need_mqtt_tools mqtt_tls

# --- certificates ------------------------------------------------------
gen_ok() {
	"$TOP/scripts/gen-certs.sh" "$CERTS" dev1 &&
	md5sum "$CERTS"/*.pem "$CERTS"/*.key >"$TMP/sums" &&
	"$TOP/scripts/gen-certs.sh" "$CERTS" dev1 &&
	md5sum -c --quiet "$TMP/sums" &&
	openssl verify -CAfile "$CERTS/ca.pem" "$CERTS/server.pem" "$CERTS/client.pem" &&
	openssl x509 -in "$CERTS/server.pem" -noout -ext subjectAltName |
		grep -q 'DNS:localhost, IP Address:127.0.0.1' &&
	openssl x509 -in "$CERTS/client.pem" -noout -subject | grep -q 'CN *= *dev1' &&
	runuser -u mosquitto -- cat "$CERTS/server.key" >/dev/null &&
	SERVER_SAN=DNS:wrong.example "$TOP/scripts/gen-certs.sh" "$WRONG" dev1
}
check gen_certs_idempotent_and_readable_by_mosquitto gen_ok

# Bad TLS files are configuration errors with the file and the reason.
tls_files() {
	x="HostName=localhost;DeviceId=dev1;x509=true"
	openssl pkey -in "$CERTS/client.key" -aes256 -passout pass:x \
		-out "$TMP/encrypted.key" &&
	"$PUB" -c "$x" --ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" \
		--key "$WRONG/client.key" | tee /dev/stderr |
		grep -qxF "error: mqtt: key $WRONG/client.key does not belong to certificate $CERTS/client.pem" &&
	"$PUB" -c "$x" --ca "$CERTS/client.key" --cert "$CERTS/client.pem" \
		--key "$CERTS/client.key" | tee /dev/stderr |
		grep -q "^error: mqtt: CA file $CERTS/client.key: no PEM certificate" &&
	"$PUB" -c "$x" --ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" \
		--key "$TMP/encrypted.key" </dev/null | tee /dev/stderr |
		grep -q "^error: mqtt: key $TMP/encrypted.key: no PEM private key, or an encrypted one" &&
	"$PUB" -c "$x" --ca "$CERTS/ca.pem" --cert "$TMP/none.pem" \
		--key "$CERTS/client.key" | tee /dev/stderr |
		grep -qxF "error: mqtt: $TMP/none.pem: No such file or directory"
}
check tls_file_errors_name_file_and_reason tls_files

if ! start_broker b "$CERTS" "$KEY"; then
	not_ok broker_starts
	done_testing
	exit 1
fi
ok broker_starts

CS="HostName=localhost;DeviceId=dev1;SharedAccessKey=$KEY"

# published_ok NAME: every message acked and none left over.
# arrived SUB TOPIC N: the subscriber saw N messages with exactly TOPIC.
arrived() {
	wait_for 10 seen_at_least "$@" &&
	[ "$(seen "$1" "$2")" = "$3" ]
}
seen() { grep -cxF "$2 {\"hello\":\"iotsec\"}" "$TMP/$1.sub"; }
seen_at_least() { [ "$(seen "$1" "$2")" -ge "$3" ]; }

# --- IoT Hub, SAS -----------------------------------------------------------
hub_sas() {
	subscribe sas "$b_PLAIN_PORT" 'devices/#' 3 &&
	"$PUB" -c "$CS" -p "$b_TLS_PORT" --ca "$CERTS/ca.pem" -n 3 --mid sas \
		>"$TMP/sas.out" 2>&1 &&
	grep -q '^published 3 acked 3$' "$TMP/sas.out" &&
	for i in 1 2 3; do
		arrived sas "devices/dev1/messages/events/%24.mid=sas-$i&%24.ct=application%2Fjson&%24.ce=utf-8&$IFID" 1 || return 1
	done &&
	grep -P '^dev1\tlocalhost/dev1/\?api-version=2021-04-12&DeviceClientType=iotsecd%2F[^\t]+\tSharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=[^&]+&se=[0-9]+\tok$' "$TMP/b.auth" &&
	wait_for 5 grep -q "New client connected from 127.0.0.1:[0-9]* as dev1 (p2, c0, k180, u'localhost/dev1/" "$TMP/b.log"
}
check hub_sas_token_publish_topic_and_connect hub_sas

# No CA file: the system's CA store as OpenSSL finds it, which honours
# SSL_CERT_FILE; here that "system store" holds the test CA, and the
# connection verifies (with a fixed /etc/ssl/certs it would not).
system_store() {
	subscribe os "$b_PLAIN_PORT" 'devices/#' 1 &&
	SSL_CERT_FILE=$CERTS/ca.pem SSL_CERT_DIR=$TMP/no-such-dir \
		"$PUB" -c "$CS" -p "$b_TLS_PORT" -n 1 --mid os --timeout 10 \
		>"$TMP/os.out" 2>&1
	cat "$TMP/os.out" >&2
	grep -q '^published 1 acked 1$' "$TMP/os.out" &&
	arrived os "devices/dev1/messages/events/%24.mid=os-1&%24.ct=application%2Fjson&%24.ce=utf-8&$IFID" 1
}
check system_ca_store_without_ca_file system_store

# ... and without the test CA in it, the same server does not verify
system_store_other_ca() {
	SSL_CERT_FILE=$WRONG/ca.pem SSL_CERT_DIR=$TMP/no-such-dir \
		"$PUB" -c "$CS" -p "$b_TLS_PORT" --expect-fail --timeout 10 \
		>"$TMP/os-wrong.out" 2>&1
	cat "$TMP/os-wrong.out" >&2
	grep -q 'server certificate of localhost:[0-9]* does not verify' "$TMP/os-wrong.out"
}
check system_ca_store_without_the_ca_refuses system_store_other_ca

# a client certificate with the system's store too
system_store_x509() {
	subscribe osx "$b_PLAIN_PORT" 'devices/#' 1 &&
	SSL_CERT_FILE=$CERTS/ca.pem SSL_CERT_DIR=$TMP/no-such-dir \
		"$PUB" -c "HostName=localhost;DeviceId=dev1;x509=true" \
		-p "$b_TLS_CERT_PORT" --cert "$CERTS/client.pem" \
		--key "$CERTS/client.key" -n 1 --mid osx --timeout 10 \
		>"$TMP/osx.out" 2>&1
	cat "$TMP/osx.out" >&2
	grep -q '^published 1 acked 1$' "$TMP/osx.out" &&
	arrived osx "devices/dev1/messages/events/%24.mid=osx-1&%24.ct=application%2Fjson&%24.ce=utf-8&$IFID" 1
}
check system_ca_store_with_client_certificate system_store_x509

hub_module() {
	subscribe mod "$b_PLAIN_PORT" 'devices/#' 1 &&
	"$PUB" -c "HostName=localhost;DeviceId=dev1;ModuleId=sec;SharedAccessKey=$KEY" \
		-p "$b_TLS_PORT" --ca "$CERTS/ca.pem" -n 1 --mid mod >"$TMP/mod.out" 2>&1 &&
	arrived mod "devices/dev1/modules/sec/messages/events/%24.mid=mod-1&%24.ct=application%2Fjson&%24.ce=utf-8&$IFID" 1 &&
	grep -P '^dev1/sec\tlocalhost/dev1/sec/\?api-version=2021-04-12&DeviceClientType=[^\t]+\tSharedAccessSignature sr=localhost%2Fdevices%2Fdev1%2Fmodules%2Fsec&sig=[^\t]+\tok$' "$TMP/b.auth"
}
check hub_module_identity hub_module

# --- IoT Hub, X.509 ---------------------------------------------------------
hub_x509() {
	subscribe x509 "$b_PLAIN_PORT" 'devices/#' 2 &&
	"$PUB" -c "HostName=localhost;DeviceId=dev1;x509=true" -p "$b_TLS_CERT_PORT" \
		--ca "$CERTS/ca.pem" --cert "$CERTS/client.pem" --key "$CERTS/client.key" \
		-n 2 --mid x509 >"$TMP/x509.out" 2>&1 &&
	arrived x509 "devices/dev1/messages/events/%24.mid=x509-2&%24.ct=application%2Fjson&%24.ce=utf-8&$IFID" 1 &&
	grep -P '^dev1\tlocalhost/dev1/\?api-version=[^\t]+\t-\tx509-ok$' "$TMP/b.auth"
}
check hub_x509_client_certificate hub_x509

no_client_cert() {
	"$PUB" -c "$CS" -p "$b_TLS_CERT_PORT" --ca "$CERTS/ca.pem" --expect-fail \
		--timeout 10 >"$TMP/nocert.out" 2>&1 &&
	grep -q '^error: .*does the broker require a client certificate' "$TMP/nocert.out"
}
check refused_without_client_certificate_says_why no_client_cert

# --- broker mode -------------------------------------------------------------
broker_tls_cert() {
	subscribe brk "$b_PLAIN_PORT" 'plant/#' 2 &&
	"$PUB" -H localhost -p "$b_TLS_CERT_PORT" --tls --ca "$CERTS/ca.pem" \
		--cert "$CERTS/client.pem" --key "$CERTS/client.key" --device dev1 \
		--topic 'plant/{device_id}/{type}' --type ProcessCreate -n 2 \
		>"$TMP/brk.out" 2>&1 &&
	arrived brk plant/dev1/ProcessCreate 2
}
check broker_mode_tls_client_cert_topic_template broker_tls_cert

broker_password() {
	subscribe pw "$b_PLAIN_PORT" 'iotsec/#' 1 &&
	"$PUB" -H localhost -p "$b_TLS_PORT" --tls --ca "$CERTS/ca.pem" --device d3 \
		--user agent --password 's3cret pass' -n 1 >"$TMP/pw.out" 2>&1 &&
	arrived pw iotsec/d3/security 1 &&
	grep -qP '^d3\tagent\ts3cret pass\tuser-ok$' "$TMP/b.auth" &&
	"$PUB" -H localhost -p "$b_TLS_PORT" --tls --ca "$CERTS/ca.pem" --device d3 \
		--user agent --password wrong --expect-fail --timeout 10 \
		>"$TMP/pwbad.out" 2>&1 &&
	grep -q '^error: localhost:[0-9]* refused the connection: Connection Refused: not authorised' "$TMP/pwbad.out"
}
check broker_mode_user_and_password broker_password

broker_plain() {
	subscribe plain "$b_PLAIN_PORT" 'iotsec/#' 1 &&
	"$PUB" -H 127.0.0.1 -p "$b_PLAIN_PORT" --device d2 -n 1 >"$TMP/plain.out" 2>&1 &&
	arrived plain iotsec/d2/security 1
}
check broker_mode_without_tls broker_plain

# --- refusals ----------------------------------------------------------------
wrong_key() {
	"$PUB" -c "HostName=localhost;DeviceId=dev1;SharedAccessKey=$OTHER_KEY" \
		-p "$b_TLS_PORT" --ca "$CERTS/ca.pem" --expect-fail --timeout 10 \
		>"$TMP/wrongkey.out" 2>&1 &&
	grep -q '^error: localhost:[0-9]* refused the connection: Connection Refused: not authorised' "$TMP/wrongkey.out" &&
	grep -qP '^dev1\t.*\tbad-signature$' "$TMP/b.auth"
}
check refused_sas_with_wrong_key wrong_key

wrong_ca() {
	subscribe wca "$b_PLAIN_PORT" 'devices/#' 1
	"$PUB" -c "$CS" -p "$b_TLS_PORT" --ca "$WRONG/ca.pem" --expect-fail \
		--timeout 10 --mid wrongca >"$TMP/wca.out" 2>&1 &&
	grep -q "^error: server certificate of localhost:$b_TLS_PORT does not verify: self-signed certificate in certificate chain" "$TMP/wca.out" &&
	grep -q 'does not verify' "$TMP/wca.out" &&
	! grep -q wrongca "$TMP/wca.sub"
}
check refuses_server_cert_from_unknown_ca wrong_ca

if start_broker w "$WRONG" "$KEY"; then
	wrong_name() {
		"$PUB" -c "$CS" -p "$w_TLS_PORT" --ca "$WRONG/ca.pem" --expect-fail \
			--timeout 10 >"$TMP/wname.out" 2>&1 &&
		grep -q "^error: server certificate of localhost:$w_TLS_PORT does not verify: hostname mismatch" "$TMP/wname.out" &&
		! grep -q "New client connected.* as dev1" "$TMP/w.log"
	}
	check refuses_server_cert_for_another_host_name wrong_name
	wrong_ip() {
		"$PUB" -c "HostName=127.0.0.1;DeviceId=dev1;SharedAccessKey=$KEY" \
			-p "$w_TLS_PORT" --ca "$WRONG/ca.pem" --expect-fail \
			--timeout 10 >"$TMP/wip.out" 2>&1 &&
		grep -q "^error: server certificate of 127.0.0.1:$w_TLS_PORT does not verify: IP address mismatch" "$TMP/wip.out"
	}
	check refuses_server_cert_for_another_address wrong_ip
	stop_broker w
else
	not_ok refuses_server_cert_for_another_host_name "second broker did not start"
fi

refused_port() {
	"$PUB" -c "$CS" -p "$(free_port)" --ca "$CERTS/ca.pem" --expect-fail \
		--timeout 10 >"$TMP/refused.out" 2>&1 &&
	grep -q '^error: localhost:[0-9]*: cannot connect' "$TMP/refused.out"
}
check nobody_listening_is_an_error_not_a_hang refused_port

# A server that accepts and then says nothing: the attempt times out.
mute() {
	port=$(free_port)
	perl -MIO::Socket::INET -e '
		my $s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
			LocalPort => $ARGV[0], Listen => 5, ReuseAddr => 1) or die;
		my @keep;
		while (1) { push @keep, scalar $s->accept; }' "$port" &
	PIDS="$PIDS $!"
	wait_for 10 listening "$port" &&
	"$PUB" -c "$CS" -p "$port" --ca "$CERTS/ca.pem" --keepalive 5 \
		--expect-fail --timeout 20 >"$TMP/mute.out" 2>&1 &&
	grep -q "^error: localhost:$port: no answer to the TLS handshake or CONNECT within 5 s" "$TMP/mute.out"
}
check silent_server_times_out_the_attempt mute

# --- SAS renewal -------------------------------------------------------------
# Tokens live 4 s; 8 messages over 7 s need at least two renewals, each a
# new CONNECT with a later expiry that the plugin verifies.
renewal() {
	: >"$TMP/b.auth"
	subscribe ren "$b_PLAIN_PORT" 'devices/#' 8 &&
	"$PUB" -c "$CS" -p "$b_TLS_PORT" --ca "$CERTS/ca.pem" -n 8 --interval 1000 \
		--ttl 4 --timeout 30 --mid ren >"$TMP/ren.out" 2>&1 &&
	grep -q '^published 8 acked 8$' "$TMP/ren.out" &&
	[ "$(grep -c 'expires soon: reconnecting with a new one' "$TMP/ren.out")" -ge 2 ] &&
	[ "$(grep -cP '^dev1\t.*\tok$' "$TMP/b.auth")" -ge 3 ] &&
	! grep -P '^dev1\t' "$TMP/b.auth" | grep -qvP '\tok$' &&
	grep -o 'se=[0-9]*' "$TMP/b.auth" | cut -d= -f2 >"$TMP/se" &&
	sort -nu "$TMP/se" | cmp -s - "$TMP/se" &&
	[ "$(sort -u "$TMP/se" | wc -l)" = "$(wc -l <"$TMP/se")" ] &&
	for i in 1 2 3 4 5 6 7 8; do
		arrived ren "devices/dev1/messages/events/%24.mid=ren-$i&%24.ct=application%2Fjson&%24.ce=utf-8&$IFID" 1 || return 1
	done
}
check short_sas_lifetime_is_renewed_and_connection_survives renewal

# --- a broker that stops answering: keep-alive notices ----------------------
# SIGSTOP leaves the TCP connection open and silent; with a 5 s keep-alive
# the transport must declare it lost, then reconnect once it answers again.
silent() {
	"$PUB" -c "$CS" -p "$b_TLS_PORT" --ca "$CERTS/ca.pem" -n 4 --interval 1000 \
		--keepalive 5 --timeout 90 --mid ka >"$TMP/ka.out" 2>&1 &
	pub=$!
	wait_for 10 grep -q 'acked 1' "$TMP/ka.out" &&
	kill -STOP "$b_PID" &&
	wait_for 40 grep -q 'connection to localhost:[0-9]* lost' "$TMP/ka.out"
	lost=$?
	kill -CONT "$b_PID"
	[ "$lost" = 0 ] && wait "$pub" &&
	grep -q '^published 4 acked 4$' "$TMP/ka.out" &&
	grep -q 'no answer to a keep-alive ping within 5 s' "$TMP/ka.out"
}
check silent_broker_is_noticed_by_keepalive_and_left silent

# --- broker restart: backoff, reconnect, quiet log --------------------------
restart() {
	"$PUB" -c "$CS" -p "$b_TLS_PORT" --ca "$CERTS/ca.pem" -n 6 --interval 1000 \
		--timeout 40 --mid rst >"$TMP/rst.out" 2>&1 &
	pub=$!
	wait_for 10 grep -q 'acked 2' "$TMP/rst.out" &&
	stop_broker b &&
	wait_for 20 grep -q 'retrying in [0-9.]* s (attempt 2)' "$TMP/rst.out" &&
	run_broker b &&
	wait "$pub" &&
	grep -q '^published 6 acked 6$' "$TMP/rst.out" &&
	grep -q 'connection to localhost:[0-9]* lost' "$TMP/rst.out" &&
	grep -q 'retrying in [0-9.]* s (attempt 1)' "$TMP/rst.out" &&
	grep -q 'connected to localhost:[0-9]* as dev1 after [0-9]* failed attempt' "$TMP/rst.out" &&
	[ "$(grep -c 'iotsecd: mqtt:' "$TMP/rst.out")" -le 10 ]
}
check reconnects_with_backoff_after_broker_restart restart

done_testing
