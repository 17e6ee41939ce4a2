#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An MQTT broker stand-in that never acknowledges a publish.

usage: mqtt-noack.py PORTFILE STATSFILE

Listens on 127.0.0.1 (a free port, written to PORTFILE once it listens).
Every connection gets a CONNACK (accepted, no session), a SUBACK for a
SUBSCRIBE and a PINGRESP for a PINGREQ, so the client stays connected and
sees nothing wrong, but a QoS 1 PUBLISH never gets its PUBACK. MQTT 3.1.1
only, no TLS.

STATSFILE is rewritten after each packet with key=value lines:
connections, publishes, dup_publishes (DUP flag set), publish_bytes.
"""
import os
import socket
import sys
import threading

lock = threading.Lock()
stats = {"connections": 0, "publishes": 0, "dup_publishes": 0,
         "publish_bytes": 0}


def save(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for k, v in stats.items():
            f.write(f"{k}={v}\n")
    os.replace(tmp, path)


def read_exact(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise ConnectionError
        b += chunk
    return b


def serve(c, path):
    try:
        while True:
            first = read_exact(c, 1)[0]
            length, mult = 0, 1
            while True:
                d = read_exact(c, 1)[0]
                length += (d & 0x7f) * mult
                mult *= 128
                if not d & 0x80:
                    break
            body = read_exact(c, length) if length else b""
            kind = first >> 4
            with lock:
                if kind == 1:           # CONNECT
                    stats["connections"] += 1
                    c.sendall(b"\x20\x02\x00\x00")
                elif kind == 3:         # PUBLISH: never acknowledged
                    stats["publishes"] += 1
                    stats["publish_bytes"] += length
                    if first & 0x08:
                        stats["dup_publishes"] += 1
                elif kind == 8:         # SUBSCRIBE
                    c.sendall(b"\x90\x03" + body[:2] + b"\x01")
                elif kind == 12:        # PINGREQ
                    c.sendall(b"\xd0\x00")
                elif kind == 14:        # DISCONNECT
                    break
                save(path)
    except (ConnectionError, OSError):
        pass
    c.close()


def main():
    portfile, path = sys.argv[1:3]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    with lock:
        save(path)
    with open(portfile + ".tmp", "w") as f:
        f.write(f"{s.getsockname()[1]}\n")
    os.replace(portfile + ".tmp", portfile)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c, path), daemon=True).start()


if __name__ == "__main__":
    main()
