#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Print "topic json" lines from mosquitto_sub -v as one readable line per
event: the message's topic, then each event's name, hit count and gist."""
import json
import sys


def gist(name, p):
    keys = {
        "ProcessCreate": ("Executable", "CommandLine", "UserName"),
        "ProcessTerminate": ("Executable", "ExitStatus"),
        "ConnectionCreate": ("Executable", "Direction", "Protocol",
                             "RemoteAddress", "RemotePort"),
        "Login": ("UserName", "Operation", "Result", "RemoteAddress"),
    }.get(name)
    if keys is None:
        keys = [k for k in p if k not in ("ExtraDetails",)][:5]
    return "  ".join(f"{k}={p.get(k)}" for k in keys if k in p)


for line in sys.stdin:
    topic, _, body = line.rstrip("\n").partition(" ")
    try:
        msg = json.loads(body)
    except ValueError:
        print(f"{topic}: (not JSON) {body[:80]}")
        continue
    events = msg.get("Events", [])
    print(f"{topic}: {len(events)} event(s), "
          f"schema {msg.get('MessageSchemaVersion')}, agent {msg.get('AgentId')}")
    for ev in events:
        name = ev.get("Name")
        for p in ev.get("Payload", []):
            hits = (p.get("ExtraDetails") or {}).get("HitCount", "1")
            print(f"  {ev.get('EventType', ''):12} {name:24} x{hits:<3} {gist(name, p)}")
