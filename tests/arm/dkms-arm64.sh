#!/bin/bash
# SPDX-License-Identifier: MIT
#
# DKMS on an ARM kernel (issue 17): the DKMS source of this tree (make
# dkms-source, dkms.conf) added, built and installed by the host's DKMS
# for Debian bookworm's arm64 kernel with the cross compiler, then loaded
# by modprobe in the arm64 lab, where it must deliver an event.
#
#   host (amd64)                                      arm64 lab (TCG)
#   make dkms-source DESTDIR=T/src
#   dkms add     --sourcetree T/src/usr/src --dkmstree T/dkms
#   ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- \
#   dkms build   -k KVER -a aarch64 --kernelsourcedir <arm64 headers>
#   dkms install --installtree T/root/lib/modules     /lib/modules/KVER
#     (a copy of the arm64 kernel's modules tree)  --> (--moddir) modinfo,
#   depmod -b T/root KVER                               modprobe iotsec,
#                                                       iotsec-consume sees
#                                                       the exec of true
#
# DKMS's own trees are private to the run (T), so neither /usr/src,
# /var/lib/dkms nor /lib/modules of the host change; the one global thing
# DKMS may create, its MOK signing pair in /var/lib/dkms, is removed again
# when this run made it. The kernel and headers come from
# scripts/kernel-pkgs.sh bookworm arm64, iotsec-consume from the arm64
# cross build (made here when missing). Run by `make check-arm`
# (mk/arm.mk); needs root (dkms), dkms and aarch64-linux-gnu-gcc.
#
# usage: dkms-arm64.sh [BUILD]   (BUILD: the amd64 build directory, build)
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1
build=$(realpath -m "${1:-${IOTSEC_BUILD:-$top/build}}")
abuild=$build/arm64

. "$top/tests/lib/tap.sh"
echo "TAP version 13"
skip() { ok "dkms on arm64 # SKIP $*"; echo "1..$n"; exit 0; }

[ "$(id -u)" = 0 ] || skip "dkms needs root"
command -v dkms >/dev/null || skip "no dkms (scripts/install-deps.sh)"
command -v aarch64-linux-gnu-gcc >/dev/null || skip "no aarch64-linux-gnu-gcc"
kenv=$(scripts/kernel-pkgs.sh bookworm arm64) || skip "no bookworm arm64 kernel (scripts/kernel-pkgs.sh)"
kv() { echo "$kenv" | sed -n "s/^$1=//p"; }
kver=$(kv KVER) kdir=$(kv KDIR) vmlinuz=$(kv VMLINUZ) moddir=$(kv MODDIR)
cross=$(kv CROSS_COMPILE) karch=$(kv KARCH)
ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' dkms.conf)

# One DKMS test at a time on this host (tests/host/dkms.sh takes it too):
# its before/after comparison would see the MOK pair made here.
exec 9>/run/lock/iotsec-dkms-test.lock
flock -w 900 9 || skip "another DKMS test holds /run/lock/iotsec-dkms-test.lock"

t=$(mktemp -d /tmp/iotsec-dkms-arm64.XXXXXX)
log=$t/log
had_key=0; [ -e /var/lib/dkms/mok.key ] && had_key=1
had_pub=0; [ -e /var/lib/dkms/mok.pub ] && had_pub=1
cleanup() {
	[ $had_key = 1 ] || rm -f /var/lib/dkms/mok.key
	[ $had_pub = 1 ] || rm -f /var/lib/dkms/mok.pub
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

run() { "$@" >"$log" 2>&1 || { sed 's/^/# /' "$log" | tail -n 30; return 1; }; }
mkdir -p "$t/dkms"	# DKMS does not make its tree
trees=(--sourcetree "$t/src/usr/src" --dkmstree "$t/dkms" --installtree "$t/root/lib/modules")

check "make dkms-source DESTDIR=<private tree>" \
	run make --no-print-directory dkms-source DESTDIR="$t/src"
check "dkms add -m iotsec -v $ver (private source and DKMS trees)" \
	run dkms add -m iotsec -v "$ver" "${trees[@]}"
# The ARCH and CROSS_COMPILE of the environment reach dkms.conf's MAKE
# (make -C <headers> M=... modules); -a names the directory DKMS keeps
# the result in.
check "ARCH=$karch CROSS_COMPILE=$cross dkms build -k $kver -a aarch64 --kernelsourcedir <arm64 headers>" \
	run env ARCH="$karch" CROSS_COMPILE="$cross" dkms build -m iotsec -v "$ver" \
		-k "$kver" -a aarch64 --kernelsourcedir "$kdir" "${trees[@]}"
built=$t/dkms/iotsec/$ver/$kver/aarch64/module/iotsec.ko
built_ok() {
	local m vm
	[ -f "$built" ] || { echo "# no $built"; ls -R "$t/dkms" | sed 's/^/# /' | head -n 20; return 1; }
	m=$(readelf -h "$built" | sed -n 's/^ *Machine: *//p')
	vm=$(modinfo -F vermagic "$built")
	echo "# $built: $m, vermagic $vm"
	[ "$m" = AArch64 ] && [[ $vm == "$kver "*aarch64* ]]
}
check "the DKMS-built module is AArch64 with vermagic $kver ... aarch64" built_ok

# The install tree: a copy of the arm64 kernel's modules (hard links,
# since nothing in it is rewritten in place: depmod replaces its files).
mkdir -p "$t/root/lib/modules"
cp -al "$moddir" "$t/root/lib/modules/$kver" 2>/dev/null || cp -a "$moddir" "$t/root/lib/modules/$kver"
check "dkms install -k $kver -a aarch64 --installtree <a copy of the arm64 modules tree>" \
	run env ARCH="$karch" CROSS_COMPILE="$cross" dkms install -m iotsec -v "$ver" \
		-k "$kver" -a aarch64 --kernelsourcedir "$kdir" --no-depmod "${trees[@]}"
ko=$t/root/lib/modules/$kver/updates/dkms/iotsec.ko
check "depmod -b <tree> $kver lists updates/dkms/iotsec.ko, the module DKMS built" \
	bash -c "cmp -s '$ko' '$built' && depmod -b '$t/root' '$kver' &&
		grep -q '^updates/dkms/iotsec.ko:' '$t/root/lib/modules/$kver/modules.dep'"
check "dkms status: iotsec/$ver installed for $kver (aarch64)" \
	bash -c "dkms status -m iotsec -v '$ver' -k '$kver' -a aarch64 --dkmstree '$t/dkms' \
		--installtree '$t/root/lib/modules' | grep -q ': installed'"

# The consumer of the arm64 cross build.
consume=$abuild/tests/tools/iotsec-consume
if [ ! -x "$consume" ]; then
	( unset MAKEFLAGS MFLAGS MAKELEVEL
	  make -C "$top" -j2 ARCH="$karch" CROSS_COMPILE="$cross" \
		BUILD="$(realpath -m --relative-to="$top" "$abuild")" KDIR="$kdir" test-tools ) \
		>"$log" 2>&1 || { sed 's/^/# /' "$log" | tail -n 20; }
fi

cat >"$t/guest.sh" <<GUEST
set -e
path=\$(modinfo -n iotsec)
echo "guest: \$(uname -m) \$(uname -r): modinfo -n iotsec: \$path"
[ "\$path" = /lib/modules/$kver/updates/dkms/iotsec.ko ]
modprobe iotsec
test -d /sys/module/iotsec
$consume >/lab/out/consume.out 2>&1 &
c=\$!
$consume --wait-subscribers 1 --timeout 60
for i in 1 2 3 4 5; do /bin/true; done
# the module flushes its batches every 100 ms by default
sleep 1
kill -TERM \$c
wait \$c || true
echo "guest: consumer: \$(tail -n 1 /lab/out/consume.out)"
ev=\$(sed -n 's/.*events=\([0-9]*\).*/\1/p' /lab/out/consume.out)
[ "\${ev:-0}" -gt 0 ]
rmmod iotsec
! test -d /sys/module/iotsec
GUEST
lab_ok() {
	[ -x "$consume" ] || { echo "# no arm64 iotsec-consume ($consume)"; return 1; }
	(cd / && run "$top/scripts/lab.sh" --arch arm64 --vmlinuz "$vmlinuz" \
		--moddir "$t/root/lib/modules/$kver" --out "$t" --timeout 900 -- \
		bash "$t/guest.sh") || { sed 's/^/# /' "$t/console.log" 2>/dev/null | tail -n 20; return 1; }
	grep 'guest:' "$log" | sed 's/^/# /'
}
check "arm64 lab: modprobe loads the DKMS-installed module and a consumer sees events" lab_ok

echo "1..$n"
exit $((failed > 0))
