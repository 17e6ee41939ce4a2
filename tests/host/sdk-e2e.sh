#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The local sources through the real daemon: iotsecd (no module here; it
# writes its messages to a file) with its SDK socket, wtmp/btmp and
# snapshot timer pointed at the test's own.
#
#   send_event ---SDK socket--->  iotsecd --output out.jsonl --> ajv, checks
#   utmp-write ---wtmp, btmp--->     |
#   python listener (port P) --snapshot--^
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
ref=${IOTSEC_AZURE_SCHEMAS:-$top/../shared/reference/azure-security-message}
[ -d "$ref" ] || ref=/work/shared/reference/azure-security-message
tmp=$(mktemp -d /tmp/iotsec-sdk-e2e.XXXXXX)
dpid= lpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n $*"; }
notok() { n=$((n + 1)); echo "not ok $n $*"; }
wait_for() {	# poll a condition for up to 15 s
	for _ in $(seq 150); do
		eval "$1" && return 0
		sleep 0.1
	done
	return 1
}
NCHECKS=10

echo "TAP version 13"
echo "1..$((NCHECKS + 4))"
if ! command -v node >/dev/null ||
   [ ! -f "$build/node/node_modules/ajv-formats/package.json" ] ||
   ! command -v python3 >/dev/null; then
	for i in $(seq $((NCHECKS + 4))); do
		echo "ok $i sdk e2e # SKIP needs node with ajv (make tests), python3"
	done
	exit 0
fi

# A listener for the snapshot to find.
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen()
print(s.getsockname()[1], flush=True)
time.sleep(120)
' >"$tmp/port" &
lpid=$!
wait_for '[ -s "$tmp/port" ]'
port=$(cat "$tmp/port")

cat >"$tmp/cfg.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
messages:
  statistics: 1h
EOC
: >"$tmp/wtmp"
: >"$tmp/btmp"
grp=$(getent group 1 | cut -d: -f1)
IOTSEC_SOCKET=$tmp/sdk.sock IOTSEC_SOCKET_MODE=0620 IOTSEC_SOCKET_GROUP=${grp:-1} \
IOTSEC_WTMP=$tmp/wtmp IOTSEC_BTMP=$tmp/btmp \
IOTSEC_SNAPSHOT_INTERVAL=3600000 IOTSEC_FIRST_SNAPSHOT=500 \
	"$build/iotsecd" -f -c "$tmp/cfg.yaml" --output "$tmp/out.jsonl" \
	--stats-file "" 2>"$tmp/log" &
dpid=$!
if wait_for '[ -S "$tmp/sdk.sock" ]'; then
	ok "iotsecd serves the SDK socket"
else
	notok "iotsecd serves the SDK socket"
	sed 's/^/# /' "$tmp/log"
fi
perm=$(stat -c '%a %g' "$tmp/sdk.sock" 2>/dev/null)
if [ "$perm" = "620 1" ]; then
	ok "the socket has the configured mode and group ($perm)"
else
	notok "the socket's mode and group: '$perm', want '620 1'"
fi

login='{"EventType":"Security","Category":"Triggered","Name":"Login",
 "Payload":[{"ProcessId":4242,"UserName":"alice","Operation":"PAM:authentication",
 "Executable":"/usr/sbin/sshd","Result":"Fail","RemoteAddress":"192.0.2.7",
 "ExtraDetails":{"SenderProcessId":"1","SenderUserId":"0"}}]}'
"$build/examples/send_event" -s "$tmp/sdk.sock" "$login" >"$tmp/send1" 2>&1 &
spid=$!
wait $spid
rc1=$?
"$build/examples/send_event" -s "$tmp/sdk.sock" -c Door.Opened '{"Door":"front"}' \
	>>"$tmp/send1" 2>&1
rc2=$?
"$build/examples/send_event" -s "$tmp/sdk.sock" '{"EventType":"Security"' \
	>"$tmp/send3" 2>&1
rc3=$?
if [ $rc1 = 0 ] && [ $rc2 = 0 ] && [ $rc3 = 1 ] &&
   grep -q "rejected (Invalid argument): invalid JSON" "$tmp/send3"; then
	ok "send_event: two events accepted, a malformed one rejected with the reason"
else
	notok "send_event: $rc1 $rc2 $rc3"
	cat "$tmp/send1" "$tmp/send3" | sed 's/^/# /'
fi

"$build/tools/utmp-write" "$tmp/wtmp" login root pts/9 198.51.100.4 999
"$build/tools/utmp-write" "$tmp/btmp" failed mallory ssh:notty 203.0.113.9 998
wait_for 'grep -q "pts/9" "$tmp/out.jsonl" 2>/dev/null &&
	  grep -q "mallory" "$tmp/out.jsonl" &&
	  grep -q "OSBaseline" "$tmp/out.jsonl"'
kill -TERM $dpid
wait $dpid
drc=$?
dpid=

node "$top/tests/schema/sdk-e2e-check.js" "$build/node/node_modules" "$ref" \
	"$top/schemas/iotsec-sdk-event_v1_0.json" "$tmp/out.jsonl" \
	"$spid" "$(id -u)" "$port" "$lpid" >"$tmp/check" 2>&1
while read -r word rest; do
	case $word in
	PASS) ok "$rest" ;;
	FAIL) notok "$rest" ;;
	*) echo "# $word $rest" ;;
	esac
done <"$tmp/check"
for _ in $(seq $((n + 1)) $((NCHECKS + 3))); do
	notok "a check did not run (see the messages above)"
done
if [ $drc = 0 ]; then
	ok "iotsecd exits 0 on SIGTERM with the local sources running"
else
	notok "iotsecd exited $drc"
	tail -n 20 "$tmp/log" | sed 's/^/# /'
fi
