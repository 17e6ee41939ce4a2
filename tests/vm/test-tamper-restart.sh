#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Issue 18's restart case, at the broker: iotsecd killed with SIGKILL, a
# workload of 20 s while nobody is subscribed, iotsecd started again (as
# systemd would): the kill (AgentSignal, with its sender, and AgentGone)
# and every exec of the workload reach mosquitto, and the module's
# accounting closes.
#
#   mosquitto + mosquitto_sub in the guest; iotsecd -> broker
#   kill -9 iotsecd; /bin/true MARK-wN every 2 s for 20 s
#   iotsecd again -> TamperAttempt AgentSignal Signal=9 (sender: this
#   shell), AgentGone, ProcessCreate MARK-w0..w9 with BeforeAgentStart
set -eu
. "$(dirname "$0")/../lib/vm.sh"
mark=iotsec-restart-$$
span=${RESTART_WORKLOAD_S:-20}

bail() {
	not_ok "$*"
	for f in "$TMP"/*.log; do
		sed "s|^|# $(basename "$f"): |" "$f" | tail -n 20
	done
	exit 1
}

echo "TAP version 13"
insmod "$KO" || bail "insmod $KO"
broker_start mqtt || bail "mosquitto did not start"
receiver_start sub "$mqtt_PORT" 'iotsec/#'
cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: localhost
  port: $mqtt_PORT
  tls: false
  device_id: restart
  topic: "iotsec/{device_id}/{type}"
priorities:
  high: 1s
  low: 1s
events:
  exec: { priority: high, aggregate: false }
messages:
  statistics: 1h
  heartbeat: 0s
spool:
  path: $TMP/spool
EOC
iotsecd_start d "$TMP/iotsecd.yaml"
wait_for 30 grep -q '"module":true,"mqtt":"connected"' "$TMP/d.stats" ||
	bail "iotsecd did not subscribe and connect"
old=$(dpid d)
ok "iotsecd subscribed and connected (pid $old)"

kill -KILL "$old"
wait "$old" 2>/dev/null || true
pid_forget "$old"
n=0
while [ $n -lt $((span / 2)) ]; do
	/bin/true "$mark-w$n"
	n=$((n + 1))
	sleep 2
done
ok "workload: $n execs over $span s with iotsecd gone"

rm -f "$TMP/d.stats"
iotsecd_start d "$TMP/iotsecd.yaml"
wait_for 30 grep -q '"module":true,"mqtt":"connected"' "$TMP/d.stats" ||
	bail "iotsecd did not come back"
ok "iotsecd started again (pid $(dpid d))"

# what the broker got, once the workload's last exec is there
wait_for 30 grep -q "true $mark-w$((n - 1))" "$TMP/sub.recv" ||
	not_ok "the workload's last exec did not arrive"
if res=$(python3 - "$TMP/sub.recv" "$mark" "$n" "$old" "$$" <<'EOP'
import json, sys
path, mark, n, old, me = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
tamper, execs = [], {}
for line in open(path):
    topic, _, body = line.partition(" ")
    try:
        m = json.loads(body)
    except ValueError:
        continue
    for e in m.get("Events", []):
        for p in e.get("Payload", []):
            if e["Name"] == "TamperAttempt":
                tamper.append(p)
            elif e["Name"] == "ProcessCreate":
                c = p.get("CommandLine", "")
                if c.startswith("/bin/true %s-w" % mark):
                    execs[c] = p.get("ExtraDetails", {}).get(
                        "BeforeAgentStart")
bad = []
kills = [t for t in tamper if t.get("Kind") == "AgentSignal" and
         str(t.get("Signal")) == "9" and t.get("TargetProcessId") == old]
gone = [t for t in tamper if t.get("Kind") == "AgentGone" and
        t.get("TargetProcessId") == old]
if len(kills) != 1 or kills[0].get("ProcessId") != me:
    bad.append("AgentSignal of the kill: %s" % kills)
if len(gone) != 1:
    bad.append("AgentGone: %s" % gone)
for w in range(n):
    c = "/bin/true %s-w%d" % (mark, w)
    if c not in execs:
        bad.append("missing %s" % c)
    elif execs[c] != "true":
        bad.append("%s: BeforeAgentStart %r" % (c, execs[c]))
print("%d tamper events, %d of %d execs" % (len(tamper), len(execs), n))
sys.exit("; ".join(bad) if bad else 0)
EOP
); then
	ok "the kill (AgentSignal from this shell, AgentGone) and every exec at the broker: $res"
else
	not_ok "after the restart: $res"
fi

iotsecd_stop d TERM
[ "$IOTSECD_RC" = 0 ] || not_ok "iotsecd exited with status $IOTSECD_RC"
# The second consumer's accounting: what was batched before it came is
# BEFORE; nothing is lost.
if res=$(python3 "$TOP/tests/lib/kernel-acct.py" "$TMP/d.stats" later nolost 2>&1); then
	ok "kernel accounting closes for the restarted iotsecd: $res"
else
	not_ok "kernel accounting: $res"
fi
rmmod iotsec && ok "module unloaded" || not_ok "rmmod"
done_testing
