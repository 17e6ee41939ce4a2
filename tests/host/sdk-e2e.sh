#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The local sources through the real daemon: iotsecd (no module here; it
# writes its messages to a file) with its SDK socket, wtmp/btmp and
# snapshot timer set in its YAML configuration to the test's own, and a
# SIGHUP that moves them.
#
#   send_event ---SDK socket--->  iotsecd --output out.jsonl --> ajv, checks
#   utmp-write ---wtmp, btmp--->     |
#   python listener (port P) --snapshot--^
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
. "$top/tests/lib/schemas.sh"
tmp=$(mktemp -d /tmp/iotsec-sdk-e2e.XXXXXX)
dpid= lpid=
cleanup() {
	[ -n "$dpid" ] && kill "$dpid" 2>/dev/null
	[ -n "$lpid" ] && kill "$lpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/wait.sh"
NCHECKS=12	# sdk-e2e-check.js
NSHELL=11	# here

echo "TAP version 13"
echo "1..$((NCHECKS + NSHELL))"
if ! command -v node >/dev/null ||
   [ ! -f "$build/node/node_modules/ajv-formats/package.json" ] ||
   ! command -v python3 >/dev/null; then
	skip_all $((NCHECKS + NSHELL)) "needs node with ajv (make tests), python3"
fi
azure_schemas "$top" || skip_all $((NCHECKS + NSHELL)) "$AZURE_SCHEMAS_MISSING"
ref=$AZURE_SCHEMAS

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
wait_for 15 eval '[ -s "$tmp/port" ]'
port=$(cat "$tmp/port")

: >"$tmp/wtmp"
: >"$tmp/btmp"
: >"$tmp/wtmp2"
grp=$(getent group 1 | cut -d: -f1)
config() {	# config SOCKET MODE WTMP INTERVAL
	cat <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
messages:
  statistics: 1h
sdk:
  socket: $1
  mode: "$2"
  group: ${grp:-1}
logins:
  wtmp: $3
  btmp: $tmp/btmp
  state_file: $tmp/login.state
snapshots:
  interval: $4
  first_delay: 300ms
  local_users: false
EOC
}
config "$tmp/sdk.sock" 0620 "$tmp/wtmp" 2s >"$tmp/cfg.yaml"
"$build/iotsecd" -f -c "$tmp/cfg.yaml" \
	--output "$tmp/out.jsonl" --stats-file "" 2>"$tmp/log" &
dpid=$!
if wait_for 15 eval '[ -S "$tmp/sdk.sock" ]'; then
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
snaptimes() {	# TimestampUTC of every SystemInformation event, one a line
	python3 -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        m = json.loads(line)
    except ValueError:	# being written
        continue
    for e in m["Events"]:
        if e["Name"] == "SystemInformation":
            print(e["TimestampUTC"])
' "$tmp/out.jsonl"
}
# in the output (json-c writes '/' as '\/')
has() { grep -qE "$1" "$tmp/out.jsonl" 2>/dev/null; }
wait_for 15 eval 'has "pts\\\\?/9" && has mallory &&
	  [ "$(snaptimes | wc -l)" -ge 3 ]'

# snapshots: interval 2s, first after 300ms
gaps=$(snaptimes | python3 -c '
import sys, datetime
t = [datetime.datetime.fromisoformat(l.strip().replace("Z", "+00:00"))
     for l in sys.stdin if l.strip()]
print(" ".join("%.2f" % (b - a).total_seconds() for a, b in zip(t, t[1:])))')
# (on a loaded machine a round may start late or take long: the mean)
if [ -n "$gaps" ] && python3 -c '
import sys
g = [float(x) for x in sys.argv[1:]]
sys.exit(0 if len(g) >= 2 and 1.5 <= sum(g) / len(g) <= 5.0 else 1)' $gaps; then
	ok "snapshots come every 2 s as configured (gaps: $gaps s)"
else
	notok "snapshot gaps '$gaps' s, want >= 2 of them, 2 s on average"
fi

# SIGHUP: the socket moves (mode 0600), logins come from wtmp2, the
# snapshot interval becomes an hour
config "$tmp/sdk2.sock" 0600 "$tmp/wtmp2" 1h >"$tmp/cfg.yaml"
kill -HUP $dpid
if wait_for 15 eval '[ -S "$tmp/sdk2.sock" ] && [ ! -e "$tmp/sdk.sock" ]' &&
   [ "$(stat -c '%a %g' "$tmp/sdk2.sock")" = "600 1" ]; then
	# the daemon has one thread: every snapshot taken before the reload
	# was stamped before now
	moved=$(date +%s.%N)
	ok "SIGHUP moves the SDK socket with its new mode (600 1)"
else
	notok "SIGHUP: sockets: $(ls -l "$tmp"/*.sock 2>&1)"
	sed 's/^/# /' "$tmp/log"
fi
if "$build/examples/send_event" -s "$tmp/sdk2.sock" -c Door.Closed \
	'{"Door":"back"}' >"$tmp/send4" 2>&1; then
	ok "an event is accepted on the new socket"
else
	notok "send_event on the new socket: $(cat "$tmp/send4")"
fi
"$build/tools/utmp-write" "$tmp/wtmp2" login root pts/7 198.51.100.5 997
"$build/tools/utmp-write" "$tmp/wtmp" login root pts/6 198.51.100.6 996
if wait_for 15 eval 'has "pts\\\\?/7" && has Door.Closed'; then
	ok "after SIGHUP, a login in the new wtmp is published"
else
	notok "after SIGHUP, no Login for the new wtmp's pts/7"
fi
sleep 3	# a snapshot would have come by now at 2 s intervals
late=$(snaptimes | python3 -c '
import sys, datetime
after = float(sys.argv[1]) + 0.1
print(sum(1 for l in sys.stdin if l.strip() and datetime.datetime.fromisoformat(
    l.strip().replace("Z", "+00:00")).timestamp() > after))' "${moved:-0}")
if [ "$late" = 0 ] && ! has 'pts\\?/6'; then
	ok "after SIGHUP, no snapshot for an hour and the old wtmp is not watched"
else
	notok "after SIGHUP: $late snapshots; pts/6: $(grep -cE 'pts\\?/6' "$tmp/out.jsonl")"
fi
if grep -q "SDK socket $tmp/sdk.sock closed, its clients disconnected" "$tmp/log" &&
   grep -q "SDK socket $tmp/sdk2.sock (mode 0600, group " "$tmp/log"; then
	ok "the reload is logged"
else
	notok "the reload is not logged"
	sed 's/^/# /' "$tmp/log"
fi
kill -TERM $dpid
wait $dpid
drc=$?
dpid=

# the tool every message test uses (validate-messages.js) on the lot
if res=$(NODE_PATH=$build/node/node_modules node "$top/tests/lib/validate-messages.js" \
	"$ref" "$top/schemas/iotsec-extended-message_v1_0.json" "$tmp/out.jsonl" 2>&1) &&
   grep -q '"MessageSchemaVersion":"iotsec-1.0".*"Name":"Door.Opened"' "$tmp/out.jsonl"; then
	ok "validate-messages.js: $res (extended ones with SDK custom events)"
else
	notok "validate-messages.js: $(echo "$res" | tail -n 3 | cut -c1-600)"
fi

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
for _ in $(seq $((n + 1)) $((NCHECKS + NSHELL - 1))); do
	notok "a check did not run (see the messages above)"
done
if [ $drc = 0 ]; then
	ok "iotsecd exits 0 on SIGTERM with the local sources running"
else
	notok "iotsecd exited $drc"
	tail -n 20 "$tmp/log" | sed 's/^/# /'
fi
