#!/bin/bash
# SPDX-License-Identifier: MIT
#
# DKMS for real: register the module with the host's DKMS, build and install
# it for the installed Debian kernel headers, load the installed module in the
# QEMU lab, remove it again, and do the same through "make dkms-install" /
# "make dkms-uninstall". The host is left as it was found (trap cleanup).
#
#   host                                            QEMU lab (Debian 6.1)
#   tree --make dkms-source--> /usr/src/iotsec-V
#   dkms add / build -k K / install -k K
#     --> /lib/modules/K/updates/dkms/iotsec.ko --9p--> modprobe iotsec
#                                                       /sys/module/iotsec
#                                                       genl ctrl get iotsec
#   dkms remove --> gone again                          rmmod iotsec
#   dkms add + /etc/kernel/postinst.d/dkms K  (what a new kernel triggers)
#   make dkms-install / dkms-uninstall
#
# Needs root and the kernel headers of a kernel the lab can boot. Skips
# (and touches nothing) when iotsec is already registered with DKMS here.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1

. "$top/tests/lib/tap.sh"
skip_dkms() { ok "dkms add/build/install/remove # SKIP $*"; echo "1..$n"; exit $((failed > 0)); }

echo "TAP version 13"

# 1. The supported range, checked without DKMS: dkms.conf's regex against
# the minimum kmod/Kbuild enforces (5.10).
excl=$(sed -n 's/^BUILD_EXCLUSIVE_KERNEL="\(.*\)"$/\1/p' dkms.conf)
min=$(sed -n 's/.*-eq \([0-9]*\) -a $(PATCHLEVEL) -ge \([0-9]*\).*/\1.\2/p' kmod/Kbuild | head -n 1)
range_ok() {
	local v
	[ -n "$excl" ] && [ "$min" = 5.10 ] || return 1
	for v in 5.10.0-30-amd64 5.15.0-91-generic 5.19.17 6.1.0-56-amd64 \
		 6.12.48+deb13-amd64 6.18.0 7.0.1 10.2.0; do
		[[ $v =~ $excl ]] || { echo "# $v should build"; return 1; }
	done
	for v in 5.9.16 5.4.0-150-generic 5.1.21 4.19.0-27-amd64 3.10.0 2.6.32; do
		[[ $v =~ $excl ]] && { echo "# $v should not build"; return 1; }
	done
	return 0
}
check "dkms.conf BUILD_EXCLUSIVE_KERNEL accepts 5.10+ exactly (kmod/Kbuild: $min)" range_ok

conf_ok() {
	# shellcheck disable=SC1091,SC2034
	( kernel_source_dir=/KSRC dkms_tree=/TREE kernelver=K
	  . ./dkms.conf
	  [ "$PACKAGE_NAME" = iotsec ] && [ -n "$PACKAGE_VERSION" ] &&
	  [ "${BUILT_MODULE_NAME[0]}" = iotsec ] &&
	  [ -f "${BUILT_MODULE_LOCATION[0]}Kbuild" ] &&
	  [ "$AUTOINSTALL" = yes ] &&
	  [ "${MAKE[0]}" = "make -C /KSRC M=/TREE/iotsec/$PACKAGE_VERSION/build modules" ] &&
	  [ -n "$CLEAN" ] )
}
check "dkms.conf: name, version, module location, MAKE against the target kernel, AUTOINSTALL" conf_ok

# 2. PREEMPT_RT kernels are left out (kmod/README.md, "Known limits"), and
# Debian's RT headers, where installed, carry the option that excludes them.
rt_ok() {
	local cfg
	grep -qx 'BUILD_EXCLUSIVE_CONFIG="!CONFIG_PREEMPT_RT"' dkms.conf || return 1
	for cfg in /usr/src/linux-headers-*-rt-*/.config; do
		[ -f "$cfg" ] || continue
		grep -qx 'CONFIG_PREEMPT_RT=y' "$cfg" ||
			{ echo "# $cfg: no CONFIG_PREEMPT_RT=y"; return 1; }
	done
	return 0
}
check "dkms.conf BUILD_EXCLUSIVE_CONFIG keeps PREEMPT_RT kernels out" rt_ok

[ "$(id -u)" = 0 ] || skip_dkms "the DKMS steps need root"
if ! command -v dkms >/dev/null; then
	echo "# dkms missing: installing it"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends dkms >/dev/null 2>&1 ||
		skip_dkms "no dkms and apt-get could not install it"
fi

kdir=$(scripts/kdir.sh) || skip_dkms "no kernel headers"
kdir=$(realpath "$kdir")
kver=${kdir##*/linux-headers-}
[ -d "/lib/modules/$kver" ] && [ -e "/lib/modules/$kver/build" ] ||
	skip_dkms "no /lib/modules/$kver/build for $kdir"
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)
ko=/lib/modules/$kver/updates/dkms/iotsec.ko

# One run at a time on this host: DKMS state is global.
exec 9>/run/lock/iotsec-dkms-test.lock
flock -w 900 9 || skip_dkms "another DKMS test holds /run/lock/iotsec-dkms-test.lock"

if [ -n "$(dkms status -m iotsec 2>/dev/null)" ] || [ -e "/usr/src/iotsec-$ver" ]; then
	skip_dkms "iotsec is already registered with DKMS or in /usr/src on this host; not touching it"
fi

# What the host looks like now, to restore and to compare with at the end.
snapshot() {
	ls -d /usr/src/iotsec* 2>/dev/null
	ls -a /var/lib/dkms
	find "/lib/modules/$kver" -path "/lib/modules/$kver/build" -prune -o \
		-path "/lib/modules/$kver/source" -prune -o -name 'iotsec*' -print
	ls /lib/modules/$kver
	cat "/lib/modules/$kver/modules.dep"
}
before=$(mktemp) after=$(mktemp) log=$(mktemp)
snapshot >"$before"
had_updates=0; [ -d "/lib/modules/$kver/updates" ] && had_updates=1
had_key=0; [ -e /var/lib/dkms/mok.key ] && had_key=1
had_pub=0; [ -e /var/lib/dkms/mok.pub ] && had_pub=1

restore() {
	dkms remove -m iotsec -v "$ver" --all >/dev/null 2>&1
	rm -rf "/usr/src/iotsec-$ver" /var/lib/dkms/iotsec
	rm -f "$ko" "$ko".*
	if [ $had_updates = 0 ]; then
		rmdir "/lib/modules/$kver/updates/dkms" "/lib/modules/$kver/updates" 2>/dev/null
	fi
	# The MOK pair DKMS generated for signing belongs to this run only.
	[ $had_key = 1 ] || rm -f /var/lib/dkms/mok.key
	[ $had_pub = 1 ] || rm -f /var/lib/dkms/mok.pub
	depmod -a "$kver"
}
labout=
trap 'restore; rm -rf "$before" "$after" "$log" $labout' EXIT
trap 'exit 143' TERM INT HUP   # killed by a timeout: still restore the host

run() { "$@" >"$log" 2>&1 || { sed 's/^/# /' "$log" | tail -n 30; return 1; }; }

check "make dkms-source copies the module source to /usr/src/iotsec-$ver" \
	run make --no-print-directory dkms-source
srcok() {
	[ -f "/usr/src/iotsec-$ver/dkms.conf" ] && [ -f "/usr/src/iotsec-$ver/kmod/Kbuild" ] &&
	[ -f "/usr/src/iotsec-$ver/include/uapi/iotsec.h" ] &&
	! find "/usr/src/iotsec-$ver" -name '*.o' -o -name '*.ko' -o -name '*.cmd' | grep -q .
}
check "the /usr/src copy holds the sources and no build products" srcok

check "dkms add -m iotsec -v $ver" run dkms add -m iotsec -v "$ver"
check "dkms status shows iotsec/$ver added" \
	bash -c "dkms status -m iotsec -v '$ver' | grep -q ': added'"
check "dkms build -m iotsec -v $ver -k $kver" run dkms build -m iotsec -v "$ver" -k "$kver"
built=/var/lib/dkms/iotsec/$ver/$kver/$(uname -m)/module/iotsec.ko
vermagic_ok() {
	[ -f "$built" ] && modinfo -F vermagic "$built" | grep -q "^$kver "
}
check "the DKMS-built module's vermagic is $kver" vermagic_ok

# The other kernels of scripts/kernels.sh (5.10, ...): DKMS builds for
# their headers too, where they are extracted (--kernelsourcedir), not
# installed; the module's vermagic names that kernel.
for k in $("$top/scripts/kernels.sh" list | grep -vx 6.1); do
	if ! kenv=$("$top/scripts/kernels.sh" env "$k" 2>"$log"); then
		notok "dkms build for kernel $k: cannot fetch it"
		sed 's/^/# /' "$log" | tail -n 5
		continue
	fi
	okver=$(echo "$kenv" | sed -n 's/^KVER=//p')
	okdir=$(echo "$kenv" | sed -n 's/^KDIR=//p')
	if [ -n "$(echo "$kenv" | sed -n 's/^KMAKE=//p')" ]; then
		ok "dkms build -k $okver # SKIP kernel $k's make runs in another root (KMAKE)"
		continue
	fi
	check "dkms build -m iotsec -v $ver -k $okver --kernelsourcedir <its extracted headers> (kernel $k)" \
		run dkms build -m iotsec -v "$ver" -k "$okver" --kernelsourcedir "$okdir"
	obuilt=/var/lib/dkms/iotsec/$ver/$okver/$(uname -m)/module/iotsec.ko
	check "the DKMS-built module for kernel $k has vermagic $okver" \
		bash -c "[ -f '$obuilt' ] && modinfo -F vermagic '$obuilt' | grep -q '^$okver '"
done

check "dkms install -m iotsec -v $ver -k $kver" run dkms install -m iotsec -v "$ver" -k "$kver"
installed_ok() {
	[ -f "$ko" ] && grep -q '^updates/dkms/iotsec.ko:' "/lib/modules/$kver/modules.dep" &&
	[ "$(modinfo -k "$kver" -n iotsec)" = "$ko" ] &&
	dkms status -m iotsec -v "$ver" -k "$kver" | grep -q ': installed'
}
check "installed as $ko, in modules.dep, modinfo -k $kver finds it" installed_ok

# DKMS signs with its MOK pair when the kernel signs modules; Secure Boot
# machines enrol that certificate (docs/install.md).
signed_ok() {
	local cn signer
	[ -f /var/lib/dkms/mok.pub ] || { echo "# no /var/lib/dkms/mok.pub"; return 1; }
	cn=$(openssl x509 -inform DER -in /var/lib/dkms/mok.pub -noout -subject -nameopt multiline |
	     sed -n 's/^ *commonName *= *//p')
	signer=$(modinfo -F signer "$ko")
	echo "# signer: $signer; MOK certificate: $cn"
	[ -n "$signer" ] && [ "$signer" = "$cn" ]
}
if grep -q '^CONFIG_MODULE_SIG=y' "$kdir/.config"; then
	check "the installed module is signed with DKMS's MOK key" signed_ok
else
	ok "module signature # SKIP $kver does not sign modules"
fi

# In the lab, modprobe resolves iotsec through the host's modules.dep (the
# guest sees /lib/modules over 9p) to the DKMS copy.
labout=$(mktemp -d /tmp/iotsec-dkms-lab.XXXXXX)
cat >"$labout/guest.sh" <<GUEST
set -e
path=\$(modinfo -n iotsec)
echo "guest: modinfo -n iotsec: \$path"
[ "\$path" = "$ko" ]
modprobe iotsec
test -d /sys/module/iotsec
genl ctrl get name iotsec | grep -q "Name: iotsec"
rmmod iotsec
! test -d /sys/module/iotsec
GUEST
lab_ok() {
	# from /: the guest has its own /tmp, and the lab starts in $PWD
	(cd / && run "$top/scripts/lab.sh" --kdir "$kdir" --out "$labout" --timeout 300 -- \
		sh /lab/out/guest.sh) &&
		sed 's/^/# /' "$log" | grep 'guest:'
}
check "lab: modprobe loads the DKMS module, the iotsec family resolves, rmmod" lab_ok

check "dkms remove -m iotsec -v $ver --all" run dkms remove -m iotsec -v "$ver" --all
removed_ok() {
	[ ! -e "$ko" ] && ! grep -q 'iotsec.ko' "/lib/modules/$kver/modules.dep" &&
	! modinfo -k "$kver" iotsec >/dev/null 2>&1 && [ -z "$(dkms status -m iotsec)" ]
}
check "after remove: no module file, no modules.dep entry, no DKMS record" removed_ok

# AUTOINSTALL: what happens when a kernel is installed later. Debian's
# kernel postinst hook runs dkms_autoinstaller for every registered module,
# so only when iotsec is the only one here.
others=$(find /var/lib/dkms -mindepth 1 -maxdepth 1 ! -name iotsec ! -name 'mok.*' -printf '%f ')
if [ -n "$others" ]; then
	ok "AUTOINSTALL through the kernel postinst hook # SKIP other DKMS modules registered here: $others"
else
	auto_ok() {
		run make --no-print-directory dkms-source &&
		run dkms add -m iotsec -v "$ver" &&
		run /etc/kernel/postinst.d/dkms "$kver" && installed_ok &&
		run dkms remove -m iotsec -v "$ver" --all && removed_ok
	}
	check "AUTOINSTALL: /etc/kernel/postinst.d/dkms $kver builds and installs it (then removed)" auto_ok
fi

# The same through the Makefile targets users run.
check "make dkms-install DKMS_KERNEL=$kver" \
	run make --no-print-directory dkms-install DKMS_KERNEL="$kver"
check "make dkms-install installed $ko" installed_ok
check "make dkms-install again replaces the registration" \
	run make --no-print-directory dkms-install DKMS_KERNEL="$kver"
check "make dkms-uninstall" run make --no-print-directory dkms-uninstall
check "after make dkms-uninstall: nothing left in DKMS, /usr/src, /lib/modules" \
	bash -c "[ ! -e /usr/src/iotsec-$ver ] && [ ! -e $ko ] && [ -z \"\$(dkms status -m iotsec)\" ]"

# Leave the host as found: same files, same modules.dep.
restore
snapshot >"$after"
as_found() { diff -u "$before" "$after" | head -n 20 | sed 's/^/# /'; cmp -s "$before" "$after"; }
check "the host is left as found (/usr/src, /var/lib/dkms, /lib/modules/$kver)" as_found

echo "1..$n"
exit $((failed > 0))
