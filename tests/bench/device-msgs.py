#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# Counting in published messages, for tests/bench/device.sh (standard
# library only):
#
#   device-msgs.py hits FILE PORT...
#       FILE: one message per line (iotsecd --output). Prints
#       "out=N in=N" with N the events the messages stand for (an
#       aggregated payload counts its HitCount) among ConnectionCreate
#       events to (Out: RemotePort) or on (In: LocalPort) the given ports.
#
#   device-msgs.py bandwidth SUBLOG TOPIC_PREFIX
#       SUBLOG: `mosquitto_sub -v` output ("topic payload" per line).
#       For the messages on topics starting with TOPIC_PREFIX, prints
#       key=value lines: messages, bytes, units (IoT Hub bills a message
#       in 4 KiB blocks: ceil(len / 4096) each), records, events (hits
#       summed), the same for the operational messages (statistics) kept
#       apart, and the baseline "one message per raw event": every record
#       re-packed alone into its own message with the same envelope
#       (the envelope's bytes measured in the message it came in, the
#       record's own bytes exactly as published), times its hit count.
import json
import sys

OPERATIONAL = ("DroppedEventsStatistics", "MessageStatistics")


def hits(ev):
    n = 0
    for p in ev.get("Payload") or [{}]:
        h = (p.get("ExtraDetails") or {}).get("HitCount")
        n += int(h) if h else 1
    return n


def cmd_hits(path, ports):
    ports = set(ports)
    out = inn = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = json.loads(line)
            for ev in m.get("Events", []):
                if ev.get("Name") != "ConnectionCreate":
                    continue
                for p in ev.get("Payload") or []:
                    h = (p.get("ExtraDetails") or {}).get("HitCount")
                    h = int(h) if h else 1
                    if p.get("Direction") == "Out" and p.get("RemotePort") in ports:
                        out += h
                    elif p.get("Direction") == "In" and p.get("LocalPort") in ports:
                        inn += h
    print(f"out={out} in={inn}")


def split_events(raw):
    """The Events array's elements as (object, exact published text)."""
    key = '"Events":['
    start = raw.index(key) + len(key)
    dec = json.JSONDecoder()
    i, evs = start, []
    while raw[i] != "]":
        obj, end = dec.raw_decode(raw, i)
        evs.append((obj, raw[i:end]))
        i = end + 1 if raw[end] == "," else end
    # envelope: everything but the array's contents
    env = len(raw.encode()) - len(raw[start:i].encode())
    return env, evs


def cmd_bandwidth(path, prefix):
    c = dict.fromkeys(("messages", "bytes", "units", "records", "events",
                       "op_messages", "op_bytes", "base_messages",
                       "base_bytes", "base_units", "max_message"), 0)
    names = {}
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            line = line.rstrip("\n")
            topic, _, payload = line.partition(" ")
            if not topic.startswith(prefix):
                continue
            n = len(payload.encode("utf-8", "surrogateescape"))
            env, evs = split_events(payload)
            if evs and all(o.get("Name") in OPERATIONAL for o, _ in evs):
                c["op_messages"] += 1
                c["op_bytes"] += n
                continue
            c["messages"] += 1
            c["bytes"] += n
            c["units"] += (n + 4095) // 4096
            c["max_message"] = max(c["max_message"], n)
            for o, text in evs:
                h = hits(o)
                c["records"] += 1
                c["events"] += h
                names[o.get("Name")] = names.get(o.get("Name"), 0) + h
                one = env + len(text.encode())
                c["base_messages"] += h
                c["base_bytes"] += h * one
                c["base_units"] += h * ((one + 4095) // 4096)
    for k, v in c.items():
        print(f"{k}={v}")
    print("names=" + ",".join(f"{k}:{v}" for k, v in sorted(names.items())))


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "hits":
        cmd_hits(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "bandwidth":
        cmd_bandwidth(sys.argv[2], sys.argv[3])
    else:
        sys.exit("usage: device-msgs.py hits FILE PORT... | bandwidth SUBLOG PREFIX")


main()
