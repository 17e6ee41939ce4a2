#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""List the records of a spool directory, read independently of spool.c
from the format in docs/forwarder.md (a test oracle):

  magic "ISPR" u32 | version u8 = 1 | state u8 ('L','A','D') | priority u8
  | kind u8 | payload length u32 | events u32 | sequence u64
  | message id 36 B | CRC-32C u32 (header with state 0, then payload)
  | payload

usage: spool-records.py DIR [RUN]

One line per record, in file order:
  FILE OFFSET LENGTH STATE PRIORITY EVENTS SEQUENCE ID SEQS
where LENGTH is the payload's, SEQS the comma-separated payload "Seq"
numbers of sdk-stream's run RUN ("-" if none). A file's scan stops at the
first record that is not whole and valid, with a line
  FILE OFFSET bad REASON
"""
import glob
import os
import re
import struct
import sys

_T = []
for i in range(256):
    c = i
    for _ in range(8):
        c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    _T.append(c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def main():
    d = sys.argv[1]
    run = sys.argv[2] if len(sys.argv) > 2 else None
    pat = re.compile(rb'"Seq":(\d+),"Run":"' + (run or "").encode() + rb'"')
    for f in sorted(glob.glob(os.path.join(d, "*.seg"))):
        data = open(f, "rb").read()
        name = os.path.basename(f)
        off = 0
        while off < len(data):
            h = data[off:off + 64]
            if len(h) < 64:
                print(name, off, "bad", "short-header")
                break
            magic, ver, state, prio, kind, plen, events, seq = \
                struct.unpack_from("<IBBBBIIQ", h)
            mid = h[24:60].decode("ascii", "replace")
            crc, = struct.unpack_from("<I", h, 60)
            if magic != 0x52505349 or ver != 1:
                print(name, off, "bad", "magic-or-version")
                break
            payload = data[off + 64:off + 64 + plen]
            if len(payload) < plen:
                print(name, off, "bad", "short-payload")
                break
            hz = bytearray(h[:60])
            hz[5] = 0
            if crc32c(payload, crc32c(bytes(hz))) != crc:
                print(name, off, "bad", "crc")
                break
            seqs = [m.group(1).decode() for m in pat.finditer(payload)] \
                if run else []
            print(name, off, plen, chr(state), prio, events, seq, mid,
                  ",".join(seqs) or "-")
            off += 64 + plen


if __name__ == "__main__":
    main()
