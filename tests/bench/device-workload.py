#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
#
# A scripted device for SECONDS (tests/bench/device.sh, bandwidth part):
#
#   services (threads of this process, like a device's daemons)
#     http    127.0.0.1:8080, a status page
#     dns     127.0.0.1:5353/udp, answers every datagram
#   clients
#     poller  GET http://127.0.0.1:8080/status every 1 s (new connection)
#     lookup  connected UDP query to 127.0.0.1:5353 every 2 s (new socket)
#   cron (this process forks the jobs, as crond does)
#     every 5 s   sh -c 'date +%s >STATE/last; cat /proc/loadavg | grep -q .'
#     every 10 s  curl -s -o /dev/null http://127.0.0.1:8080/health
#     every 15 s  mosquitto_pub of a telemetry reading (when a broker is up)
#     every 60 s  sh -c 'df -P; ps -e; find /var/log -name "*.log" | wc -l'
#
# usage: device-workload.py SECONDS STATEDIR
# Prints what it did: "http=N dns=N cron5=N cron10=N cron15=N cron60=N".
import faulthandler
import http.server
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

secs = float(sys.argv[1])
state = sys.argv[2]
stop = threading.Event()
done = dict.fromkeys(("http", "dns", "cron5", "cron10", "cron15", "cron60"), 0)


class Quiet(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b'{"status":"ok"}\n'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def dns_server():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 5353))
    s.settimeout(0.5)
    while not stop.is_set():
        try:
            data, peer = s.recvfrom(512)
            s.sendto(data, peer)
        except socket.timeout:
            pass


def every(period, fn):
    nxt = time.monotonic()
    while not stop.is_set():
        try:
            fn()
        except (OSError, subprocess.TimeoutExpired):
            done["errors"] = done.get("errors", 0) + 1
        nxt += period
        stop.wait(max(0, nxt - time.monotonic()))


def poll():
    with urllib.request.urlopen("http://127.0.0.1:8080/status", timeout=5) as r:
        r.read()
    done["http"] += 1


def lookup():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    s.connect(("127.0.0.1", 5353))
    s.send(b"\x12\x34 device.local A")
    s.recv(512)
    s.close()
    done["dns"] += 1


def job(name, argv):
    def run():
        subprocess.run(argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
        done[name] += 1
    return run


# a hang shows where every thread was
faulthandler.register(signal.SIGTERM, all_threads=True, chain=True)
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 8080), Quiet)
servers = [threading.Thread(target=srv.serve_forever),
           threading.Thread(target=dns_server)]
jobs = [(1, poll), (2, lookup),
        (5, job("cron5", ["sh", "-c", f"date +%s >{state}/last; "
                          "cat /proc/loadavg | grep -q ."])),
        (10, job("cron10", ["curl", "-s", "-m", "10", "-o", "/dev/null",
                            "http://127.0.0.1:8080/health"])),
        (60, job("cron60", ["sh", "-c", "df -P >/dev/null; ps -e >/dev/null; "
                            "find /var/log -name '*.log' | wc -l >/dev/null"]))]
if shutil.which("mosquitto_pub"):
    jobs.append((15, job("cron15", ["mosquitto_pub", "-h", "127.0.0.1",
                                    "-t", "telemetry/temp", "-m",
                                    '{"temp":21.5}'])))
clients = [threading.Thread(target=every, args=j) for j in jobs]
for t in servers + clients:
    t.start()
time.sleep(secs)
# clients first: a client connecting to a server that is going away waits
stop.set()
for t in clients:
    t.join()
srv.shutdown()
srv.server_close()
for t in servers:
    t.join()
print(" ".join(f"{k}={v}" for k, v in done.items()))
