#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The local sources during a broker outage (issue 14): nothing local can
# flood the spool; every refusal is counted in the statistics event.
#
#   TMP/btmp (10,000 failed logins) --inotify--\
#   a client that reconnects for every     ----+--> iotsecd --spool TMP/spool
#   event, as fast as it can, for 3 s       ---/          |   (256 KiB, local
#                                                         |    share 25 %)
#                                               mosquitto :P (stopped, restarted)
#                                                         |
#                                               mosquitto_sub -v '#' -> TMP/r.recv
#
#   local_flood_counted   during the outage: the spool's local messages
#       stay within their share (64 KiB); after the restart, the refusals
#       the client saw equal the Sdk* refusals of DroppedEventsStatistics,
#       the 10,000 failures arrive as at most 200 Login events (100 user and
#       address pairs), and LoginAggregatedEvents counts the rest
#
# The kernel side of the same flood (no kernel record evicted) is
# tests/host/budget.c: iotsecd has no kernel events without the module.
set -u
. "$(dirname "$0")/../lib/delivery.sh"

delivery_begin delivery_local
delivery_broker 'iotsec/#'

# 10,000 failed logins: root from 50 addresses, 50 users from one
write_btmp() {
	python3 - "$1" <<'PY'
import struct, sys, time
fmt = "<h2xi32s4s32s256shhiii4i20s"
assert struct.calcsize(fmt) == 384
now = int(time.time())
with open(sys.argv[1], "ab") as f:
    for i in range(10000):
        if i % 2:
            user, ip = "user%d" % (i // 2 % 50), "198.51.100.7"
        else:
            user, ip = "root", "203.0.113.%d" % (i // 2 % 50 + 1)
        a = [int(x) for x in ip.split(".")]
        addr = a[0] | a[1] << 8 | a[2] << 16 | a[3] << 24
        f.write(struct.pack(fmt, 6, 1000 + i, b"ssh:notty", b"", user.encode(),
                            ip.encode(), 0, 0, 0, now, 0,
                            addr, 0, 0, 0, b""))
PY
}

# SECONDS of a client that reconnects for every event, as fast as it can
# (Python: its sockets are close-on-exec); "attempts accepted" into
# TMP/NAME.res
send_loop() {
	python3 - "$SOCK" "$2" >"$TMP/$1.res" <<'PY'
import socket, struct, sys, time
req = b'{"v":1,"op":"custom","name":"Loop.Event","payload":{"i":"1"}}'
end = time.time() + float(sys.argv[2])
n = ok = 0
while time.time() < end:
    n += 1
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(sys.argv[1])
        s.send(req)
        r = s.recv(512)
        if len(r) >= 8 and struct.unpack("=Ii", r[:8])[1] == 0:
            ok += 1
    except OSError:
        pass
    finally:
        s.close()
print(n, ok)
PY
}

# The last DroppedEventsStatistics and the Login events of TMP/r.recv.
received() {
	python3 - "$TMP/r.recv" <<'PY'
import json, sys
sdk = ("SdkRejectedEvents", "SdkRateLimitedEvents", "SdkIdentityRefusedEvents",
       "SdkBudgetRefusedEvents", "SdkDeliverFailedEvents", "SdkClientsRefused",
       "SdkClientsRateLimited")
stats, logins, hits = {}, 0, 0
for line in open(sys.argv[1], errors="replace"):
    try:
        msg = json.loads(line.split(" ", 1)[1])
    except Exception:
        continue
    for ev in msg.get("Events", []):
        x = ev.get("Payload", [{}])[0].get("ExtraDetails", {})
        if ev.get("Name") == "DroppedEventsStatistics":
            stats = x
        elif ev.get("Name") == "Login" and x.get("Source") == "btmp":
            logins += 1
            hits += int(x.get("HitCount", "1"))
print("sdk_refusals=%d" % sum(int(stats.get(k, 0)) for k in sdk))
print("aggregated=%s" % stats.get("LoginAggregatedEvents", 0))
print("login_refused=%s" % stats.get("LoginBudgetRefusedEvents", 0))
print("spool_local_dropped=%s" % stats.get("SpoolLocalDroppedEvents", 0))
print("login_events=%d" % logins)
print("login_hits=%d" % hits)
PY
}
rval() { sed -n "s/^$1=//p" "$TMP/recv.vals"; }
# nothing refused or dropped on the way: every failure arrives
all_failures_arrive() {
	[ "$(rval login_refused)" != 0 ] || [ "$(rval spool_local_dropped)" != 0 ] ||
		[ "$(rval login_hits)" = 10000 ]
}

local_flood() {
	local cfg=$TMP/l.yaml attempts ok
	: >"$TMP/btmp"
	: >"$TMP/wtmp"
	: >"$TMP/utmp"
	write_config "$cfg" "$b_PORT" "$TMP/spool" 256KiB \
		"$(printf 'logins:\n  btmp: %s\n  wtmp: %s\n  utmp: %s\n  state_file: ""\n  aggregate_interval: 60s' \
			"$TMP/btmp" "$TMP/wtmp" "$TMP/utmp")" \
		"$(printf 'sdk:\n  socket: %s\n  rate: 20\n  burst: 50' "$SOCK")" \
		"$(printf 'local:\n  rate: 100\n  burst: 500')" \
		"$(printf 'spool:\n  path: %s\n  size: 256KiB\n  local_share: 25' "$TMP/spool")"
	rm -f "$SOCK"
	iotsecd_start d "$cfg"
	expect "iotsecd serves $SOCK" wait_for 30 test -S "$SOCK" &&
	expect "iotsecd connects to the broker" \
		wait_for 30 grep -q 'mqtt: connected to' "$TMP/d.log" || return 1
	broker_stop b || return 1
	sampler_start s "$TMP/d.stats"
	write_btmp "$TMP/btmp"
	send_loop c 3
	read -r attempts ok <"$TMP/c.res"
	expect "the login watcher read the 10,000 records" \
		wait_for 30 stat_ge "$TMP/d.stats" local.logins_aggregated 9800 ||
		return 1
	sampler_stop s
	broker_restart b || return 1
	expect "iotsecd reconnects" \
		wait_for 60 eval '[ "$(grep -c "mqtt: connected to" "$TMP/d.log")" -ge 2 ]' ||
		return 1
	iotsecd_stop_stats d
	received >"$TMP/recv.vals"
	echo "# SDK: $attempts attempts, $ok accepted; received: $(tr '\n' ' ' <"$TMP/recv.vals");" \
		"local spool bytes at most $(sample_max s local.spool_bytes) (share 65536)"
	expect "iotsecd exits 0 on SIGTERM" [ "$IOTSECD_RC" = 0 ] &&
	expect "the client was refused at least once" [ "$ok" -lt "$attempts" ] &&
	expect "every refusal the client saw is in DroppedEventsStatistics" \
		[ "$(rval sdk_refusals)" = $((attempts - ok)) ] &&
	expect "10,000 failed logins: at most 200 Login events" \
		[ "$(rval login_events)" -le 200 ] &&
	expect "the aggregates count them: events + aggregated = 10,000 (or refused)" \
		[ $(( $(rval login_events) + $(rval aggregated) )) -le 10000 ] &&
	expect "with nothing refused or dropped, every failure arrives" \
		all_failures_arrive &&
	expect "local messages stayed within their share of the spool" \
		[ "$(sample_max s local.spool_bytes)" -le 65536 ]
}
check local_flood_counted local_flood

done_testing
