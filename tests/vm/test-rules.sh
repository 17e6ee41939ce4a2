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
# /proc/PID/maps beside the memory read, two failed logins beside five).
# Rules that need minutes
# after boot (module-loaded-after-boot, new-listening-port) or files the
# that need a second user (ptrace-of-other-user) are covered by
# tests/host/rules.c only.
set -eu
. "$(dirname "$0")/../lib/vm.sh"
mark=rules$$
bail() {
	not_ok "$*"
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
  dir: $TOP/config/rules
  aggregate_interval: 0s
EOC
[ -e /var/log/btmp ] || install -m 600 /dev/null /var/log/btmp
iotsecd_start d "$TMP/iotsecd.yaml"
wait_for 30 grep -q '"module":true,"mqtt":"connected"' "$TMP/d.stats" ||
	bail "iotsecd did not subscribe and connect"
ok "module, mosquitto and iotsecd with the default pack running"

w=/run/$mark; mkdir -p "$w" /tmp/$mark	# /run: not a temporary dir of the rule
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

# repeated-failed-logins: five wrong passwords from 203.0.113.7 to login(1);
# two from 198.51.100.9 stay below the threshold
python3 "$TOP/tests/lib/login-pty.py" 203.0.113.7 "guess$$" wrong 5 >"$TMP/login1.log" 2>&1 ||
	bail "login-pty.py (5 tries) did not end"
python3 "$TOP/tests/lib/login-pty.py" 198.51.100.9 "typo$$" wrong 2 >"$TMP/login2.log" 2>&1 ||
	bail "login-pty.py (2 tries) did not end"

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
iotsecd_stop d TERM
sleep 1
alerts=$(grep -c '"Name":"RuleAlert"' "$TMP/sub.log" || true)
normal() {
	grep '"Name":"RuleAlert"' "$TMP/sub.log" |
		grep -e "normal-$mark" -e "bash-$mark" -e '198.51.100.9' \
			-e '"Executable":"[^"]*/\(ps\|top\|cat\)"'
}
if normal >/dev/null; then
	not_ok "a normal action triggered a rule: $(normal | head -c 600)"
else
	ok "the normal actions triggered nothing ($alerts alerts in all)"
fi
grep RuleAlert "$TMP/sub.log" | grep -o '"RuleName":"[^"]*"' | sort | uniq -c | sed 's/^/# /'
rm -rf /tmp/$mark "$w"
done_testing
