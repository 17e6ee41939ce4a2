#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The Debian packages (make deb, mk/deb.mk) as lintian sees them: no error
# and no warning; the informational tags that stay are listed and explained
# in docs/install.md. Uses $IOTSEC_BUILD/deb (make check builds it first),
# building it when it is missing.
#   1. make deb built the four packages
#   2. lintian: no error, no warning
#   3. libiotsec1: SONAME libiotsec.so.1, symbols file, shlibs
#   4. libiotsec-dev: the .so link, header and a pkg-config file that
#      names the multiarch libdir
#   5. iotsecd: /etc/iotsec/iotsecd.yaml a conffile (0600), the unit enabled
#      by the maintainer scripts, man pages
#   6. iotsec-dkms: dkms.conf with the package's version, the module source
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"
echo "TAP version 13"

for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || skip_all 6 "no $t (scripts/install-deps.sh)"
done
deb=$build/deb
if ! ls "$deb"/iotsecd_*.deb >/dev/null 2>&1; then
	echo "# building the packages (make deb)"
	mkdir -p "$build"
	timeout 900 make -s deb BUILD="$build" >"$build/deb.log" 2>&1 ||
		tail -n 20 "$build/deb.log" | sed 's/^/# /'
fi
pkg() { ls "$deb/$1"_*.deb 2>/dev/null | head -n 1; }
four() {
	local p
	for p in iotsec-dkms iotsecd libiotsec1 libiotsec-dev; do
		[ -n "$(pkg $p)" ] || { echo "# no $p"; return 1; }
	done
}
check "make deb: iotsec-dkms, iotsecd, libiotsec1, libiotsec-dev" four

lint() {
	local out
	four >/dev/null || return 1
	# lintian refuses nothing as root but says so; run it as nobody when we can
	out=$(cd /tmp && lintian -I --tag-display-limit 0 "$(pkg iotsec-dkms)" "$(pkg iotsecd)" \
		"$(pkg libiotsec1)" "$(pkg libiotsec-dev)" 2>&1 | grep -v 'root privileges')
	echo "$out" | sed 's/^/# /'
	! echo "$out" | grep -q '^[EW]: '
}
check "lintian: no error, no warning" lint

x=$(mktemp -d /tmp/iotsec-deb.XXXXXX)
trap 'rm -rf "$x"' EXIT
for p in iotsec-dkms iotsecd libiotsec1 libiotsec-dev; do
	f=$(pkg $p)
	[ -n "$f" ] || continue
	mkdir -p "$x/$p/DEBIAN"
	dpkg-deb -x "$f" "$x/$p" && dpkg-deb -e "$f" "$x/$p/DEBIAN"
done
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)

lib() {
	local so=$x/libiotsec1/usr/lib/$ma/libiotsec.so.1
	[ -f "$so" ] &&
	objdump -p "$so" | grep -q 'SONAME *libiotsec.so.1$' &&
	grep -q '^libiotsec.so.1 libiotsec1 #MINVER#' "$x/libiotsec1/DEBIAN/symbols" &&
	grep -q ' iotsec_send_event@LIBIOTSEC_1 ' "$x/libiotsec1/DEBIAN/symbols" &&
	grep -q '^libiotsec 1 libiotsec1' "$x/libiotsec1/DEBIAN/shlibs"
}
check "libiotsec1: SONAME libiotsec.so.1, symbols (LIBIOTSEC_1), shlibs" lib

dev() {
	local d=$x/libiotsec-dev
	[ "$(readlink "$d/usr/lib/$ma/libiotsec.so")" = libiotsec.so.1 ] &&
	[ -f "$d/usr/include/iotsec/iotsec.h" ] && [ -f "$d/usr/lib/$ma/libiotsec.a" ] &&
	grep -qx "libdir=/usr/lib/$ma" "$d/usr/lib/$ma/pkgconfig/libiotsec.pc" &&
	PKG_CONFIG_PATH="$d/usr/lib/$ma/pkgconfig" pkg-config --libs libiotsec | grep -q -- "-liotsec"
}
check "libiotsec-dev: libiotsec.so -> libiotsec.so.1, header, .a, pkg-config (multiarch libdir)" dev

daemon() {
	local d=$x/iotsecd
	grep -qx /etc/iotsec/iotsecd.yaml "$d/DEBIAN/conffiles" &&
	[ "$(stat -c %a "$d/etc/iotsec/iotsecd.yaml")" = 600 ] &&
	[ -x "$d/usr/sbin/iotsecd" ] && [ -x "$d/usr/bin/iotsecctl" ] &&
	[ -f "$d/lib/systemd/system/iotsecd.service" ] &&
	grep -q 'deb-systemd-helper enable .iotsecd.service' "$d/DEBIAN/postinst" &&
	[ -f "$d/usr/share/man/man8/iotsecd.8.gz" ] && [ -f "$d/usr/share/man/man8/iotsecctl.8.gz" ] &&
	[ -f "$d/usr/share/man/man5/iotsecd.yaml.5.gz" ] &&
	grep -q 'rm -rf /var/lib/iotsec' "$d/DEBIAN/postrm"
}
check "iotsecd: conffile (0600), unit enabled, man pages, purge removes the spool" daemon

dkms() {
	local d=$x/iotsec-dkms v conf
	v=$(dpkg-deb -f "$(pkg iotsec-dkms)" Version); v=${v%-*}
	conf=$d/usr/src/iotsec-$v/dkms.conf
	[ -f "$conf" ] && grep -qx "PACKAGE_VERSION=\"$v\"" "$conf" &&
	grep -q '^AUTOINSTALL="yes"' "$conf" &&
	[ -f "$d/usr/src/iotsec-$v/kmod/main.c" ] && [ -f "$d/usr/src/iotsec-$v/include/uapi/iotsec.h" ] &&
	grep -q 'dkms' "$d/DEBIAN/postinst" &&
	! find "$d/usr/src" -name '*.o' -o -name '*.ko' | grep -q .
}
check "iotsec-dkms: dkms.conf (the package's version, AUTOINSTALL), module source, no build output" dkms

echo "1..$n"
exit $((failed > 0))
