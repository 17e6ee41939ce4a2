#!/bin/bash
# SPDX-License-Identifier: MIT
#
# A device's ordinary day with the default rule pack: not one RuleAlert.
#
#   workload --syscalls--> kernel (iotsec.ko) --netlink--> iotsecd (rules)
#                          wtmp/btmp ---------------------^   | MQTT
#   mosquitto_sub <---- mosquitto (localhost, plain) <--------+
#
# iotsecd runs the shipped pack with the shipped watch list (/etc/passwd,
# /etc/shadow, /etc/sudoers) while the guest does what a device does
# without a package manager: shell scripts, cron-like runs of /usr/bin
# programs, a daemon listening on port 22 (the pack's expected port) and
# one on loopback, an account made by useradd/chpasswd and logins to it
# that succeed, one mistyped password, files read and written in /var and
# /home, UDP queries to a resolver on loopback, ps/top/pmap reading every
# process's /proc files, a debugger-free day. Then a marked action that
# the pack does alert on (a program run from /tmp) shows the alerts flow:
# it must be the only alert.
#
# Not exercised here: rules that wait 5 minutes after boot
# (module-loaded-after-boot, new-listening-port) see this workload as
# boot-time activity.
set -eu
. "$(dirname "$0")/../lib/vm.sh"
mark=normal$$
bail() {
	not_ok "$*"
	for f in "$TMP"/*.log; do
		sed "s|^|# $(basename "$f"): |" "$f" | tail -n 20
	done
	exit 1
}
bg() { "$@" & PIDS="$PIDS $!"; }

echo "TAP version 13"
ip link set dev lo up
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
  device_id: normal
  topic: "iotsec/{device_id}/{type}"
messages:
  statistics: 1h
spool:
  path: ""
kernel:
  watch: [/etc/passwd, /etc/shadow, /etc/sudoers]
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
grep -q 'rules: 13 enabled' "$TMP/d.log" ||
	bail "iotsecd did not load the 13 rules of the pack"
ok "module, mosquitto and iotsecd with the default pack running"

# an account, made by the tools made for it, and its logins
user=dev$$
useradd -m -s /bin/bash "$user"
echo "$user:Plain-$mark-pw" | chpasswd
python3 "$TOP/tests/lib/login-pty.py" 192.0.2.10 "$user" "Plain-$mark-pw" 1 >"$TMP/login-ok.log" 2>&1 ||
	bail "login-pty.py did not end"
grep -q shell "$TMP/login-ok.log" || bail "the login did not succeed: $(cat "$TMP/login-ok.log")"
python3 "$TOP/tests/lib/login-pty.py" 192.0.2.10 "$user" "mistyped" 1 >"$TMP/login-typo.log" 2>&1 ||
	bail "login-pty.py did not end"
python3 "$TOP/tests/lib/login-pty.py" 192.0.2.10 "$user" "Plain-$mark-pw" 1 >"$TMP/login-ok2.log" 2>&1 ||
	bail "login-pty.py did not end"
ok "an account made by useradd/chpasswd, two logins and a mistyped password"

# daemons: one on the expected port 22, one on loopback; clients of both
cat >"$TMP/daemon.py" <<'EOP'
import socket, sys, threading
def serve(addr, port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port)); s.listen(8)
    while True:
        c, _ = s.accept(); c.sendall(b"SSH-2.0-device\r\n"); c.close()
def dns():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5353))
    while True:
        q, peer = u.recvfrom(512); u.sendto(q, peer)
for a, p in (("0.0.0.0", 22), ("127.0.0.1", 8080)):
    threading.Thread(target=serve, args=(a, p), daemon=True).start()
dns()
EOP
python3 "$TMP/daemon.py" & PIDS="$PIDS $!"
wait_for 10 eval "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 22), 2).close()'" ||
	bail "the daemon did not listen"
for i in 1 2 3; do
	python3 -c '
import socket
for port in (22, 8080):
    c = socket.create_connection(("127.0.0.1", port), 2); c.recv(64); c.close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(2)
u.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x06device\x00\x00\x01\x00\x01", ("127.0.0.1", 5353))
u.recvfrom(512)'
done
ok "a daemon on port 22 and one on loopback, their clients, UDP queries to loopback"

# cron-like: a shell script run from /usr/local-like dirs, /usr/bin tools
mkdir -p /var/lib/device /opt/device/bin
install -d -o "$user" "/home/$user/data"
cat >/opt/device/bin/housekeeping.sh <<'EOS'
#!/bin/sh
set -e
date +%s >>/var/lib/device/heartbeat
find /var/log -maxdepth 1 -type f -name '*.log' | wc -l >/var/lib/device/logs
df -h / >/var/lib/device/df
uptime >/var/lib/device/uptime
gzip -c /var/lib/device/heartbeat >/var/lib/device/heartbeat.gz
sort /etc/passwd | cut -d: -f1 | head -n 3 >/dev/null
tar -C /var/lib -cf /var/lib/device.tar device
EOS
chmod 755 /opt/device/bin/housekeeping.sh
for i in 1 2 3 4 5; do
	/opt/device/bin/housekeeping.sh
	/usr/bin/env sh -c 'sleep 0.1; true'
done
runuser -u "$user" -- sh -ec 'for i in 1 2 3; do echo $i >>$HOME/data/values; cat $HOME/data/values >/dev/null; done; id >/dev/null' ||
	bail "the user could not write in its home"
sha256sum /var/lib/device/* >/dev/null
ok "housekeeping scripts, /usr/bin tools, files in /var and /home"

# monitoring: every process's /proc files, as ps, top, pmap do
ps aux >/dev/null
top -b -n 1 >/dev/null 2>&1 || true
for p in /proc/[0-9]*; do
	cat "$p/stat" "$p/status" "$p/cmdline" "$p/maps" >/dev/null 2>&1 || true
done
pmap 1 >/dev/null 2>&1 || true
ok "ps, top, pmap and every process's /proc files read"

# the alerts flow: one marked action the pack alerts on
mkdir -p /tmp/$mark
cp /bin/true /tmp/$mark/flow-$mark
/tmp/$mark/flow-$mark
if wait_for 30 eval "grep '\"RuleName\":\"exec-from-temporary-dir\"' $TMP/sub.log | grep -q flow-$mark"; then
	ok "the marked action's alert arrived (alerts flow)"
else
	not_ok "the marked action's alert did not arrive: alerts are not flowing"
fi
iotsecd_stop d TERM
sleep 1
others=$(grep '"Name":"RuleAlert"' "$TMP/sub.log" | grep -v "flow-$mark" || true)
if [ -n "$others" ]; then
	not_ok "the normal workload triggered $(printf '%s\n' "$others" | wc -l) alert(s): $(printf '%s\n' "$others" | grep -o '"RuleName":"[^"]*"' | sort | uniq -c | tr '\n' ' ')"
	printf '%s\n' "$others" | head -c 3000 | sed 's/^/# /'
else
	ok "the normal workload triggered no alert"
fi
userdel -r "$user" >/dev/null 2>&1 || true
rm -rf /tmp/$mark /opt/device /var/lib/device /var/lib/device.tar
done_testing
