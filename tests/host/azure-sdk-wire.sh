#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What iotsecd's transport sends, compared with what Azure's own Node.js
# device SDK (npm azure-iot-device + azure-iot-device-mqtt, installed into
# build/node) sends, both against the same mosquitto over TLS:
#
#   sdk-send.js (Azure SDK) --.   TLS    .------------------------------.
#                              +-------->| mosquitto (this test's)      |
#   mqtt-pub (forwarder/transport/mqtt.c)'         |  verbose log: client id,     |
#                                        |   user name, flags, QoS      |
#                                        |  sas_auth plugin: password   |
#                                        '-------------+----------------'
#                                   mosquitto_sub '#' <'  topic, payload
#
# Compared for a device (SAS), a module (SAS) and a device (X.509): client
# id, user name (but for the DeviceClientType value, which names each
# client), protocol level / clean session / keep-alive, QoS, topic with its
# property bag, payload, and the SAS token: same form, valid for the
# broker's check, and byte-identical when made for the SDK's expiry; and
# tokens for fixed inputs (policy name, characters that need escaping).
#
# Not compared here: token renewal timing (the SDK renews a 1 h token 15 min
# before expiry; iotsecd the same, but waiting for it is not a test), and
# the TLS ClientHello (cipher lists differ by design: OpenSSL vs Node).
set -u
. "$(dirname "$0")/../mqtt/lib.sh"

NODE_DIR=$BUILD/node
KEY=$(printf 0123456789abcdef0123456789abcdef | openssl base64 -A)
CERTS=$TMP/certs
SDK="node $TOP/tests/mqtt/sdk-send.js"

need_mqtt_tools azure_sdk_wire

# npm install once; the registry may be out of reach, then say so.
sdk_installed() {
	[ -f "$NODE_DIR/node_modules/azure-iot-device/package.json" ] &&
	[ -f "$NODE_DIR/node_modules/azure-iot-device-mqtt/package.json" ]
}
if ! sdk_installed && command -v npm >/dev/null; then
	mkdir -p "$NODE_DIR"
	[ -f "$NODE_DIR/package.json" ] ||
		echo '{"name": "iotsec-wire-test", "private": true}' >"$NODE_DIR/package.json"
	(cd "$NODE_DIR" && timeout 300 npm install --no-audit --no-fund \
		azure-iot-device azure-iot-device-mqtt) >"$TMP/npm.log" 2>&1
fi
if ! sdk_installed || ! command -v node >/dev/null; then
	sed 's/^/# /' "$TMP/npm.log" 2>/dev/null | tail -n 5
	skip azure_sdk_wire "Azure's Node SDK not installable here (npm or registry missing)"
	done_testing
	exit 0
fi
export NODE_PATH=$NODE_DIR/node_modules
sdk_version=$(node -p "require('azure-iot-device/package.json').version")
echo "# azure-iot-device $sdk_version, azure-iot-device-mqtt $(node -p "require('azure-iot-device-mqtt/package.json').version")"

"$TOP/scripts/gen-certs.sh" "$CERTS" dev1 >/dev/null 2>&1
export NODE_EXTRA_CA_CERTS=$CERTS/ca.pem
if ! start_broker b "$CERTS" "$KEY"; then
	not_ok broker_starts
	done_testing
	exit 1
fi
subscribe all "$b_PLAIN_PORT" 'devices/#' 1000

# capture NAME CMD...: run CMD (one message) and keep what the broker saw
# of it: $TMP/NAME.auth (CONNECT: id, user, password, verdict), NAME.conn
# (the connect log line), NAME.pub (the PUBLISH log line), NAME.msg (topic
# and payload as the subscriber got them).
capture() {
	name=$1
	shift
	a=$(wc -l <"$TMP/b.auth") l=$(wc -l <"$TMP/b.log") s=$(wc -l <"$TMP/all.sub")
	"$@" >"$TMP/$name.out" 2>&1 || { cat "$TMP/$name.out"; return 1; }
	wait_for 10 sh -c "tail -n +$((s + 1)) '$TMP/all.sub' | grep -q '^devices/'" || return 1
	wait_for 5 sh -c "tail -n +$((l + 1)) '$TMP/b.log' | grep -q 'Received PUBLISH'" || return 1
	tail -n +$((a + 1)) "$TMP/b.auth" | grep -v '^sub-' | tail -n 1 >"$TMP/$name.auth"
	tail -n +$((l + 1)) "$TMP/b.log" | grep 'New client connected' | tail -n 1 >"$TMP/$name.conn"
	tail -n +$((l + 1)) "$TMP/b.log" | grep 'Received PUBLISH' | tail -n 1 >"$TMP/$name.pub"
	tail -n +$((s + 1)) "$TMP/all.sub" | grep '^devices/' | tail -n 1 >"$TMP/$name.msg"
}

field() { cut -f"$1" "$TMP/$2.auth"; }
# same WHAT A B: one TAP case, A and B equal and not empty.
same() {
	if [ -n "$2" ] && [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1" "sdk:     $2" "iotsecd: $3"
	fi
}

compare() { # IDENT CONNSTR PORT [CERT KEY]
	id=$1 cs=$2 port=$3
	shift 3
	if ! capture "sdk-$id" env WIRE_PORT="$port" timeout 60 $SDK send "$cs" "$@"; then
		not_ok "${id}_sdk_sends" "$(tail -n 5 "$TMP/sdk-$id.out")"
		return
	fi
	ok "${id}_sdk_sends"
	if [ $# = 2 ]; then
		set -- --cert "$1" --key "$2"
	fi
	if ! capture "our-$id" "$PUB" -c "$cs" -p "$port" --ca "$CERTS/ca.pem" \
		-n 1 --mid mid "$@"; then
		not_ok "${id}_iotsecd_sends" "$(tail -n 5 "$TMP/our-$id.out")"
		return
	fi
	ok "${id}_iotsecd_sends"

	same "${id}_client_id" "$(field 1 sdk-$id)" "$(field 1 our-$id)"
	same "${id}_user_name_but_client_type" \
		"$(field 2 sdk-$id | sed 's/&DeviceClientType=[^&]*$/\&DeviceClientType=*/')" \
		"$(field 2 our-$id | sed 's/&DeviceClientType=[^&]*$/\&DeviceClientType=*/')"
	echo "# sdk user name:     $(field 2 sdk-$id)"
	echo "# iotsecd user name: $(field 2 our-$id)"
	same "${id}_mqtt_level_clean_session_keepalive" \
		"$(grep -o '(p[0-9], c[0-9], k[0-9]*' "$TMP/sdk-$id.conn")" \
		"$(grep -o '(p[0-9], c[0-9], k[0-9]*' "$TMP/our-$id.conn")"
	same "${id}_publish_qos_retain" \
		"$(grep -o '(d[0-9], q[0-9], r[0-9]' "$TMP/sdk-$id.pub")" \
		"$(grep -o '(d[0-9], q[0-9], r[0-9]' "$TMP/our-$id.pub")"
	same "${id}_topic_and_properties" "$(cut -d' ' -f1 "$TMP/sdk-$id.msg")" \
		"$(cut -d' ' -f1 "$TMP/our-$id.msg")"
	same "${id}_payload" "$(cut -d' ' -f2- "$TMP/sdk-$id.msg")" \
		"$(cut -d' ' -f2- "$TMP/our-$id.msg")"
	same "${id}_broker_accepts_both" "$(field 4 sdk-$id)" "$(field 4 our-$id)"

	sdk_pw=$(field 3 sdk-$id) our_pw=$(field 3 our-$id)
	if [ "$sdk_pw" = - ]; then
		same "${id}_no_password_with_x509" "$sdk_pw" "$our_pw"
		return
	fi
	form='s/sig=[^&]*/sig=SIG/; s/se=[0-9]*$/se=EXPIRY/'
	same "${id}_sas_token_form" "$(echo "$sdk_pw" | sed "$form")" \
		"$(echo "$our_pw" | sed "$form")"
	se=$(echo "$sdk_pw" | sed -n 's/.*&se=\([0-9]*\)$/\1/p')
	same "${id}_sas_token_for_sdk_expiry_identical" "$sdk_pw" \
		"$("$PUB" -c "$cs" --print-sas "$se")"
}

compare device "HostName=localhost;DeviceId=dev1;SharedAccessKey=$KEY" "$b_TLS_PORT"
compare module "HostName=localhost;DeviceId=dev1;ModuleId=sec;SharedAccessKey=$KEY" "$b_TLS_PORT"
compare x509 "HostName=localhost;DeviceId=dev1;x509=true" "$b_TLS_CERT_PORT" \
	"$CERTS/client.pem" "$CERTS/client.key"

# Tokens for fixed inputs, through the SDK's SharedAccessSignature.create().
same sas_wire_reference_example \
	"$($SDK sas myhub.azure-devices.net dev1 - - "$KEY" 1800000000)" \
	"$("$PUB" -c "HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=$KEY" --print-sas 1800000000)"
same sas_module_policy_and_escaped_characters \
	"$($SDK sas myhub.azure-devices.net "dev*1'" "m(1)" 'pol!cy' "$KEY" 4102444800)" \
	"$("$PUB" -c "HostName=myhub.azure-devices.net;DeviceId=dev*1';ModuleId=m(1);SharedAccessKeyName=pol!cy;SharedAccessKey=$KEY" --print-sas 4102444800)"

done_testing
