#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Runs where the module is loaded (the lab guest or a real machine, as
# root): a local mosquitto with TLS, iotsecd publishing to it, a short
# scripted workload, and the messages that arrive, in readable form.
#
#   workload -> iotsec.ko --netlink--> iotsecd --MQTT/TLS--> mosquitto
#                                                               |
#                                    this screen <-- mosquitto_sub
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# mosquitto and iotsecd started (and stopped at exit) as the tests do
TMP_NAME=iotsec-demo
. "$top/tests/lib/broker.sh"
BIN=$BUILD	# the plain build, not the tests' sanitizer one
tmp=$TMP

step() { printf '\n== %s\n' "$*"; }
await() {	# await SECONDS CONDITION: poll, never a fixed sleep
	wait_for "$1" eval "$2" && return 0
	echo "demo: timed out waiting for: $2" >&2
	return 1
}

step "kernel $(uname -r): module loaded"
grep '^iotsec ' /proc/modules
genl ctrl get name iotsec | head -n 3

step "mosquitto on 127.0.0.1:8883, TLS with client certificates"
"$top/scripts/gen-certs.sh" "$tmp/certs" demo-device >/dev/null
tls_conf "$tmp/certs" "require_certificate true" \
	"use_identity_as_username true" >"$tmp/tls.conf"
broker_start mqtt "" "$tmp/tls.conf" 8883 || {
	echo "demo: mosquitto did not start:" >&2
	tail -n 5 "$tmp/mqtt.log" >&2
	exit 1
}
tls="-h localhost -p 8883 --cafile $tmp/certs/ca.pem --cert $tmp/certs/client.pem --key $tmp/certs/client.key"
mosquitto_sub $tls -q 1 -v -t 'iotsec/#' >"$tmp/sub.log" 2>/dev/null &
PIDS="$PIDS $!"
await 10 "mosquitto_pub $tls -t iotsec/probe -m p && grep -q '^iotsec/probe' $tmp/sub.log"
echo "ok"

step "iotsecd publishing to it"
cat >"$tmp/iotsecd.yaml" <<EOC
broker:
  host: localhost
  port: 8883
  tls: true
  ca_file: $tmp/certs/ca.pem
  cert_file: $tmp/certs/client.pem
  key_file: $tmp/certs/client.key
  device_id: demo-device
  topic: "iotsec/{device_id}/{type}"
priorities:
  high: 2s
  low: 2s
kernel:
  watch: [ /etc/passwd, $tmp/watched ]
sdk:
  socket: $tmp/sdk.sock
logins:
  wtmp: $tmp/wtmp
  btmp: $tmp/btmp
  state_file: ""
snapshots:
  first_delay: 1s
  listening_ports: true
  local_users: false
  system_information: true
  os_baseline: true
spool:
  path: $tmp/spool
EOC
: >"$tmp/watched"
: >"$tmp/wtmp"
: >"$tmp/btmp"
"$BUILD/iotsecd" --check-config "$tmp/iotsecd.yaml"
iotsecd_start d "$tmp/iotsecd.yaml"
await 30 "grep -q '\"module\":true,\"mqtt\":\"connected\"' $tmp/d.stats 2>/dev/null"
"$BIN/iotsecctl" --stats-file "$tmp/d.stats" status

step "workload: processes, connections, a privilege change, a watched file, logins, an SDK event"
for i in 1 2 3; do ls / >/dev/null; done
uname -a >/dev/null
bash -c 'exec 3<>/dev/tcp/127.0.0.1/8883' || true
setpriv --reuid=65534 --regid=65534 --clear-groups id
echo demo >>"$tmp/watched"
# Logins as login(1) and sshd record them (updwtmpx), into the demo's own
# wtmp/btmp so that a real machine's records are left alone.
"$BUILD/tools/utmp-write" "$tmp/wtmp" login operator pts/1 192.0.2.10 4242
"$BUILD/tools/utmp-write" "$tmp/btmp" failed mallory ssh:notty 203.0.113.9 4243
# Another program on the device reports its own event through the SDK.
"$BUILD/examples/send_event" -s "$tmp/sdk.sock" -c Door.Opened '{"Door":"front"}'
echo "done"

step "messages arriving at the broker"
await 30 "grep -q ConnectionCreate $tmp/sub.log && grep -q CredentialsChange $tmp/sub.log && grep -q Door.Opened $tmp/sub.log && grep -q '\"Login\"' $tmp/sub.log && grep -q OSBaseline $tmp/sub.log"
sleep 3	# let the low-priority queue go out too (2 s interval)
iotsecd_stop d TERM
grep -v '^iotsec/probe' "$tmp/sub.log" | python3 "$top/scripts/show-messages.py"
