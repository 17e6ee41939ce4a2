#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Broker outages during steady event generation (issue 5): the broker is
# stopped (SIGTERM) while the SDK keeps sending, then started again on the
# same port; the receiver counts every event by its sequence number.
#
#   sdk-stream (40 ev/s, Seq 1, 2, ...)
#      |  SDK socket
#   iotsecd --spool TMP/spoolN--> mosquitto :P  (stopped, restarted)
#                                     |  persistent session, QoS 1
#                                 mosquitto_sub -v '#'  -> TMP/r.recv
#
#   outage_spool_keeps_everything    8 MiB spool, ~10 s outage: every
#       accepted event arrives (duplicates counted), nothing dropped
#   outage_small_spool_drops_oldest_and_counts   64 KiB spool, ~15 s
#       outage: received + dropped (stats file, DroppedEventsStatistics)
#       = accepted; the dropped ones are the oldest pending, the spool
#       never grows past its bound
#   priorities_low_dropped_first_alerts_kept   a replayed recording of
#       alert, high and low events into a 256 KiB spool: all low dropped,
#       then the oldest high; every alert kept
set -u
. "$(dirname "$0")/../lib/delivery.sh"

delivery_begin delivery_outage
delivery_broker 'iotsec/#'

# start_daemon NAME CONFIG: iotsecd up, its SDK socket there, connected.
start_daemon() {
	fresh b
	rm -f "$SOCK"
	iotsecd_start "$1" "$2"
	expect "iotsecd serves $SOCK" wait_for 30 test -S "$SOCK" &&
	expect "iotsecd connects to the broker" \
		wait_for 30 grep -q 'mqtt: connected to' "$TMP/$1.log"
}

# ---------------------------------------------------------------------------
outage_big() {
	local cfg=$TMP/o1.yaml a0 a1 acc pend
	write_config "$cfg" "$b_PORT" "$TMP/spool1" 8MiB
	start_daemon d1 "$cfg" || return 1
	stream_start o1 40
	expect "80 events accepted before the outage" \
		wait_for 30 acked_at_least o1 80 || return 1
	expect "some delivered before the outage" \
		wait_for 30 eval 'count o1 && [ "$(val o1 seqs)" -gt 0 ]' || return 1
	broker_stop b || return 1
	a0=$(acked_n o1)
	# the outage: 400 events (10 s at 40/s) accepted while the broker is away
	expect "400 events accepted during the outage" \
		wait_for 60 acked_at_least o1 $((a0 + 400)) || return 1
	expect "the spool holds records during the outage (spool.pending > 0)" \
		wait_for 10 stat_ge "$TMP/d1.stats" spool.pending 1 || return 1
	pend=$(stat_get "$TMP/d1.stats" spool.pending)
	expect "spool in disk mode" [ "$(stat_get "$TMP/d1.stats" spool.mode)" = disk ] ||
		return 1
	expect "segment files in the spool directory" \
		eval 'ls "$TMP"/spool1/*.seg >/dev/null 2>&1' || return 1
	broker_restart b || return 1
	a1=$(acked_n o1)
	expect "80 more accepted after the restart" \
		wait_for 30 acked_at_least o1 $((a1 + 80)) || return 1
	stream_stop o1
	acc=$(acked_n o1)
	expect "every accepted event arrives" wait_for 120 delivered o1
	local rc=$?
	iotsecd_stop_stats d1
	count o1
	echo "# outage ~10 s, 8 MiB spool: sdk-stream: $(summary o1)"
	echo "# accepted $acc (during the outage $((a1 - a0))), spool pending at its height >= $pend," \
		"received distinct $(val o1 seqs), duplicate events $(val o1 dup_seqs)," \
		"messages $(val o1 messages) of which duplicates $(val o1 dup_messages)," \
		"missing $(val o1 missing) ($(val o1 missing_list))," \
		"spool dropped_events $(stat_get "$TMP/d1.stats" spool.dropped_events)," \
		"SpoolDroppedEvents $(val o1 drop.SpoolDroppedEvents)"
	[ "$rc" = 0 ] || return 1
	expect "no event refused by the daemon" \
		grep -q ' refused 0 ' "$TMP/o1.summary" &&
	expect "iotsecd exits 0 on SIGTERM" [ "$IOTSECD_RC" = 0 ] &&
	expect "spool dropped nothing" \
		[ "$(stat_get "$TMP/d1.stats" spool.dropped_events)" = 0 ] &&
	expect "nothing received that was not accepted" \
		[ "$(val o1 unacked_received)" = 0 ] &&
	expect "no message rebuilt under a new id" [ "$(val o1 reserialized)" = 0 ] &&
	expect "DroppedEventsStatistics at exit says SpoolDroppedEvents 0" \
		[ "$(val o1 drop.SpoolDroppedEvents)" = 0 ]
}
check outage_spool_keeps_everything outage_big

# ---------------------------------------------------------------------------
# 64 KiB spool, messages of at most 8 KiB (about 12 events of ~600 bytes),
# ~15 s outage at 40 ev/s: ~360 KB offered, so most of the outage's events
# are dropped, the oldest first.
outage_small() {
	local cfg=$TMP/o2.yaml a0 a1 acc drop sdrop got last lo hi n
	write_config "$cfg" "$b_PORT" "$TMP/spool2" 64KiB \
		"messages: { statistics: 1h, max_size: 8KiB }"
	start_daemon d2 "$cfg" || return 1
	sampler_start s2 "$TMP/d2.stats"
	stream_start o2 40 -p 400
	expect "80 events accepted before the outage" \
		wait_for 30 acked_at_least o2 80 || return 1
	broker_stop b || return 1
	a0=$(acked_n o2)
	expect "600 events accepted during the outage" \
		wait_for 60 acked_at_least o2 $((a0 + 600)) || return 1
	expect "the spool drops (spool.dropped_events > 0)" \
		wait_for 10 stat_ge "$TMP/d2.stats" spool.dropped_events 1 || return 1
	expect "the drop is logged naming the spool" \
		grep -q "spool $TMP/spool2 full" "$TMP/d2.log" || return 1
	broker_restart b || return 1
	a1=$(acked_n o2)
	expect "80 more accepted after the restart" \
		wait_for 30 acked_at_least o2 $((a1 + 80)) || return 1
	stream_stop o2
	acc=$(acked_n o2)
	last=$(grep '^[0-9]*$' "$TMP/o2.acked" | tail -n 1)
	# drained: what was not dropped arrived (pending 0, nothing in flight)
	expect "the spool drains" wait_for 120 eval \
		'[ "$(stat_get "$TMP/d2.stats" spool.pending)" = 0 ] &&
		 [ "$(stat_get "$TMP/d2.stats" spool.inflight)" = 0 ] &&
		 count o2 && [ "$(val o2 max_seq)" = "$last" ]'
	local rc=$?
	sampler_stop s2
	iotsecd_stop_stats d2
	count o2 --missing "$TMP/o2.missing"
	drop=$(stat_get "$TMP/d2.stats" spool.dropped_events)
	sdrop=$(val o2 drop.SpoolDroppedEvents)
	got=$(val o2 seqs)
	lo=$(head -n 1 "$TMP/o2.missing")
	hi=$(tail -n 1 "$TMP/o2.missing")
	n=$(wc -l <"$TMP/o2.missing")
	echo "# outage ~15 s, 64 KiB spool: sdk-stream: $(summary o2)"
	echo "# accepted $acc (during the outage $((a1 - a0))), received distinct $got," \
		"duplicates $(val o2 dup_seqs), spool dropped_events $drop" \
		"(dropped_messages $(stat_get "$TMP/d2.stats" spool.dropped_messages))," \
		"SpoolDroppedEvents $sdrop, queues High $(val o2 drop.High) Low $(val o2 drop.Low)," \
		"missing $n: ${lo:-none}..${hi:-none}, last accepted $last," \
		"spool bytes at most $(sample_max s2 spool.bytes) (bound 65536)"
	[ "$rc" = 0 ] || return 1
	expect "iotsecd exits 0 on SIGTERM" [ "$IOTSECD_RC" = 0 ] &&
	expect "drops happened (64 KiB for ~360 KB)" [ "${drop:-0}" -gt 0 ] &&
	expect "received + dropped = accepted ($got + $drop = $acc)" \
		[ $((got + drop)) = "$acc" ] &&
	expect "DroppedEventsStatistics reports the same SpoolDroppedEvents" \
		[ "$sdrop" = "$drop" ] &&
	expect "the queues' DroppedEvents include the spool's" \
		[ $(( $(val o2 drop.High) + $(val o2 drop.Low) )) -ge "$drop" ] &&
	expect "the dropped events are one block, the oldest pending ones" \
		[ $((hi - lo + 1)) = "$n" ] &&
	expect "the newest were kept: all after the dropped block arrived, up to the last ($last)" \
		[ "$(val o2 max_seq)" = "$last" ] && [ "$hi" -lt "$last" ] &&
	expect "the spool stayed within its bound" \
		[ "$(sample_max s2 spool.bytes)" -le 65536 ]
}
check outage_small_spool_drops_oldest_and_counts outage_small

# ---------------------------------------------------------------------------
# Priorities at the bound. SDK events are all high, so the kernel's
# priorities come from a recording: iotsecd --replay packs the whole
# recording into the spool before its first connection (an outage from
# the spool's point of view). 2000 synthetic events, aggregation off, each
# with its own ProcessId (1000 + its index): 63 alerts (cred, module,
# ptrace), 1541 high (exec, connect, file), 396 low (exit); ~950 KB in
# messages of at most 16 KiB into a 256 KiB spool on disk. Low must go
# first (all of them, since the high ones alone exceed the bound), then the
# oldest high (per message kind: Azure and extended events pack into
# messages of their own); every alert stays.
priorities() {
	local cfg=$TMP/p.yaml truth=$TMP/p.truth rc
	local aggr="events: { exec: { aggregate: false }, exit: { aggregate: false }, connect: { aggregate: false }, accept: { aggregate: false }, listen: { aggregate: false }, cred: { aggregate: false }, module: { aggregate: false }, ptrace: { aggregate: false }, file: { aggregate: false } }"
	fresh b
	[ -x "$BUILD/bench/synth" ] || { echo "no build/bench/synth (make tests)"; return 1; }
	"$BUILD/bench/synth" "$TMP/p.rec" 2000 64 50 || return 1
	# what the recording holds, without any bound
	write_config "$TMP/p0.yaml" "$b_PORT" "" 16MiB "messages: { statistics: 0s }" "$aggr"
	"$BIN/iotsecd" -c "$TMP/p0.yaml" --stats-file "" --replay "$TMP/p.rec" \
		--output "$TMP/p0.jsonl" 2>"$TMP/p0.log" || return 1
	write_config "$cfg" "$b_PORT" "$TMP/spoolp" 256KiB \
		"messages: { statistics: 1h, max_size: 16KiB }" \
		"broker: { host: 127.0.0.1, port: $b_PORT, device_id: prio, topic: \"iotsec/{device_id}/{type}/{message_id}\" }" \
		"$aggr"
	"$BIN/iotsecd" -c "$cfg" --stats-file "$TMP/p.stats" --replay "$TMP/p.rec" \
		2>"$TMP/p.log"
	rc=$?
	python3 - "$TMP/p0.jsonl" "$TMP/r.recv" "$TMP/p.stats" <<'PY'
import json, sys
ALERT = {"CredentialsChange", "KernelModuleLoad", "ProcessTrace"}
LOW = {"ProcessTerminate"}
OPS = {"DroppedEventsStatistics", "MessageStatistics"}
def prio(n):
    return "alert" if n in ALERT else "low" if n in LOW else "high"
truth, kinds = {}, {}
for line in open(sys.argv[1]):
    m = json.loads(line)
    for e in m["Events"]:
        truth[e["Payload"][0]["ProcessId"]] = prio(e["Name"])
        kinds[e["Payload"][0]["ProcessId"]] = \
            "extended" if m["MessageSchemaVersion"].startswith("iotsec") else "azure"
got, drop = {}, {}
for raw in open(sys.argv[2], "rb"):
    if not raw.startswith(b"iotsec/prio/"):
        continue
    m = json.loads(raw.split(b" ", 1)[1])
    for e in m["Events"]:
        if e["Name"] in OPS:
            if e["Name"] == "DroppedEventsStatistics":
                for it in e["Payload"]:
                    drop[it["Queue"]] = it["DroppedEvents"]
                    drop.update(it.get("ExtraDetails") or {})
            continue
        pid = e["Payload"][0]["ProcessId"]
        got[pid] = got.get(pid, 0) + 1
st = json.load(open(sys.argv[3]))["spool"]
n = {p: sum(1 for v in truth.values() if v == p) for p in ("alert", "high", "low")}
r = {p: sum(1 for k in got if truth.get(k) == p) for p in ("alert", "high", "low")}
# the newest kept: per message kind (Azure: exec, connect; extended: file),
# since each kind packs its own messages, in event order
suffix = True
for kind in ("azure", "extended"):
    high = sorted(k for k, v in truth.items() if v == "high" and kinds[k] == kind)
    kept = [k for k in high if k in got]
    if kept and kept != high[high.index(kept[0]):]:
        suffix = False
print("# replayed %d events: alert %d, high %d, low %d; received alert %d, high %d"
      " (the newest %s), low %d; duplicates %d; spool dropped_events %d"
      " (messages %d); DroppedEventsStatistics High %s Low %s SpoolDroppedEvents %s"
      % (len(truth), n["alert"], n["high"], n["low"], r["alert"], r["high"],
         "yes" if suffix else "NO", r["low"], sum(v - 1 for v in got.values()),
         st["dropped_events"], st["dropped_messages"], drop.get("High"),
         drop.get("Low"), drop.get("SpoolDroppedEvents")))
ok = True
def expect(what, cond):
    global ok
    if not cond:
        print("expected: " + what)
        ok = False
expect("2000 events in the recording", len(truth) == 2000)
expect("nothing received that is not in the recording", all(k in truth for k in got))
expect("every alert kept", r["alert"] == n["alert"])
expect("every low event dropped first", r["low"] == 0)
expect("DroppedEventsStatistics Low = all low events", drop.get("Low") == n["low"])
expect("some high events kept, some dropped", 0 < r["high"] < n["high"])
expect("the high events kept are the newest", suffix)
expect("received + dropped = replayed",
       len(got) + st["dropped_events"] == len(truth))
sys.exit(0 if ok else 1)
PY
	local prc=$?
	echo "# iotsecd --replay exit status $rc"
	[ "$prc" = 0 ] && expect "iotsecd --replay exits 0 (all acked)" [ "$rc" = 0 ]
}
check priorities_low_dropped_first_alerts_kept priorities

done_testing
