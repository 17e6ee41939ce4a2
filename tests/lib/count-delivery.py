#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Count what a receiver got, by message id and by event sequence number.

usage: count-delivery.py RECV [--acked FILE] [--name NAME] [--run TAG]
                         [--max-size N] [--missing FILE]
                         [--topic-prefix P] [--pad-vary PAD]

RECV is the output of `mosquitto_sub -v -d` (lines "TOPIC PAYLOAD"; the
debug lines of mosquitto_sub are skipped). A message's id is the topic's
IoT Hub property $.mid, else the last topic level when it looks like a
message id (broker mode with {message_id} last), else the payload's hash.
Events named NAME (default Test.Seq) whose payload Run is TAG carry a
sequence number (payload Seq); --acked names the file of sdk-stream's
answers (accepted numbers alone on a line).

Prints key=value lines:
  messages         messages received (duplicates included); with --run,
                   only those holding events of the run
  distinct         distinct message ids (the same messages)
  dup_messages     extra copies of a message (same id)
  seq_events       events named NAME of run TAG, duplicates included
  seqs             distinct sequence numbers received
  dup_seqs         extra copies of a sequence number
  reserialized     sequence numbers that arrived in messages of different
                   ids (a message rebuilt instead of resent)
  max_len          the largest payload in bytes; over_max: payloads above
                   --max-size
  acked            numbers sdk-stream had accepted; missing: accepted but
                   never received; unacked_received: received but not
                   (known to be) accepted
  min_seq, max_seq the range received; missing_list: up to 20 of them
  drop.KEY         the last DroppedEventsStatistics' ExtraDetails and its
                   queues (drop.High, drop.Low)
  bad_json         payloads that are not JSON
  events_total     events of every name but the operational statistics;
                   names: how many of each
  pad_max_received, pad_min_missing   with --pad-vary PAD (sdk-stream -V):
                   the padding of the largest event received and of the
                   smallest one accepted but not received

--topic-prefix: only messages whose topic starts with P are looked at.
"""
import argparse
import hashlib
import json
import re
import sys
import urllib.parse

UUIDISH = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._:-]{7,}$")


def message_id(topic, payload):
    props = topic.split("/")[-1]
    if "mid=" in props:
        q = urllib.parse.parse_qs(props, keep_blank_values=True)
        for k, v in q.items():
            if k in ("$.mid", "%24.mid"):
                return v[0]
    last = topic.rstrip("/").split("/")[-1]
    if topic.startswith("iotsec/") and len(topic.split("/")) >= 4 and \
            UUIDISH.match(last):
        return last
    return "sha1:" + hashlib.sha1(payload).hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("recv")
    ap.add_argument("--acked")
    ap.add_argument("--name", default="Test.Seq")
    ap.add_argument("--run", default=None)
    ap.add_argument("--max-size", type=int, default=0)
    ap.add_argument("--missing")
    ap.add_argument("--topic-prefix", default="")
    ap.add_argument("--pad-vary", type=int, default=None)
    a = ap.parse_args()

    msgs = {}
    n_msgs = bad_json = max_len = over_max = 0
    seq_events = 0
    seq_mids = {}
    seq_count = {}
    drop = {}
    names = {}
    with open(a.recv, "rb") as f:
        for raw in f:
            raw = raw.rstrip(b"\n")
            if raw.startswith(b"Client ") or b" " not in raw:
                continue
            topic, payload = raw.split(b" ", 1)
            if not payload.startswith(b"{"):
                continue
            topic = topic.decode("utf-8", "replace")
            if not topic.startswith(a.topic_prefix):
                continue
            max_len = max(max_len, len(payload))
            if a.max_size and len(payload) > a.max_size:
                over_max += 1
            mid = message_id(topic, payload)
            try:
                m = json.loads(payload)
            except ValueError:
                bad_json += 1
                continue
            if a.run is None or any(
                    ev.get("Name") == a.name and
                    any(it.get("Run") == a.run for it in ev.get("Payload", []))
                    for ev in m.get("Events", [])):
                n_msgs += 1
                msgs[mid] = msgs.get(mid, 0) + 1
            for ev in m.get("Events", []):
                name = ev.get("Name")
                if name not in ("DroppedEventsStatistics",
                                "MessageStatistics"):
                    names[name] = names.get(name, 0) + 1
                if name == "DroppedEventsStatistics":
                    d = {}
                    for item in ev.get("Payload", []):
                        q = item.get("Queue")
                        if q:
                            d[q] = item.get("DroppedEvents")
                        for k, v in (item.get("ExtraDetails") or {}).items():
                            d[k] = v
                    drop = d
                if name != a.name:
                    continue
                for item in ev.get("Payload", []):
                    if a.run is not None and item.get("Run") != a.run:
                        continue
                    s = item.get("Seq")
                    if not isinstance(s, int):
                        continue
                    seq_events += 1
                    seq_count[s] = seq_count.get(s, 0) + 1
                    seq_mids.setdefault(s, set()).add(mid)

    acked = set()
    if a.acked:
        with open(a.acked) as f:
            for line in f:
                p = line.split()
                if len(p) == 1 and p[0].isdigit():
                    acked.add(int(p[0]))
    got = set(seq_count)
    missing = sorted(acked - got)
    out = {
        "messages": n_msgs,
        "distinct": len(msgs),
        "dup_messages": sum(c - 1 for c in msgs.values()),
        "seq_events": seq_events,
        "seqs": len(got),
        "dup_seqs": sum(c - 1 for c in seq_count.values()),
        "reserialized": sum(1 for s in seq_mids.values() if len(s) > 1),
        "max_len": max_len,
        "over_max": over_max,
        "acked": len(acked),
        "missing": len(missing),
        "unacked_received": len(got - acked) if a.acked else 0,
        "min_seq": min(got) if got else 0,
        "max_seq": max(got) if got else 0,
        "missing_list": ",".join(map(str, missing[:20])),
        "bad_json": bad_json,
        "events_total": sum(names.values()),
        "names": ",".join("%s:%d" % kv for kv in sorted(names.items())),
    }
    if a.pad_vary is not None:
        def pad(s):
            return (s * 7919) % (a.pad_vary + 1)
        out["pad_max_received"] = max((pad(s) for s in got), default=-1)
        out["pad_min_missing"] = min((pad(s) for s in missing), default=-1)
    for k, v in drop.items():
        out["drop." + k] = v
    for k, v in out.items():
        print("%s=%s" % (k, v))
    if a.missing:
        with open(a.missing, "w") as f:
            for s in missing:
                f.write("%d\n" % s)


if __name__ == "__main__":
    sys.exit(main())
