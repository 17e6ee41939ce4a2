#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The daemon's life cycle on the host (no module here, so it keeps
# retrying the kernel and writes messages to a file):
#
#   iotsecd -f -c CFG --output OUT --stats-file STATS
#     --check-config good/bad    exit status and file:line:column
#     SIGHUP with a bad file     keeps running on the old config, says why
#     SIGHUP with a good file    reloads
#     iotsecctl status           sees the running daemon
#     SIGTERM                    flushes (statistics) and exits 0
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
# the sanitizer builds when there are (make check-host), else the plain ones
bin=$build
[ -x "$build/san/iotsecd" ] && [ -x "$build/san/iotsecctl" ] && bin=$build/san
tmp=$(mktemp -d /tmp/iotsecd-test.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

echo "TAP version 13"
echo "1..11"
. "$top/tests/lib/tap.sh"
. "$top/tests/lib/wait.sh"

cat >"$tmp/good.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
messages:
  statistics: 1h
log:
  level: info
EOC
printf 'messages:\n  max_size: 10MiB\n' >"$tmp/bad.yaml"

out=$("$bin/iotsecd" --check-config "$tmp/good.yaml" 2>&1) && rc=0 || rc=$?
check "--check-config accepts a good file: $out" \
	eval '[ $rc = 0 ] && [[ "$out" == *"OK (broker localhost:1883)"* ]]'
out=$("$bin/iotsecd" --check-config "$tmp/bad.yaml" 2>&1) && rc=0 || rc=$?
check "--check-config refuses a bad file with file:line:column: $out" \
	eval '[ $rc = 1 ] && [[ "$out" == "$tmp/bad.yaml:2:13: expected a size from 1024 to 262144 bytes"* ]]'

# ids and topics with separators or wildcards are errors, not messages
# that the broker then refuses one by one
ids_refused() {
	local t
	printf 'broker:\n  device_id: a/b\n' >"$tmp/id.yaml"
	printf 'hub:\n  host: h\n  device_id: d\n  module_id: x+y\n  shared_key: a2V5\n' >"$tmp/mod.yaml"
	printf 'broker:\n  topic: t/#\n' >"$tmp/topic.yaml"
	for t in "id.yaml:2:14: expected a device id without '/', '+' or '#'" \
		 "mod.yaml:4:14: expected a module id without '/', '+' or '#'" \
		 "topic.yaml:2:10: expected a topic without '+' or '#'"; do
		out=$("$bin/iotsecd" --check-config "$tmp/${t%%:*}" 2>&1) && return 1
		echo "# $out"
		[[ "$out" == "$tmp/$t"* ]] || return 1
	done
}
check "--check-config refuses device_id a/b, module_id x+y, topic t/#" ids_refused

printf 'broker:\n  host: mqtt.example\n  username: u\n  password: pw\n' >"$tmp/pw.yaml"
out=$("$bin/iotsecd" --check-config "$tmp/pw.yaml" 2>&1) && rc=0 || rc=$?
check "--check-config warns of a password over plain TCP: $out" \
	eval '[ $rc = 0 ] && [[ "$out" == "warning: $tmp/pw.yaml:4:13: broker: the password goes to mqtt.example over plain TCP"* ]]'

# a malformed connection string around its key: refused, the key not shown
key=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
key_not_shown() {
	local cs
	for cs in "HostName=h;DeviceId=d;$key" \
		  "HostName=h;DeviceId=d SharedAccessKey=$key" \
		  "HostName=h;DeviceId=d;SharedAccessKey:$key"; do
		printf 'hub:\n  connection_string: "%s"\n' "$cs" >"$tmp/cs.yaml"
		out=$("$bin/iotsecd" --check-config "$tmp/cs.yaml" 2>&1) && return 1
		echo "# $out"
		[[ "$out" == "$tmp/cs.yaml:2:22: connection string: "* ]] || return 1
		! grep -q "${key:8:16}" <<<"$out" || return 1
	done
}
check "--check-config never shows the key of a bad connection string" key_not_shown

cp "$tmp/good.yaml" "$tmp/run.yaml"
"$bin/iotsecd" -f -c "$tmp/run.yaml" --output "$tmp/out.jsonl" \
	--stats-file "$tmp/stats.json" 2>"$tmp/log" &
pid=$!
check "starts without the module and says it will retry" \
	wait_for 10 grep -q "module not loaded" "$tmp/log"

cp "$tmp/bad.yaml" "$tmp/run.yaml"
kill -HUP "$pid"
check "SIGHUP with a bad file keeps the old config and says why" \
	eval 'wait_for 10 grep -q "reload failed; keeping the running configuration" "$tmp/log" &&
	grep -q "$tmp/run.yaml:2:13: expected a size" "$tmp/log" && kill -0 $pid'

cp "$tmp/good.yaml" "$tmp/run.yaml"
kill -HUP "$pid"
check "SIGHUP with a good file reloads" \
	wait_for 10 grep -q "configuration reloaded" "$tmp/log"

check "iotsecctl status sees the daemon through its stats file" \
	eval 'wait_for 10 test -s "$tmp/stats.json" &&
	"$bin/iotsecctl" --stats-file "$tmp/stats.json" status | grep -q "iotsecd  *running, pid $pid"'

kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=
check "SIGTERM exits 0 (status $rc)" test $rc = 0
check "SIGTERM flushed the statistics before exiting" \
	grep -q '"Name":"MessageStatistics"' "$tmp/out.jsonl"
