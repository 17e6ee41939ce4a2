#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The boot window (issue 18, part 1): the module is loaded early, iotsecd
# starts a while later (EARLY_BOOT_DELAY seconds, default 30), and what
# happened in between reaches the broker, marked "BeforeAgentStart", oldest
# first, with the kernel's accounting closing.
#
#   module loaded (guest init with lab.sh --early-insmod, else here)
#     exec/connect marks at 0, DELAY/2 and DELAY s, nobody subscribed
#   mosquitto + mosquitto_sub; iotsecd starts, subscribes, publishes
#     -> every mark at the broker, BeforeAgentStart "true", in order
#     -> a live exec after the start: no BeforeAgentStart
#
# Loaded by the guest's init (scripts/lab.sh --early-insmod KO), the
# module sees the boot itself: the shell that runs this test, started by
# the init through chroot, is at the broker too. Run that way:
#   scripts/lab.sh --kdir ... --early-insmod kmod/iotsec.ko -- env ... \
#       tests/vm/test-early-boot.sh
set -eu
. "$(dirname "$0")/../lib/vm.sh"
. "$TOP/tests/lib/schemas.sh"
mark=iotsec-early-$$
delay=${EARLY_BOOT_DELAY:-30}

bail() {
	not_ok "$*"
	for f in "$TMP"/*.log; do
		sed "s|^|# $(basename "$f"): |" "$f" | tail -n 20
	done
	exit 1
}

echo "TAP version 13"

boot=0
if grep -q '^iotsec ' /proc/modules; then
	boot=1
	ok "module loaded at boot ($(cut -d' ' -f1 /proc/uptime) s ago: uptime)"
else
	insmod "$KO" || bail "insmod $KO"
	ok "module loaded (not at boot: run with lab.sh --early-insmod for that)"
fi
if [ "$(cat /sys/module/iotsec/parameters/early 2>/dev/null)" = Y ]; then
	ok "module parameter early is on"
else
	not_ok "module parameter early is not on"
fi

# A port nobody listens on: its connects are refused, and reported.
closed=$(free_port)
step() {
	/bin/true "$mark-w$1"
	bash -c "exec 3<>/dev/tcp/127.0.0.1/$closed" "$mark-c$1" 2>/dev/null || true
}
step 0
sleep $((delay / 2))
step 1
sleep $((delay - delay / 2))
step 2
ok "workload run over $delay s with nobody subscribed"

broker_start mqtt || bail "mosquitto did not start"
receiver_start sub "$mqtt_PORT" 'iotsec/#'

cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: localhost
  port: $mqtt_PORT
  tls: false
  device_id: early
  topic: "iotsec/{device_id}/{type}"
priorities:
  high: 2s
  low: 2s
events:
  exec: { priority: high, aggregate: false }
  connect: { priority: high, aggregate: false }
messages:
  statistics: 1h
  heartbeat: 3s
spool:
  path: $TMP/spool
EOC
iotsecd_start d "$TMP/iotsecd.yaml"
wait_for 30 grep -q '"module":true,"mqtt":"connected"' "$TMP/d.stats" ||
	bail "iotsecd did not subscribe and connect"
ok "iotsecd started $delay s after the workload, subscribed and connected"
/bin/true "$mark-live"

wait_for 30 grep -q "true $mark-live" "$TMP/sub.recv" ||
	bail "the live exec did not arrive"

# Every event of the messages: the marks, in order, and their flag.
check_events() {
	python3 - "$TMP/sub.recv" "$mark" "$boot" <<'EOP'
import json, sys
path, mark, boot = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
evs = []
for line in open(path):
    topic, _, body = line.partition(" ")
    try:
        m = json.loads(body)
    except ValueError:
        continue
    for e in m.get("Events", []):
        for p in e.get("Payload", []):
            evs.append((e["Name"], p.get("CommandLine", ""),
                        p.get("ExtraDetails", {}).get("BeforeAgentStart")))
bad = []
def find(name, cmd):
    # an exec's command line is the mark; a connect's, bash -c ... mark
    for i, (n, c, b) in enumerate(evs):
        if n == name and (c == cmd or (name != "ProcessCreate" and
                                       c.endswith(" " + cmd))):
            return i, b
    return None, None
order = []
for w in range(3):
    for name, cmd in (("ProcessCreate", "/bin/true %s-w%d" % (mark, w)),
                      ("ConnectionCreate", "%s-c%d" % (mark, w))):
        i, b = find(name, cmd)
        if i is None:
            bad.append("missing %s %s" % (name, cmd))
        else:
            order.append(i)
            if b != "true":
                bad.append("%s %s: BeforeAgentStart %r" % (name, cmd, b))
if order != sorted(order):
    bad.append("not oldest first: %s" % order)
i, b = find("ProcessCreate", "/bin/true %s-live" % mark)
if i is None or b is not None:
    bad.append("live exec: index %s, BeforeAgentStart %r" % (i, b))
if boot:
    shells = [b for n, c, b in evs
              if n == "ProcessCreate" and "/lab/out/cmd.sh" in c]
    if "true" not in shells:
        bad.append("the boot's own shell (init -> chroot -> cmd.sh) missing")
early = sum(1 for e in evs if e[2] == "true")
print("%d events, %d before the agent started" % (len(evs), early))
sys.exit("; ".join(bad) if bad else 0)
EOP
}
if res=$(check_events 2>&1); then
	ok "the window's events at the broker, oldest first, BeforeAgentStart: $res"
else
	not_ok "the window's events: $res"
fi

# The heartbeat (part 4): the module's state and the events so far.
wait_for 20 eval "[ \$(grep -c '\"Name\":\"Heartbeat\"' $TMP/sub.recv) -ge 2 ]" ||
	not_ok "fewer than 2 heartbeats in 20 s"
if res=$(python3 - "$TMP/sub.recv" "$TMP/d.stats" <<'EOP'
import json, sys
hbs = []
for line in open(sys.argv[1]):
    topic, _, body = line.partition(" ")
    if not topic.startswith("iotsec/"):
        continue
    for e in json.loads(body).get("Events", []):
        if e["Name"] == "Heartbeat":
            hbs.append(e["Payload"][0])
h = hbs[-1]
bad = []
if [x["Sequence"] for x in hbs] != list(range(1, len(hbs) + 1)):
    bad.append("sequence %s" % [x["Sequence"] for x in hbs])
if not (h["ModuleLoaded"] and h["Subscribed"]):
    bad.append("module state")
# the daemon's default mask: fork off (docs/forwarder.md)
if h.get("EventMask", 0) & (1 << 1) == 0 or h.get("Subscribers") != 1:
    bad.append("mask/subscribers")
if h.get("KernelGenerated", -1) < h.get("EventsReceived", 0) or \
   h["EventsReceived"] < 7 or h.get("LastEventSequence", 0) < 1:
    bad.append("counters")
print("%d heartbeats, last: %s" % (len(hbs), json.dumps(h, sort_keys=True)))
sys.exit("; ".join(bad) if bad else 0)
EOP
); then
	ok "heartbeats in sequence, with the module's state and counters: $res"
else
	not_ok "heartbeat: $res"
fi

iotsecd_stop d TERM
[ "$IOTSECD_RC" = 0 ] || not_ok "iotsecd exited with status $IOTSECD_RC"

# The kernel's accounting as iotsecd reports it: the first consumer, so
# nothing BEFORE; everything generated is dropped, delivered or lost.
if res=$(python3 "$TOP/tests/lib/kernel-acct.py" "$TMP/d.stats" first nolost 2>&1); then
	ok "kernel accounting closes, nothing before iotsecd: $res"
else
	not_ok "kernel accounting: $res"
fi

receiver_stop sub
# mosquitto_sub -d: its debug lines are not messages
grep '^iotsec/' "$TMP/sub.recv" | cut -d' ' -f2- >"$TMP/messages.jsonl"
export NODE_PATH=$BUILD/node/node_modules
if ! azure_schemas "$TOP"; then
	skip "every published message valid (ajv)" "$AZURE_SCHEMAS_MISSING"
elif res=$(node "$TOP/tests/lib/validate-messages.js" "$AZURE_SCHEMAS" \
	"$TOP/schemas/iotsec-extended-message_v1_0.json" "$TMP/messages.jsonl" 2>&1); then
	ok "every published message valid (ajv): $res"
else
	not_ok "invalid messages: $(echo "$res" | tail -n 5 | cut -c1-800)"
fi

rmmod iotsec && ok "module unloaded" || not_ok "rmmod iotsec"
done_testing
