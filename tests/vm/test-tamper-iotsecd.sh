#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Tamper evidence end to end: each move against a running iotsecd comes
# out of iotsecd as exactly one TamperAttempt message, with the actor, even
# when the move succeeds (the unload takes the module away: its event is
# queued to iotsecd before the module goes).
#
#   shell --SIGSTOP/SIGCONT, ptrace, SET_CONFIG cut, rmmod--> kernel
#   kernel --TAMPER events--> iotsecd --output FILE (the messages it sends)
#
# The broker leg is test-e2e.sh's: the same messages, over MQTT.
set -eu
. "$(dirname "$0")/../lib/vm.sh"
log=$TMP/d.log
out=$TMP/out.jsonl

echo "TAP version 13"

# count KIND [KEY=VALUE...]: TamperAttempt events of KIND in the output
# whose payload has every KEY=VALUE.
count() {
	python3 - "$out" "$@" <<'PY'
import json, sys
out, kind, want = sys.argv[1], sys.argv[2], sys.argv[3:]
n = 0
for line in open(out):
    for ev in json.loads(line).get("Events", []):
        if ev.get("Name") != "TamperAttempt":
            continue
        p = ev["Payload"][0]
        if p.get("Kind") == kind and \
           all(str(p.get(k)) == v for k, v in (w.split("=", 1) for w in want)):
            n += 1
print(n)
PY
}

# one KIND [KEY=VALUE...]: wait for one such event, then check no second.
one() {
	wait_for 20 eval "[ \$(count $*) -ge 1 ]" || return 1
	sleep 1
	[ "$(count "$@")" = 1 ]
}

printf 'priorities:\n  high: 1s\nmessages:\n  statistics: 1h\n' >"$TMP/cfg.yaml"
insmod "$KO"
touch "$out"
iotsecd_start d "$TMP/cfg.yaml" --output "$out"
wait_for 20 grep -q 'subscribed to the kernel collector' "$log" &&
	ok "iotsecd subscribed" || not_ok "no subscription: $(cat "$log")"
pid=$(dpid d)

kill -STOP "$pid"
kill -CONT "$pid"
one AgentSignal Signal=19 TargetProcessId="$pid" ProcessId=$$ &&
	ok "SIGSTOP of iotsecd: one alert with the sender" ||
	not_ok "SIGSTOP: $(count AgentSignal) events; $(tail -n 3 "$out")"

# attach and detach, as a debugger would
python3 - "$pid" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
assert libc.ptrace(16, pid, 0, 0) == 0          # PTRACE_ATTACH
os.waitpid(pid, 0)
assert libc.ptrace(17, pid, 0, 0) == 0          # PTRACE_DETACH
PY
kill -CONT "$pid"
one AgentTrace Mode=Attach TargetProcessId="$pid" &&
	ok "ptrace of iotsecd: one alert" ||
	not_ok "ptrace: $(count AgentTrace) events; $(tail -n 3 "$out")"

# another consumer turns exec events off
python3 - <<'PY'
import socket, struct
# generic netlink by hand: resolve the family, then SET_CONFIG
s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 16)
s.bind((0, 0))
def attr(t, data):
    a = struct.pack("HH", 4 + len(data), t) + data
    return a + b"\0" * (-len(a) % 4)
def msg(family, cmd, attrs):
    body = struct.pack("BBH", cmd, 1, 0) + attrs
    return struct.pack("IHHII", 16 + len(body), family, 5, 1, 0) + body
s.send(msg(16, 3, attr(2, b"iotsec\0")))          # CTRL_CMD_GETFAMILY
r = s.recv(65536)
off, fam = 20, None
while off < len(r):
    ln, t = struct.unpack_from("HH", r, off)
    if t == 1:                                     # CTRL_ATTR_FAMILY_ID
        fam = struct.unpack_from("H", r, off + 4)[0]
    off += (ln + 3) & ~3
mask = ((1 << 12) - 1) & ~1 & ~(1 << 1)            # all but exec
s.send(msg(fam, 4, attr(7, struct.pack("I", mask))))
r = s.recv(65536)
assert struct.unpack_from("i", r, 16)[0] == 0, "SET_CONFIG refused"
PY
one CoverageReduced EventsTurnedOff=exec Result=0 &&
	ok "a config cut by another process: one alert" ||
	not_ok "config cut: $(count CoverageReduced) events; $(tail -n 3 "$out")"

rmmod iotsec
one ModuleUnload ModuleName=iotsec &&
	ok "rmmod while iotsecd runs: the alert comes out after the module went" ||
	not_ok "unload: $(count ModuleUnload) events; $(tail -n 3 "$out")"
! grep -q '^iotsec ' /proc/modules &&
	ok "the unload itself went through" || not_ok "module still loaded"
iotsecd_stop d
done_testing
