#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The twin on the wire: what Azure's Node.js device SDK (npm
# azure-iot-device + azure-iot-device-mqtt, in build/node, as
# tests/host/azure-sdk-wire.sh installs it) sends, and what
# forwarder/transport/twin.c sends (tests/mqtt/twin-client), against the
# same mosquitto, the test answering both as the hub (tests/mqtt/twin-lib.sh):
#
#   sdk-twin.js (Azure SDK) --.   TLS, SAS  .--------------------------.
#                              +----------->| mosquitto, verbose log:  |
#   twin-client (twin.c) ----'              | SUBSCRIBE topic + QoS,   |
#                                           | PUBLISH flags, topic, len|
#   this script (the hub) <--- plain ------>'--------------------------'
#
# Compared for a device and a module identity: the subscriptions (topic,
# QoS), the GET (topic with its $rid, flags, body), the reported PATCH
# (topic, flags, body for the same document). Told, not failed: the order
# of the second SUBSCRIBE and the GET (see docs/mqtt.md).
set -u
. "$(dirname "$0")/../mqtt/lib.sh"
. "$(dirname "$0")/../mqtt/twin-lib.sh"

NODE_DIR=$BUILD/node
KEY=$(printf 0123456789abcdef0123456789abcdef | openssl base64 -A)
CERTS=$TMP/certs
PATCH='{"agent":{"version":"1.0"},"n":1}'
RID='[0-9a-f]\{8\}-[0-9a-f]\{4\}-4[0-9a-f]\{3\}-[89ab][0-9a-f]\{3\}-[0-9a-f]\{12\}'

need_mqtt_tools twin_sdk_wire
[ -x "$TWIN_CLIENT" ] || { skip twin_sdk_wire "no $TWIN_CLIENT"; done_testing; exit 0; }

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
	skip twin_sdk_wire "Azure's Node SDK not installable here (npm or registry missing)"
	done_testing
	exit 0
fi
export NODE_PATH=$NODE_DIR/node_modules
echo "# azure-iot-device $(node -p "require('azure-iot-device/package.json').version"), azure-iot-device-mqtt $(node -p "require('azure-iot-device-mqtt/package.json').version")"

"$TOP/scripts/gen-certs.sh" "$CERTS" dev1 >/dev/null 2>&1
export NODE_EXTRA_CA_CERTS=$CERTS/ca.pem
if ! start_broker b "$CERTS" "$KEY" || ! hub_watch "$b_PLAIN_PORT"; then
	not_ok broker_and_hub_start
	done_testing
	exit 1
fi

# play_hub: answer the GET, then the reported PATCH, as the hub would.
play_hub() {
	wait_gets 1 20 || return 1
	hub_answer "$(rid_of_get 1)" 200 \
		'{"desired":{"exec":"On","$version":2},"reported":{"$version":1}}'
	wait_reports 1 20 || return 1
	hub_answer "$(rid_of_report 1)" 204 "" '&$version=2'
}

# run_one NAME CLIENT_ID CMD...: NAME's broker log lines in TMP/NAME.wire
# (SUBSCRIBE "sub TOPIC QoS", PUBLISH "pub FLAGS TOPIC BYTES", in order),
# what the hub saw in TMP/NAME.hub.
run_one() {
	local name=$1 id=$2 l
	shift 2
	l=$(wc -l <"$TMP/b.log")
	: >"$TMP/hub.sub"
	"$@" || return 1
	play_hub || return 1
	wait_for 20 sh -c "tail -n +$((l + 1)) '$TMP/b.log' | grep -q 'Client $id disconnected'" || return 1
	cp "$TMP/hub.sub" "$TMP/$name.hub"
	tail -n +$((l + 1)) "$TMP/b.log" | awk -v id="$id" '
		$0 ~ "Received SUBSCRIBE from " id "$" { insub = 1; next }
		insub && /^[0-9]*: \t/ { sub(/^[0-9]*: \t/, ""); print "sub " $0; next }
		{ insub = 0 }
		$0 ~ "Received PUBLISH from " id " " {
			s = $0; sub(/.*Received PUBLISH from [^ ]* /, "", s); print "pub " s }
	' >"$TMP/$name.wire"
}

sdk_run() {
	WIRE_PORT=$b_TLS_PORT timeout 60 node "$TOP/tests/mqtt/sdk-twin.js" \
		"$1" "$PATCH" >"$TMP/sdk.out" 2>&1 &
}
our_run() {
	client_start c -c "$1" -p "$b_TLS_PORT" --ca "$CERTS/ca.pem" -W 60
	( wait_for 20 client_has c '^full ' && client_say c "report $PATCH" &&
	  wait_reports 1 20 && sleep 1 && client_say c quit ) &
}

same() {
	if [ -n "$2" ] && [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1" "sdk:     $2" "iotsecd: $3"
	fi
}

norm() { sed "s/\\\$rid=$RID/\$rid=RID/"; }

compare() { # IDENT CONNSTR CLIENT_ID
	local id=$1 cs=$2 cid=$3
	if ! run_one "sdk-$id" "$cid" sdk_run "$cs"; then
		not_ok "${id}_sdk_runs" "$(tail -n 5 "$TMP/sdk.out")"
		return
	fi
	ok "${id}_sdk_runs"
	if ! run_one "our-$id" "$cid" our_run "$cs"; then
		not_ok "${id}_twin_client_runs" "$(tail -n 5 "$TMP/c.err")"
		client_stop c
		return
	fi
	client_stop c
	ok "${id}_twin_client_runs"
	sed 's/^/# sdk:     /' "$TMP/sdk-$id.wire"
	sed 's/^/# iotsecd: /' "$TMP/our-$id.wire"

	same "${id}_subscriptions_topic_qos" \
		"$(grep '^sub ' "$TMP/sdk-$id.wire" | sort | tr '\n' ' ')" \
		"$(grep '^sub ' "$TMP/our-$id.wire" | sort | tr '\n' ' ')"
	same "${id}_get_flags_topic_size" \
		"$(grep 'twin/GET/' "$TMP/sdk-$id.wire" | norm)" \
		"$(grep 'twin/GET/' "$TMP/our-$id.wire" | norm)"
	same "${id}_get_rid_uuid4_and_body" \
		"$(grep -c "GET/?\$rid=$RID  \$" "$TMP/sdk-$id.hub")" \
		"$(grep -c "GET/?\$rid=$RID  \$" "$TMP/our-$id.hub")"
	same "${id}_reported_flags_topic_size" \
		"$(grep 'reported/' "$TMP/sdk-$id.wire" | norm)" \
		"$(grep 'reported/' "$TMP/our-$id.wire" | norm)"
	same "${id}_reported_body" \
		"$(grep 'reported/' "$TMP/sdk-$id.hub" | norm)" \
		"$(grep 'reported/' "$TMP/our-$id.hub" | norm)"
	# the order: told, not compared
	note "${id} order, sdk:     $(grep -o '^sub [^ ]*\|GET\|reported' "$TMP/sdk-$id.wire" | sed 's/^sub //' | tr '\n' ' ')"
	note "${id} order, iotsecd: $(grep -o '^sub [^ ]*\|GET\|reported' "$TMP/our-$id.wire" | sed 's/^sub //' | tr '\n' ' ')"
}

compare device "HostName=localhost;DeviceId=dev1;SharedAccessKey=$KEY" dev1
compare module "HostName=localhost;DeviceId=dev1;ModuleId=sec;SharedAccessKey=$KEY" dev1/sec

done_testing
