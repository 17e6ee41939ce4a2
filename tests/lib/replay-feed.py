#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Feed a recording into a pipe the way the kernel feeds a netlink socket.

usage: replay-feed.py RECORDING [--rate BATCHES_PER_S] [--pipe-size BYTES]
                      [--hold FILE] [--summary FILE]

Writes RECORDING (iotsecd --replay format, forwarder/intake/replay.h) to
stdout, which must be a pipe (iotsecd --replay - reads it in its loop). The
header goes out first, then one batch record at a time on an absolute
schedule of RATE batches a second (0: as fast as they go). Like the kernel
with a receive buffer, it never waits for the reader: a batch that does not
fit into what is free in the pipe (capacity --pipe-size, default 212992, the
usual net.core.rmem_default) is dropped and counted, an overrun. A batch
that went in only in part (the pipe's free space is counted in pages) is
finished, waiting, and counted as an overrun too, so the count never
flatters the reader.

--hold FILE: after the last batch, keep the pipe open until FILE exists (the
reader then sees its end only when the test says so).

Prints (to --summary FILE, else stderr) key=value lines: batches, events
(of the batches written), written, overruns, seconds, overruns_at (when
the first ten happened, seconds from the start).
"""
import argparse
import fcntl
import os
import select
import struct
import sys
import termios
import time

F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032
HDR = 24
EVENTS_ATTR = 12    # IOTSEC_A_EVENTS (include/uapi/iotsec.h)


def records(data):
    hlen = struct.unpack_from("<I", data, 12)[0]
    yield data[:hlen], 0
    off = hlen
    while off + 8 <= len(data):
        ln = struct.unpack_from("<I", data, off)[0]
        padded = (ln + 3) & ~3
        rec = data[off:off + 8 + padded]
        yield rec, count_events(data[off + 8:off + 8 + ln])
        off += 8 + padded


def count_events(attrs):
    """Events in one batch: the entries of its IOTSEC_A_EVENTS nest."""
    n, off = 0, 0
    while off + 4 <= len(attrs):
        ln, typ = struct.unpack_from("<HH", attrs, off)
        if ln < 4:
            break
        if typ & 0x3fff == EVENTS_ATTR:
            o, end = off + 4, off + ln
            while o + 4 <= end:
                l2 = struct.unpack_from("<H", attrs, o)[0]
                if l2 < 4:
                    break
                n += 1
                o += (l2 + 3) & ~3
        off += (ln + 3) & ~3
    return n


def in_pipe(fd):
    buf = fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0")
    return struct.unpack("i", buf)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("recording")
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--pipe-size", type=int, default=212992)
    ap.add_argument("--hold")
    ap.add_argument("--summary")
    a = ap.parse_args()

    fd = sys.stdout.fileno()
    fcntl.fcntl(fd, F_SETPIPE_SZ, a.pipe_size)
    cap = fcntl.fcntl(fd, F_GETPIPE_SZ)
    data = open(a.recording, "rb").read()
    batches = events = written = overruns = 0
    late = []           # when the first overruns happened (s)
    start = time.monotonic()
    k = 0
    for rec, nev in records(data):
        if nev == 0 and written == 0:
            os.write(fd, rec)           # the header: blocking, once
            fl = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
            written = 1
            continue
        if a.rate > 0:
            due = start + k / a.rate
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
        k += 1
        batches += 1
        # one page of slack: the pipe counts in pages, not bytes
        if len(rec) + 4096 > cap - in_pipe(fd):
            overruns += 1
            late.append(time.monotonic() - start)
            continue
        try:
            n = os.write(fd, rec)
        except BlockingIOError:
            overruns += 1
            late.append(time.monotonic() - start)
            continue
        if n < len(rec):
            overruns += 1
            late.append(time.monotonic() - start)
            rest = rec[n:]
            while rest:
                select.select([], [fd], [])
                try:
                    rest = rest[os.write(fd, rest):]
                except BlockingIOError:
                    pass
        events += nev
        written += 1
    secs = time.monotonic() - start
    out = open(a.summary, "w") if a.summary else sys.stderr
    print(f"batches={batches}\nevents={events}\nwritten={written - 1}\n"
          f"overruns={overruns}\nseconds={secs:.2f}\n"
          f"overruns_at={','.join(f'{t:.2f}' for t in late[:10])}",
          file=out, flush=True)
    if a.hold:
        while not os.path.exists(a.hold):
            time.sleep(0.1)
    os.close(fd)


if __name__ == "__main__":
    main()
