#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The default rule pack on real actions, inside the lab (root):
#
#   this test --actions--> kernel (iotsec.ko) --netlink--> iotsecd (rules)
#        ^                                                   | MQTT
#   mosquitto_sub <---- mosquitto (localhost, plain) <-------+
#
# Each action that a default rule is about is done for real, marked, next
# to a normal one that must not trigger it; the RuleAlerts published name
# the marked actions and never the normal ones (ps, top and a reader of
# /proc/PID/maps beside the memory read, two failed logins beside five,
# root attaching to its own process beside nobody's, a connect to port 443
# beside 4444 (to 10.99.0.2, an address on lo), listening on port 22 and
# on loopback beside 4455, those seven failed logins beside twenty within
# a minute from five addresses).
# All 13 rules of the pack are covered. module-loaded-after-boot and
# new-listening-port wait 5 minutes after boot, and the guest is freshly
# booted: the test runs iotsecd on a copy of the pack in which only their
# "after_boot: 5m" is changed to a point T about 90 s ahead (the language
# has no per-field override of a rule), loads a module and listens before
# T (the boot: no alert) and again after T (alerts).
set -eu
. "$(dirname "$0")/../lib/vm.sh"
mark=rules$$
MODULES=${IOTSEC_TEST_MODULES:-$BUILD/test-modules}
net=10.99.0.1/24
bail() {
	not_ok "$*"
	ip addr del "$net" dev lo 2>/dev/null || true
	for f in "$TMP"/*.log; do
		sed "s|^|# $(basename "$f"): |" "$f" | tail -n 20
	done
	exit 1
}
bg() { "$@" & PIDS="$PIDS $!"; }

echo "TAP version 13"
insmod "$KO" || bail "insmod $KO"
broker_start mqtt || bail "mosquitto did not start"
bg mosquitto_sub -h 127.0.0.1 -p "$mqtt_PORT" -q 1 -v -t 'iotsec/#' >"$TMP/sub.log" 2>&1
wait_for 10 eval "mosquitto_pub -h 127.0.0.1 -p $mqtt_PORT -t iotsec/probe -m probe && grep -q '^iotsec/probe probe' $TMP/sub.log" ||
	bail "mosquitto_sub did not subscribe"

# root-daemon-unexpected-port needs a non-loopback address to connect to;
# the guest has no network card and cannot load dummy.ko (no modules of
# its kernel): 10.99.0.1/24 on lo, which makes 10.99.0.0/24 local (a
# connect to 10.99.0.2 is refused at once, after its event)
ip addr add "$net" dev lo || bail "no address $net on lo"

# the pack with after_boot moved from 5m to T seconds after boot, nothing
# else changed
uptime_s() { cut -d. -f1 /proc/uptime; }
T=$(($(uptime_s) + 90))
mkdir -p "$TMP/rules"
[ "$(grep -c '^      after_boot: 5m$' "$TOP/config/rules/default.yaml")" = 2 ] ||
	bail "the pack's after_boot lines are not the two expected"
sed "s/^      after_boot: 5m$/      after_boot: ${T}s/" \
	"$TOP/config/rules/default.yaml" >"$TMP/rules/default.yaml"
[ "$(diff "$TOP/config/rules/default.yaml" "$TMP/rules/default.yaml" | grep -c '^>')" = 2 ] ||
	bail "the copy of the pack differs in more than after_boot"

cat >"$TMP/iotsecd.yaml" <<EOC
agent:
  id: 9c647395-b913-4997-a732-a7fe7303b649
broker:
  host: 127.0.0.1
  port: $mqtt_PORT
  device_id: rules
  topic: "iotsec/{device_id}/{type}"
messages:
  statistics: 1h
spool:
  path: ""
kernel:
  watch: [/etc/shadow]
logins:
  state_file: ""
rules:
  dir: $TMP/rules
  aggregate_interval: 0s
EOC
[ -e /var/log/btmp ] || install -m 600 /dev/null /var/log/btmp
iotsecd_start d "$TMP/iotsecd.yaml"
wait_for 30 grep -q '"module":true,"mqtt":"connected"' "$TMP/d.stats" ||
	bail "iotsecd did not subscribe and connect"
ok "module, mosquitto and iotsecd with the default pack running"

w=/run/$mark; mkdir -p "$w" /tmp/$mark	# /run: not a temporary dir of the rule

# before T (the boot): a module loaded, a socket listening on 4455; the
# module is loadme.ko under a marked name (insmod's command line shows it)
listen() {	# listen ADDR PORT MARK
	python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
s.close()' "$@"
}
cp "$MODULES/loadme.ko" "$w/boot-$mark.ko"
cp "$MODULES/loadme.ko" "$w/late-$mark.ko"
insmod "$w/boot-$mark.ko" && rmmod loadme || bail "loadme.ko did not load"
listen 0.0.0.0 4455 "listenboot-$mark" || bail "no listen on 4455"
[ "$(uptime_s)" -lt "$T" ] ||
	bail "the actions before T came after it: the guest is too slow for T"
# exec-from-temporary-dir: a copy of true run from /tmp; the same from $w
cp /bin/true /tmp/$mark/tmp-$mark; /tmp/$mark/tmp-$mark
cp /bin/true "$w/normal-$mark"; "$w/normal-$mark"
# exec-of-deleted-file: a program run from a memfd
python3 -c '
import os, sys
fd = os.memfd_create("memfd-'$mark'", 0)
os.write(fd, open("/bin/true", "rb").read())
pid = os.fork()
if pid == 0:
    os.execve("/proc/self/fd/%d" % fd, ["memfd-'$mark'"], {})
os.waitpid(pid, 0)'
# shell-from-network-daemon: a shell started by "nginx" (a copy of bash);
# the same shell started by plain bash
cp /bin/bash "$w/nginx"
"$w/nginx" -c "/bin/sh -c 'true net-$mark'; true"
bash -c "/bin/sh -c 'true bash-$mark'; true"
# ptrace-by-non-debugger: python attaches to its own child
python3 -c '
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
pid = os.fork()
if pid == 0:
    time.sleep(5); os._exit(0)
libc.ptrace(16, pid, None, None)
os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)' "ptrace-$mark"
# euid-0-unexpected: root's process drops its euid to 1000 and takes 0 back
python3 -c '
import os
os.setresuid(0, 1000, 0)
os.seteuid(0)' "cred-$mark"

# account-file-write: /etc/shadow (the lab's overlay) opened for writing
# by python
python3 -c 'open("/etc/shadow", "a").close()' "shadow-$mark"

# process-memory-read: python reads its child's memory with
# process_vm_readv; ps, top and the child's maps read by cat are normal
python3 -c '
import ctypes, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
secret = ctypes.create_string_buffer(b"secret", 64)
pid = os.fork()
if pid == 0:
    time.sleep(30); os._exit(0)
buf = ctypes.create_string_buffer(64)
local = iovec(ctypes.addressof(buf), 64)
remote = iovec(ctypes.addressof(secret), 64)
n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
assert n == 64 and buf.value == b"secret", (n, ctypes.get_errno())' "memread-$mark" ||
	bail "process_vm_readv did not read the child's memory"
ps aux >/dev/null; top -b -n 1 >/dev/null 2>&1 || true
sleep 60 & cat /proc/$!/maps /proc/$!/environ >/dev/null; kill $!

# ptrace-of-other-user: root's python attaches to a sleep of nobody (uid
# 65534) and detaches; the same attach to root's own sleep is normal
# (both targets stay alive: the rule reads the target's uid)
setpriv --reuid=65534 --regid=65534 --clear-groups sleep 300 & PIDS="$PIDS $!"; other=$!
sleep 300 & PIDS="$PIDS $!"; same=$!
wait_for 10 grep -q '^Uid:[[:space:]]*65534' /proc/$other/status ||
	bail "setpriv did not become nobody"
attach() {	# attach PID MARK
	python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
assert libc.ptrace(16, pid, None, None) == 0, ctypes.get_errno()
os.waitpid(pid, 0)
libc.ptrace(17, pid, None, None)' "$@"
}
attach "$other" "ptother-$mark" || bail "no ptrace attach to nobody's sleep"
attach "$same" "ptsame-$mark" || bail "no ptrace attach to root's sleep"

# root-daemon-unexpected-port: root (no login session) connects to
# 10.99.0.2 port 4444, non-blocking; the same to port 443 is normal
connect() {	# connect PORT MARK
	python3 -c '
import socket, sys
s = socket.socket()
s.setblocking(False)
s.connect_ex(("10.99.0.2", int(sys.argv[1])))
s.close()' "$@"
}
connect 4444 "badport-$mark" || bail "no connect to 4444"
connect 443 "okport-$mark" || bail "no connect to 443"

# repeated-failed-logins: five wrong passwords from 203.0.113.7 to login(1);
# two from 198.51.100.9 stay below the threshold
python3 "$TOP/tests/lib/login-pty.py" 203.0.113.7 "guess$$" wrong 5 >"$TMP/login1.log" 2>&1 ||
	bail "login-pty.py (5 tries) did not end"
python3 "$TOP/tests/lib/login-pty.py" 198.51.100.9 "typo$$" wrong 2 >"$TMP/login2.log" 2>&1 ||
	bail "login-pty.py (2 tries) did not end"
last_fail=$(uptime_s)
# failed-logins-many-sources: the seven failures above do not fire it;
# twenty within a minute, four from each of five addresses (each below
# repeated-failed-logins' five), do (below, after T)
wait_for 30 eval "grep -q '\"RuleName\":\"repeated-failed-logins\"' $TMP/sub.log" ||
	bail "no alert of the five failed logins"
sleep 2
many_before=$(grep -c '"RuleName":"failed-logins-many-sources"' "$TMP/sub.log" || true)
# after T: the module loaded again, a socket listening on 4455; listening
# on 22 (expected) and on loopback are normal
while [ "$(uptime_s)" -le "$T" ]; do sleep 1; done
insmod "$w/late-$mark.ko" && rmmod loadme || bail "loadme.ko did not load after T"
listen 0.0.0.0 4455 "listen-$mark" || bail "no listen on 4455 after T"
listen 0.0.0.0 22 "listenok-$mark" || bail "no listen on 22"
listen 127.0.0.1 4456 "listenok-$mark" || bail "no listen on 127.0.0.1:4456"

# the twenty failures spread over five addresses, once the seven above are
# a minute old (they would count in the minute too)
while [ "$(uptime_s)" -le $((last_fail + 61)) ]; do sleep 1; done
spread="" t0=$(date +%s)
for i in 1 2 3 4 5; do
	python3 "$TOP/tests/lib/login-pty.py" 192.0.2.$i "spread$$" wrong 4 \
		>"$TMP/spread$i.log" 2>&1 & spread="$spread $!"
done
for p in $spread; do wait "$p" || bail "login-pty.py (spread) did not end"; done
echo "# the 20 spread failures took $(($(date +%s) - t0)) s"

want() {	# want RULE TEXT: an alert of RULE whose event holds TEXT
	wait_for 30 eval "grep '\"RuleName\":\"$1\"' $TMP/sub.log | grep -q -- '$2'"
}
# expect NAME CMD...: ok or not ok by CMD
expect() {
	local name=$1
	shift
	if "$@"; then ok "$name"; else not_ok "$name"; fi
}
expect "exec-from-temporary-dir fires on a program in tmp" \
	want exec-from-temporary-dir "/tmp/$mark/tmp-$mark"
expect "exec-of-deleted-file fires on a memfd" \
	want exec-of-deleted-file "memfd-$mark"
expect "shell-from-network-daemon fires on nginx -> sh" \
	want shell-from-network-daemon "net-$mark"
expect "ptrace-by-non-debugger fires on python's attach" \
	want ptrace-by-non-debugger "ptrace-$mark"
expect "euid-0-unexpected fires on seteuid(0) back from 1000" \
	want euid-0-unexpected "cred-$mark"
expect "account-file-write fires on python writing the shadow file" \
	want account-file-write "shadow-$mark"
expect "process-memory-read fires on python's process_vm_readv" \
	want process-memory-read "memread-$mark"
expect "repeated-failed-logins fires on 5 failed logins from one address" \
	want repeated-failed-logins '"RemoteAddress":"203.0.113.7"'
expect "ptrace-of-other-user fires on root attaching to nobody's process" \
	want ptrace-of-other-user "ptother-$mark"
expect "root-daemon-unexpected-port fires on root connecting to port 4444" \
	want root-daemon-unexpected-port "badport-$mark"
expect "failed-logins-many-sources fires on 20 failures from 5 addresses" \
	want failed-logins-many-sources '"RemoteAddress":"192.0.2.'
expect "failed-logins-many-sources is quiet on the first seven failures" \
	test "$many_before" = 0
expect "module-loaded-after-boot fires on a module loaded after T" \
	want module-loaded-after-boot "late-$mark"
expect "new-listening-port fires on a listen on 4455 after T" \
	want new-listening-port "listen-$mark"
iotsecd_stop d TERM
sleep 1
alerts=$(grep -c '"Name":"RuleAlert"' "$TMP/sub.log" || true)
normal() {
	grep '"Name":"RuleAlert"' "$TMP/sub.log" |
		grep -e "normal-$mark" -e "bash-$mark" -e '198.51.100.9' \
			-e '"Executable":"[^"]*/\(ps\|top\|cat\)"' \
			-e "okport-$mark" -e "listenok-$mark" -e "boot-$mark" \
			-e "listenboot-$mark"
	# not the rule's own case, which another rule may name
	grep '"RuleName":"ptrace-of-other-user"' "$TMP/sub.log" | grep -e "ptsame-$mark"
	grep '"RuleName":"repeated-failed-logins"' "$TMP/sub.log" | grep -e '192.0.2.'
}
if [ -n "$(normal)" ]; then
	not_ok "a normal action triggered a rule: $(normal | head -c 600)"
else
	ok "the normal actions triggered nothing ($alerts alerts in all)"
fi
grep RuleAlert "$TMP/sub.log" | grep -o '"RuleName":"[^"]*"' | sort | uniq -c | sed 's/^/# /'
kill "$other" "$same" 2>/dev/null || true
rm -rf /tmp/$mark "$w"
ip addr del "$net" dev lo
done_testing
