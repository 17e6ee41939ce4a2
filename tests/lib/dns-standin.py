#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A DNS server stand-in that can play dead.

usage: dns-standin.py ADDR PORT MODEFILE ZONE IPV4

Listens on UDP ADDR:PORT. While MODEFILE holds "drop" (or does not exist),
every query is read and never answered: a resolver behind a firewall that
drops packets (glibc then waits timeout x attempts, 10 s by default). When
it holds "answer": a name ending in ZONE gets an A record IPV4 (an AAAA
query an empty answer), anything else NXDOMAIN. Each query is logged to
stdout as "MODE NAME TYPE".
"""
import socket
import struct
import sys


def qname(pkt, off):
    labels = []
    while pkt[off]:
        n = pkt[off]
        labels.append(pkt[off + 1:off + 1 + n].decode("ascii", "replace"))
        off += 1 + n
    return ".".join(labels), off + 1


def answer(pkt, zone, ipv4):
    qid, flags = struct.unpack_from("!HH", pkt, 0)
    name, end = qname(pkt, 12)
    qtype, _ = struct.unpack_from("!HH", pkt, end)
    question = pkt[12:end + 4]
    ours = name.lower().rstrip(".").endswith(zone)
    rcode = 0 if ours else 3
    an = b""
    if ours and qtype == 1:
        an = struct.pack("!HHHIH", 0xc00c, 1, 1, 5, 4) + \
            socket.inet_aton(ipv4)
    hdr = struct.pack("!HHHHHH", qid, 0x8180 | (flags & 0x0100) | rcode, 1,
                      1 if an else 0, 0, 0)
    return hdr + question + an, name, qtype


def main():
    addr, port, modefile, zone, ipv4 = sys.argv[1:6]
    zone = zone.lower().rstrip(".")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, int(port)))
    while True:
        pkt, peer = s.recvfrom(4096)
        try:
            mode = open(modefile).read().strip()
        except OSError:
            mode = "drop"
        try:
            reply, name, qtype = answer(pkt, zone, ipv4)
        except (IndexError, struct.error):
            continue
        print(mode, name, qtype, flush=True)
        if mode == "answer":
            s.sendto(reply, peer)


if __name__ == "__main__":
    main()
