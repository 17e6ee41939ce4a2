#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A recording fed to a running iotsecd --replay in rounds.

usage: feed-rounds.py RECORDING DIR

Writes RECORDING's header (iotsecd --replay format) to stdout at once,
then all of its batches again each time a file DIR/go.N appears (N = 1, 2,
...), until DIR/stop exists. The tests drive a daemon that keeps running
between rounds (tests/lib/broker.sh: feed_rounds_start).
"""
import os
import struct
import sys
import time

data = open(sys.argv[1], "rb").read()
d = sys.argv[2]
hlen = struct.unpack_from("<I", data, 12)[0]
out = sys.stdout.buffer
out.write(data[:hlen])
out.flush()
n = 1
while not os.path.exists(d + "/stop"):
    if os.path.exists("%s/go.%d" % (d, n)):
        out.write(data[hlen:])
        out.flush()
        n += 1
    time.sleep(0.05)
