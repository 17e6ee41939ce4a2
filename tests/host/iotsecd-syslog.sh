#!/bin/bash
# SPDX-License-Identifier: MIT
#
# What a detached iotsecd writes to syslog, and the AgentId it derives
# from the machine id; in a private mount namespace (root) so that the
# test owns /dev/log and /etc/machine-id:
#
#   .-- unshare -m -------------------------------------------------.
#   |  /dev           tmpfs: null, zero, random, urandom, log        |
#   |  /dev/log  <--- syslog(3) <--- iotsecd (daemon(0, 0))          |
#   |      '--> syslog-sink.py --> TMP/syslog                        |
#   |                       MQTT to 127.0.0.1:1 (refused): its       |
#   |                       lines must reach syslog, not the         |
#   |                       /dev/null that stderr now is             |
#   |  /etc/machine-id  bind of TMP/machine-id                       |
#   |      '--> iotsecd -f --output: AgentId = HMAC-SHA256 of it     |
#   '----------------------------------------------------------------'
set -eu
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
bin=$build
[ -x "$build/san/iotsecd" ] && bin=$build/san

. "$top/tests/lib/tap.sh"
. "$top/tests/lib/wait.sh"

if [ -z "${IOTSEC_IN_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! unshare -m true 2>/dev/null; then
		printf 'TAP version 13\n1..3\n'
		skip_all 3 "needs root and unshare -m"
	fi
	IOTSEC_IN_NS=1 exec unshare -m "$0" "$@"
fi

printf 'TAP version 13\n1..3\n'
tmp=$(mktemp -d /tmp/iotsecd-syslog.XXXXXX)
sink= pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	[ -n "$sink" ] && kill "$sink" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

mount --make-rprivate /
mount -t tmpfs -o mode=0755 iotsec-dev /dev
mknod -m 0666 /dev/null c 1 3
mknod -m 0666 /dev/zero c 1 5
mknod -m 0666 /dev/random c 1 8
mknod -m 0666 /dev/urandom c 1 9

cat >"$tmp/sink.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("/dev/log")
with open(sys.argv[1], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536) + b"\n")
EOF
python3 "$tmp/sink.py" "$tmp/syslog" &
sink=$!
wait_for 10 test -S /dev/log

cat >"$tmp/d.yaml" <<EOC
broker:
  host: 127.0.0.1
  port: 1
  device_id: dev1
log:
  level: info
sdk:
  enabled: false
logins:
  enabled: false
snapshots:
  interval: 0s
spool:
  path: ""
EOC

# detached: stderr is /dev/null from here on
"$bin/iotsecd" -c "$tmp/d.yaml" --stats-file "$tmp/stats.json"
daemon_pid() {
	pid=$("$bin/iotsecctl" --stats-file "$tmp/stats.json" status |
		sed -n 's/.*running, pid \([0-9]*\).*/\1/p')
	[ -n "$pid" ]
}
wait_for 10 daemon_pid || true
echo "# daemon pid ${pid:-?}"
check "a detached iotsecd logs to syslog" \
	wait_for 10 grep -q "iotsecd\[[0-9]*\]: .*module not loaded" "$tmp/syslog"
check "its MQTT lines reach syslog too (connecting, refused, retry)" \
	eval 'wait_for 10 grep -q "iotsecd\[[0-9]*\]: mqtt: connecting to 127.0.0.1:1 as dev1" "$tmp/syslog" &&
	wait_for 10 grep -q "iotsecd\[[0-9]*\]: mqtt: .*127.0.0.1:1.*; retrying in" "$tmp/syslog"'
sed 's/^/# syslog: /' "$tmp/syslog"
if [ -n "$pid" ]; then
	kill -TERM "$pid"
	wait_for 10 eval '! kill -0 $pid' || true
	pid=
fi

# The default AgentId: machine-id(5)'s application-specific id for
# iotsec, computed here apart from the daemon.
mid=5ad3a9d8a0e04a7f9f1c2b6e4d8c0a13
echo "$mid" >"$tmp/machine-id"
mount --bind "$tmp/machine-id" /etc/machine-id
want=$(python3 -c '
import hashlib, hmac, sys, uuid
d = bytearray(hmac.new(bytes.fromhex(sys.argv[1]),
                       bytes.fromhex("88f104d57b20436f8ebc927105d76a51"),
                       hashlib.sha256).digest()[:16])
d[6] = d[6] & 0x0f | 0x40
d[8] = d[8] & 0x3f | 0x80
print(uuid.UUID(bytes=bytes(d)))' "$mid")
raw=$(sed 's/^\(.\{8\}\)\(.\{4\}\)\(.\{4\}\)\(.\{4\}\)/\1-\2-\3-\4-/' <<<"$mid")
"$bin/iotsecd" -f -c "$tmp/d.yaml" --stats-file "" \
	--output "$tmp/out.jsonl" 2>"$tmp/f.log" &
pid=$!
wait_for 10 grep -q "module not loaded" "$tmp/f.log" || true
kill -TERM "$pid"
wait "$pid" || true
pid=
got=$(grep -o '"AgentId":"[^"]*"' "$tmp/out.jsonl" | sort -u)
echo "# machine id $mid: want $want, raw $raw; got $got"
check "the default AgentId is the app-specific id of the machine id" \
	eval '[ "$got" = "\"AgentId\":\"$want\"" ] && [ "$want" != "$raw" ]'

[ "$failed" = 0 ]
