#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The Debian packages (make deb, $IOTSEC_BUILD/deb) installed in the lab as
# a user would (root; the lab's root is the host's, read-only below a tmpfs
# overlay, so apt and dpkg change only the guest; no network: the
# dependencies are on the host already):
#
#   apt-get install ./*.deb --> DKMS builds iotsec.ko for the guest kernel
#   modprobe iotsec; systemd-analyze verify iotsecd.service
#   the unit's ExecStartPre/ExecStart as systemd runs them (no systemd as
#   pid 1 here: its RuntimeDirectory/StateDirectory made by hand)
#   /etc/iotsec/iotsecd.yaml changed by the user --> events in mosquitto
#   broker down: messages wait in /var/lib/iotsec/spool
#   upgrade to <version>-2 --> the change to the configuration and the
#   spooled messages stay; delivered afterwards
#   apt-get purge --> every file the packages and the daemon created is gone,
#   nothing else (lists of the file system before and after)
#
# Two modes. The fast one (the default: make check's 6.1 lab run) upgrades
# iotsecd alone (repacked as revision 2), so DKMS builds the module once.
# The full one (IOTSEC_DEB_VM=1: make check-packages) upgrades all four
# packages, so iotsec-dkms's upgrade removes the module and DKMS builds it
# again. IOTSEC_SKIP_DEB_VM=1 skips the test.
set -u
TMP_NAME=iotsec-deb
. "$(dirname "$0")/../lib/vm.sh"
mark=iotsec-deb-$$
# The packages of the guest's architecture: make deb's ($BUILD/deb, the
# build machine's) or a cross build's ($BUILD/deb/ARCH, make deb-for-check
# DEB_CHECK_ARCHS=arm64).
debs=$BUILD/deb
march=$(dpkg --print-architecture 2>/dev/null)
[ -d "$debs/$march" ] && debs=$debs/$march
export DEBIAN_FRONTEND=noninteractive
PKGS="iotsec-dkms iotsecd libiotsec1 libiotsec-dev"

# Each apt-get run (a DKMS build of the module inside the emulated guest)
# gets at most APT_TIMEOUT seconds, so that a slow machine costs the lab run
# a bounded time: the build alone took 472 s in a guest sharing the host's
# 2 cores with two other labs (gcc under TCG, about 15 times the host's CPU
# time for the same build).
#
# apt-get itself takes about a minute in the amd64 lab before it unpacks
# anything (its cache of the host's package database, under TCG): the fast
# mode installs with apt, as a user does, and upgrades and purges with dpkg
# (what apt runs underneath: the same maintainer scripts); the full mode
# uses apt throughout.
# IOTSEC_DEB_VM=fast: the fast mode on any kernel (the arm64 lab run of
# make check-packages).
APT_TIMEOUT=${IOTSEC_DEB_APT_TIMEOUT:-1200}
if [ "${IOTSEC_DEB_VM:-0}" = 1 ]; then
	mode=full
	UPGRADE=$PKGS
	upgrade() { apt-get install -y -q --no-install-recommends ./*.deb; }
	purge() { apt-get purge -y -q $PKGS; }
else
	mode=fast
	UPGRADE=iotsecd
	upgrade() { dpkg -i ./*.deb; }
	purge() { dpkg --purge $PKGS; }
fi
t0=$(date +%s)
secs() { echo "$(( $(date +%s) - $1 )) s"; }

echo "TAP version 13"
if [ "${IOTSEC_SKIP_DEB_VM:-0}" = 1 ]; then
	skip "install the packages" "IOTSEC_SKIP_DEB_VM=1"
	done_testing
	exit 0
fi
if ! ls "$debs"/iotsecd_*.deb >/dev/null 2>&1; then
	skip "install the packages" "no $debs/*.deb (make deb)"
	done_testing
	exit 0
fi
# make check runs the VM suite on 6.1; other kernels (make check-kernels)
# would each cost a DKMS build for the same packages.
if [ "${IOTSEC_DEB_VM:-0}" = 0 ] && [ -n "${IOTSEC_KERNEL:-}" ] && [ "$IOTSEC_KERNEL" != 6.1 ]; then
	skip "install the packages" "on 6.1 only (make check), here $IOTSEC_KERNEL; IOTSEC_DEB_VM=1 to run"
	done_testing
	exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dkms >/dev/null; then
	skip "install the packages" "no apt-get or dkms in this root"
	done_testing
	exit 0
fi
echo "# $mode mode: upgrade of $UPGRADE"

# stamp: each line of its input prefixed with the seconds since it started
# (bash's printf, no process per line).
stamp() {
	local t0 now line
	printf -v t0 '%(%s)T' -1
	while IFS= read -r line; do
		printf -v now '%(%s)T' -1
		printf '%4d %s\n' $((now - t0)) "$line"
	done
}
bail() {
	not_ok "$*"
	for f in "$TMP"/*.log; do
		sed "s|^|# $(basename "$f"): |" "$f" | tail -n 25
	done
	exit 1
}
purge_all() {
	module_unload
	dpkg -l $PKGS 2>/dev/null | grep -q '^[ir]' &&
		apt-get purge -y -q $PKGS >/dev/null 2>&1
	true
}
CLEANUP_HOOK=purge_all

# What may change: the packages' places, not dpkg's, apt's or the logs.
# Not the packages' either, so left out: /run/systemd (systemd-analyze
# verify makes /run/systemd/systemd-units-load; on a real system systemd's
# own) and DKMS's signing key /var/lib/dkms/mok.{key,pub} (made by the
# first DKMS build, shared by every DKMS module and enrolled in MOK on
# Secure Boot machines: purging one module's package must keep it).
snapshot() {
	find /etc /usr/sbin /usr/bin /usr/src /usr/include /usr/lib/modules-load.d \
	     /usr/share/doc /usr/share/man/man5 \
	     /usr/share/man/man8 /lib/systemd /lib/modules/"$(uname -r)" /var/lib /run \
	     /usr/lib/*-linux-gnu* \
	     \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/systemd/deb-systemd-helper-enabled \
	        -o -path /var/lib/systemd/deb-systemd-helper-masked -o -path /etc/ld.so.cache \
	        -o -path /var/lib/man-db -o -path "$TMP" -o -path /run/lock -o -path /run/systemd \
	        -o -path /var/lib/dkms/mok.key -o -path /var/lib/dkms/mok.pub \) -prune -o -print 2>/dev/null |
		grep -v '^/run/user\|^/tmp' | sort
}
# The lab's /dev is a bare devtmpfs: the links udev makes on a real system
# are missing, and bash's <(...) (DKMS uses it) needs /dev/fd.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
# The ARM lab's modules tree is the host's extract of the kernel packages,
# its build link pointing at the host's headers, whose kbuild programs are
# the host's (amd64): the guest builds with its own headers package, where
# installing it would have pointed the link.
kver=$(uname -r)
if [ ! -x "/lib/modules/$kver/build/scripts/basic/fixdep" ] ||
   ! "/lib/modules/$kver/build/scripts/basic/fixdep" 2>&1 | grep -q Usage; then
	[ -d "/usr/src/linux-headers-$kver" ] ||
		{ skip "install the packages" "no headers for $kver in this root"; done_testing; exit 0; }
	ln -sfn "/usr/src/linux-headers-$kver" "/lib/modules/$kver/build"
	echo "# build link: /usr/src/linux-headers-$kver"
fi
snapshot >"$TMP/before.list"

v1=$(dpkg-deb -f "$(ls "$debs"/iotsecd_*.deb | head -n 1)" Version)
mkdir -p "$TMP/v1"
for p in $PKGS; do cp "$debs/${p}_"*.deb "$TMP/v1/"; done
start=$(date +%s)
(cd "$TMP/v1" && timeout "$APT_TIMEOUT" apt-get install -y -q --no-install-recommends ./*.deb) 2>&1 |
	stamp >"$TMP/apt1.log"
[ "${PIPESTATUS[0]}" = 0 ] || bail "apt-get install ./*.deb"
# Where the time went: apt's steps (seconds from the start) and DKMS's own
# account of the module's build.
grep -E 'Unpacking|Setting up|Building|Processing|Installing|depmod|Signing' "$TMP/apt1.log" |
	sed 's/^/# apt: /'
find /var/lib/dkms/iotsec -name make.log -exec tail -n 3 {} + 2>/dev/null | sed 's/^/# dkms make.log: /'
ok "apt-get install of $PKGS ($v1, $(secs "$start") with the DKMS build)"

if dkms status iotsec 2>/dev/null | grep -q "$kver.*installed" &&
   modinfo -k "$kver" iotsec 2>/dev/null | grep -q '^filename:.*updates/dkms/iotsec.ko'; then
	ok "DKMS built and installed iotsec.ko for $kver"
else
	bail "dkms: $(dkms status iotsec 2>&1 | tr '\n' '|')"
fi
modprobe iotsec && grep -q '^iotsec ' /proc/modules || bail "modprobe iotsec"
ok "modprobe iotsec loads the DKMS module"

unit=/lib/systemd/system/iotsecd.service
if [ -L /etc/systemd/system/multi-user.target.wants/iotsecd.service ] &&
   systemd-analyze verify "$unit" >"$TMP/verify.log" 2>&1; then
	ok "iotsecd.service enabled and clean under systemd-analyze verify"
else
	not_ok "unit: $(tr '\n' '|' <"$TMP/verify.log")"
fi

# The user's change to the configuration: a local broker, short queues.
broker_start mqtt >/dev/null || bail "mosquitto did not start"
receiver_start sub "$mqtt_PORT" 'iotsec/#' || bail "mosquitto_sub"
cat >/etc/iotsec/iotsecd.yaml <<EOC
# changed by the test: kept across the upgrade
agent:
  id: 0b6c2c62-5f4e-4a36-9a51-0ee43a1b7c9e
broker:
  host: 127.0.0.1
  port: $mqtt_PORT
  tls: false
  device_id: deb
  topic: "iotsec/{device_id}/{type}"
priorities:
  high: 2s
  low: 2s
events:
  exec: { priority: high, aggregate: false }
EOC
cp /etc/iotsec/iotsecd.yaml "$TMP/user.yaml"

# run_unit: what systemd does for the unit: RuntimeDirectory= and
# StateDirectory= made, ExecStartPre= then ExecStart= run (in the
# background, its pid in $daemon).
run_unit() {
	local pre cmd
	install -d -m 0755 /run/iotsec
	install -d -m 0700 /var/lib/iotsec
	pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
	cmd=$(sed -n 's/^ExecStart=//p' "$unit")
	[ -n "$cmd" ] || return 1
	$pre >>"$TMP/daemon.log" 2>&1 || return 1
	$cmd >>"$TMP/daemon.log" 2>&1 &
	daemon=$!
	PIDS="$PIDS $daemon"
}
stop_unit() {
	kill -TERM "$daemon" 2>/dev/null
	wait "$daemon" 2>/dev/null
	true
}
run_unit || bail "the unit's ExecStartPre/ExecStart"
wait_for 30 grep -q '"mqtt":"connected"' /run/iotsec/iotsecd.json ||
	bail "iotsecd (the unit's ExecStart) did not connect"
/bin/true "$mark-1"
wait_for 40 grep -q "$mark-1" "$TMP/sub.recv" || bail "events did not reach mosquitto"
ok "iotsecd started as the unit says; an exec reached mosquitto"

# Broker down: the next event waits in the spool; SIGTERM keeps it there.
receiver_stop sub
broker_stop mqtt
/bin/true "$mark-2"
sleep 4
stop_unit
spooled() { grep -rqa "$mark-2" /var/lib/iotsec/spool; }
wait_for 10 spooled || bail "the undelivered message is not in /var/lib/iotsec/spool"
ok "undelivered message in /var/lib/iotsec/spool after SIGTERM"

# Version 2: the same packages (fast mode: iotsecd alone), Debian
# revision 2. Full mode: iotsec-dkms's upgrade rebuilds the module.
v2=${v1%-*}-2
mkdir -p "$TMP/v2" "$TMP/x"
for p in $UPGRADE; do
	f=$(ls "$TMP/v1/${p}_"*.deb)
	rm -rf "$TMP/x"
	dpkg-deb -R "$f" "$TMP/x"
	sed -i "s/$v1/$v2/g" "$TMP/x/DEBIAN/control"
	dpkg-deb -b --root-owner-group "$TMP/x" "$TMP/v2/" >/dev/null || bail "repack $f"
done
[ $mode = fast ] || modprobe -r iotsec
start=$(date +%s)
(cd "$TMP/v2" && export -f upgrade && timeout "$APT_TIMEOUT" bash -c upgrade) >"$TMP/apt2.log" 2>&1 ||
	bail "upgrade to $v2"
got=$(for p in $PKGS; do echo "$p=$(dpkg-query -W -f '${Version}' "$p")"; done | tr '\n' ' ')
want=$(for p in $PKGS; do
	case " $UPGRADE " in *" $p "*) echo "$p=$v2" ;; *) echo "$p=$v1" ;; esac
done | tr '\n' ' ')
if [ "$got" = "$want" ] && dkms status iotsec 2>/dev/null | grep -q "$kver.*installed"; then
	if [ $mode = full ]; then
		ok "upgrade of $UPGRADE to $v2 ($(secs "$start"); DKMS module rebuilt)"
	else
		ok "upgrade of $UPGRADE to $v2 ($(secs "$start"); DKMS module kept)"
	fi
else
	not_ok "upgrade: $got (want $want), $(dkms status iotsec 2>&1 | tr '\n' '|')"
fi
if cmp -s /etc/iotsec/iotsecd.yaml "$TMP/user.yaml" && ! ls /etc/iotsec/*.dpkg-* >/dev/null 2>&1; then
	ok "the upgrade kept the changed /etc/iotsec/iotsecd.yaml"
else
	not_ok "configuration after the upgrade: $(head -n 3 /etc/iotsec/iotsecd.yaml | tr '\n' '|')"
fi
spooled || bail "the upgrade lost the spool"
ok "the upgrade kept the spooled message"

modprobe iotsec || bail "modprobe after the upgrade"
grep -q '^iotsec ' /proc/modules || bail "no module after the upgrade"
broker_restart mqtt >/dev/null || bail "mosquitto restart"
receiver_start sub "$mqtt_PORT" 'iotsec/#' || bail "mosquitto_sub"
run_unit || bail "the unit after the upgrade"
wait_for 60 grep -q "$mark-2" "$TMP/sub.recv" ||
	bail "the spooled message was not delivered after the upgrade"
ok "after the upgrade the spooled message reached mosquitto"
stop_unit
receiver_stop sub
broker_stop mqtt
modprobe -r iotsec

start=$(date +%s)
purge >"$TMP/purge.log" 2>&1 || bail "purge"
echo "# purge: $(secs "$start")"
snapshot >"$TMP/after.list"
if cmp -s "$TMP/before.list" "$TMP/after.list"; then
	ok "purge removed everything the packages created, nothing else"
else
	not_ok "purge: file lists differ"
	diff "$TMP/before.list" "$TMP/after.list" | head -n 30 | sed 's/^/# /'
fi
echo "# $mode mode: $(secs "$t0") in all"
done_testing
