#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The kernel's accounting as iotsecd reports it (stats file "kernel").

usage: kernel-acct.py STATS first|later [nolost]

GENERATED = DROPPED + BEFORE + DELIVERED + LOST + in flight (events still
in the kernel's buffers at the last batch), nothing unaccounted, and every
event the kernel says it delivered was decoded. first: the consumer
subscribed before any other (BEFORE 0); later: it came after one (BEFORE
> 0). nolost: LOST must be 0. Prints the counters; exits non-zero with
what does not hold.
"""
import json
import sys

s = json.load(open(sys.argv[1]))
k, dec = s.get("kernel"), s.get("decoder", {})
if not k:
    sys.exit("no kernel counters in the stats file")
parts = k["dropped"] + k["before"] + k["delivered"] + k["lost"]
bad = []
if k["generated"] != parts + k["in_flight"] or k["in_flight"] < 0:
    bad.append("identity")
if k["delivered"] != dec.get("events"):
    bad.append("delivered %d != decoded %s" % (k["delivered"], dec.get("events")))
if (k["before"] == 0) != (sys.argv[2] == "first"):
    bad.append("before")
if "nolost" in sys.argv[3:] and k["lost"]:
    bad.append("lost")
print(" ".join("%s %s" % (n, k[n]) for n in
               ("generated", "dropped", "before", "delivered", "lost", "in_flight")))
sys.exit(", ".join(bad) if bad else 0)
