#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Alert latency (a benchmark, not a test; in the lab, root): from the
# kernel's timestamp of the event that triggers a rule to the alert's
# arrival at a subscriber of the broker on the same machine.
#
#   this script --exec /tmp/x--> kernel (iotsec.ko) --batch--> iotsecd
#        (every GAP ms, N times)                                 | rules:
#   mosquitto_sub -F '%U %p' <--- mosquitto (localhost) <--------+ alert
#
# Each exec of a copy of true in /tmp triggers exec-from-temporary-dir of
# the default pack (aggregate_interval 0s: every hit is an alert). The
# alert's FirstTime is the event's kernel time (CLOCK_BOOTTIME turned to
# UTC by iotsecd, at millisecond resolution: figures are up to 1 ms high);
# the subscriber stamps each message when it receives it (%U, the same
# machine's clock). Prints count, p50, p90, p99 and max in ms.
# usage: alert-latency.sh [N] [GAP_MS]   (BENCH_ALERTS, BENCH_GAP_MS)
set -eu
n=${1:-${BENCH_ALERTS:-500}}
gap=${2:-${BENCH_GAP_MS:-20}}
. "$(dirname "$0")/../lib/vm.sh"
out=${LAB_OUT:-/tmp}

ip link set dev lo up
insmod "$KO"
broker_start mqtt || { echo "mosquitto did not start"; exit 1; }
mosquitto_sub -h 127.0.0.1 -p "$mqtt_PORT" -q 1 -F '%U %p' -t 'iotsec/#' \
	>"$TMP/sub.log" 2>&1 & PIDS="$PIDS $!"
wait_for 10 eval "mosquitto_pub -h 127.0.0.1 -p $mqtt_PORT -t iotsec/probe -m probe && grep -q ' probe$' $TMP/sub.log" ||
	{ echo "mosquitto_sub did not subscribe"; exit 1; }
cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: 127.0.0.1
  port: $mqtt_PORT
  device_id: latency
  topic: "iotsec/{device_id}/{type}"
messages:
  statistics: 1h
spool:
  path: ""
rules:
  dir: $TOP/config/rules
  aggregate_interval: 0s
EOC
iotsecd_start d "$TMP/iotsecd.yaml"
wait_for 30 grep -q '"module":true,"mqtt":"connected"' "$TMP/d.stats" ||
	{ echo "iotsecd did not connect"; exit 1; }

mkdir -p /tmp/lat$$
cp /bin/true /tmp/lat$$/alert-latency
python3 - "$n" "$gap" /tmp/lat$$/alert-latency <<'EOP'
import os, sys, time
n, gap, prog = int(sys.argv[1]), int(sys.argv[2]) / 1000, sys.argv[3]
for i in range(n):
    pid = os.fork()
    if pid == 0:
        os.execv(prog, [prog, "latency-%d" % i])
    os.waitpid(pid, 0)
    time.sleep(gap)
EOP
wait_for 60 eval "[ \$(grep -o '\"RuleName\":\"exec-from-temporary-dir\"' $TMP/sub.log | wc -l) -ge $n ]" ||
	echo "# only $(grep -o '"RuleName":"exec-from-temporary-dir"' "$TMP/sub.log" | wc -l) of $n alerts arrived"
iotsecd_stop d TERM
rm -rf /tmp/lat$$

python3 - "$TMP/sub.log" "$n" "$gap" <<'EOP' | tee "$out/alert-latency.txt"
import calendar, json, sys
path, n, gap = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lat = []
for line in open(path, errors="replace"):
    ts, _, payload = line.partition(" ")
    try:
        msg = json.loads(payload)
        recv = float(ts)
    except ValueError:
        continue
    for ev in msg.get("Events", []) if isinstance(msg, dict) else []:
        if ev.get("Name") != "RuleAlert":
            continue
        a = ev["Payload"][0]
        if a["RuleName"] != "exec-from-temporary-dir":
            continue
        t = a["FirstTime"]          # 2026-12-05T01:02:03.456Z
        sec = calendar.timegm(tuple(int(x) for x in
                                    t[:19].replace("-", " ").replace("T", " ")
                                    .replace(":", " ").split()) + (0, 0, 0))
        lat.append((recv - (sec + int(t[20:23]) / 1000)) * 1000)
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
if not lat:
    print("alert latency: no alerts")
    sys.exit(1)
print("alert latency, kernel event -> alert at the subscriber: %d alerts of %d "
      "execs (one every %s ms): p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, "
      "max %.1f ms" % (len(lat), n, gap, pct(50), pct(90), pct(99), lat[-1]))
EOP
rmmod iotsec
