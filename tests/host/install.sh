#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make install / make uninstall into a temporary DESTDIR.
#
#   copy of the tree (Makefile, mk/, include/, LICENSES/)
#     + fixtures for what has not landed yet: forwarder/daemon/iotsecd.c and
#       cli/iotsecctl.c (built for real), include/iotsec/iotsec.h,
#       build/libiotsec.so*, systemd/iotsecd.service, config/iotsecd.yaml,
#       man/iotsecd.8
#   make install DESTDIR=$d PREFIX=/usr   -> check every path and mode
#   edit $d/etc/iotsec/iotsecd.yaml; make install -> kept, .new written
#   make uninstall                        -> only the edited config left
#   PREFIX=/usr/local (default), the Yocto recipe's variables, the real tree
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}

. "$top/tests/lib/tap.sh"

tmp=$(mktemp -d /tmp/iotsec-install.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
run() { "$@" >"$log" 2>&1 || { sed 's/^/# /' "$log" | tail -n 30; return 1; }; }

echo "TAP version 13"

src=$tmp/src
mkdir -p "$src"
cp -a "$top/Makefile" "$top/mk" "$top/include" "$top/LICENSES" "$src/"
mkdir -p "$src/forwarder/daemon" "$src/forwarder/cli" "$src/include/iotsec" "$src/build" "$src/systemd" \
	"$src/config" "$src/man"
for p in daemon/iotsecd cli/iotsecctl; do
	printf '// SPDX-License-Identifier: MIT\nint main(void) { return 0; }\n' \
		>"$src/forwarder/$p.c"
done
[ -n "$(ls "$src/include/iotsec/" 2>/dev/null)" ] ||
	printf '/* SPDX-License-Identifier: MIT */\nint iotsec_fixture(void);\n' \
		>"$src/include/iotsec/iotsec.h"
printf '// SPDX-License-Identifier: MIT\nint iotsec_fixture(void) { return 1; }\n' >"$tmp/lib.c"
cc -shared -fPIC -Wl,-soname,libiotsec.so.0 -o "$src/build/libiotsec.so.0.1.0" "$tmp/lib.c"
ln -s libiotsec.so.0.1.0 "$src/build/libiotsec.so.0"
ln -s libiotsec.so.0 "$src/build/libiotsec.so"
cat >"$src/systemd/iotsecd.service" <<'UNIT'
# SPDX-License-Identifier: MIT
[Service]
ExecStartPre=/usr/sbin/iotsecd --check-config /etc/iotsec/iotsecd.yaml
ExecStart=@SBINDIR@/iotsecd --config @CONFDIR@/iotsecd.yaml
UNIT
printf '# SPDX-License-Identifier: MIT\nhub: none\n' >"$src/config/iotsecd.yaml"
printf '.\\" SPDX-License-Identifier: MIT\n.TH IOTSECD 8\n' >"$src/man/iotsecd.8"

d=$tmp/d
mk() { make -C "$src" --no-print-directory "$@"; }
check "make install DESTDIR PREFIX=/usr builds and installs" run mk install DESTDIR="$d" PREFIX=/usr

h=
mode() { [ "$(stat -c %a "$1" 2>/dev/null)" = "$2" ] || { echo "# $1: mode $(stat -c %a "$1" 2>&1), want $2"; return 1; }; }
bins_ok() { mode "$d/usr/sbin/iotsecd" 755 && mode "$d/usr/bin/iotsecctl" 755 &&
	    [ ! -e "$d/usr/bin/iotsecd" ] && "$d/usr/sbin/iotsecd"; }
check "iotsecd in /usr/sbin, iotsecctl in /usr/bin, 0755, runnable" bins_ok

sdk_ok() {
	mode "$d/usr/include/iotsec/iotsec.h" 644 &&
	[ -L "$d/usr/lib/libiotsec.so" ] && [ -L "$d/usr/lib/libiotsec.so.0" ] &&
	[ "$(readlink "$d/usr/lib/libiotsec.so")" = libiotsec.so.0 ] &&
	mode "$d/usr/lib/libiotsec.so.0.1.0" 644
}
check "SDK: header, library with its soname links kept as links" sdk_ok

pc_ok() {
	local flags
	grep -qx 'prefix=/usr' "$d/usr/lib/pkgconfig/libiotsec.pc" || return 1
	flags=$(PKG_CONFIG_LIBDIR="$d/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$d" \
		pkg-config --cflags --libs libiotsec) || return 1
	echo "# pkg-config: $flags"
	[[ $flags == *"-I$d/usr/include"* && $flags == *"-L$d/usr/lib"* && $flags == *-liotsec* ]] || return 1
	# and a program links against the installed SDK with those flags
	h=$(cd "$d/usr/include/iotsec" && ls | head -n 1)
	printf '#include <iotsec/%s>\nint iotsec_fixture(void);\nint main(void) { return !iotsec_fixture(); }\n' \
		"$h" >"$tmp/use.c"
	# shellcheck disable=SC2086
	cc -o "$tmp/use" "$tmp/use.c" $flags && LD_LIBRARY_PATH="$d/usr/lib" "$tmp/use"
}
check "libiotsec.pc generated for /usr; a program builds and runs with its flags" pc_ok

unit_ok() {
	mode "$d/usr/lib/systemd/system/iotsecd.service" 644 &&
	grep -qx 'ExecStart=/usr/sbin/iotsecd --config /etc/iotsec/iotsecd.yaml' \
		"$d/usr/lib/systemd/system/iotsecd.service"
}
check "systemd unit in /usr/lib/systemd/system with @SBINDIR@/@CONFDIR@ filled in" unit_ok
etc_ok() {
	run mk install DESTDIR="$tmp/etc" PREFIX=/usr SYSCONFDIR=/etc/opt &&
	grep -qx 'ExecStartPre=/usr/sbin/iotsecd --check-config /etc/opt/iotsec/iotsecd.yaml' \
		"$tmp/etc/usr/lib/systemd/system/iotsecd.service" &&
	[ -f "$tmp/etc/etc/opt/iotsec/iotsecd.yaml" ]
}
check "SYSCONFDIR moves the config and the unit's config path with it" etc_ok
check "modules-load.d/iotsec.conf loads iotsec" \
	grep -qx iotsec "$d/usr/lib/modules-load.d/iotsec.conf"
check "man page in share/man/man8" test -f "$d/usr/share/man/man8/iotsecd.8"
conf_ok() { mode "$d/etc/iotsec/iotsecd.yaml" 600 && cmp -s "$src/config/iotsecd.yaml" "$d/etc/iotsec/iotsecd.yaml"; }
check "default config /etc/iotsec/iotsecd.yaml, mode 0600" conf_ok

echo "hub: mine" >>"$d/etc/iotsec/iotsecd.yaml"
cp "$d/etc/iotsec/iotsecd.yaml" "$tmp/edited"
keep_ok() {
	run mk install DESTDIR="$d" PREFIX=/usr &&
	cmp -s "$tmp/edited" "$d/etc/iotsec/iotsecd.yaml" &&
	cmp -s "$src/config/iotsecd.yaml" "$d/etc/iotsec/iotsecd.yaml.new"
}
check "reinstall keeps an edited config and writes iotsecd.yaml.new" keep_ok

unin_ok() {
	local left
	run mk uninstall DESTDIR="$d" PREFIX=/usr || return 1
	left=$(cd "$d" && find . ! -type d | sort)
	echo "# left after uninstall: $left"
	[ "$left" = ./etc/iotsec/iotsecd.yaml ]
}
check "make uninstall removes everything but the edited config" unin_ok
unin2_ok() {
	rm -rf "$d" && run mk install DESTDIR="$d" PREFIX=/usr &&
	run mk uninstall DESTDIR="$d" PREFIX=/usr &&
	[ -z "$(cd "$d" && find . ! -type d)" ]
}
check "install then uninstall with an untouched config leaves no file" unin2_ok

d=$tmp/local
local_ok() {
	run mk install DESTDIR="$d" || return 1
	[ -x "$d/usr/local/sbin/iotsecd" ] && [ -x "$d/usr/local/bin/iotsecctl" ] &&
	[ -f "$d/usr/local/lib/pkgconfig/libiotsec.pc" ] &&
	grep -qx 'ExecStart=/usr/local/sbin/iotsecd --config /etc/iotsec/iotsecd.yaml' \
		"$d/usr/local/lib/systemd/system/iotsecd.service" &&
	grep -qx 'ExecStartPre=/usr/local/sbin/iotsecd --check-config /etc/iotsec/iotsecd.yaml' \
		"$d/usr/local/lib/systemd/system/iotsecd.service" &&
	[ -f "$d/etc/modules-load.d/iotsec.conf" ] && [ -f "$d/etc/iotsec/iotsecd.yaml" ] &&
	[ -z "$(cd "$d" && find . ! -type d ! -path './usr/local/*' ! -path './etc/*')" ]
}
check "default PREFIX=/usr/local: programs and units below /usr/local (ExecStart paths follow), config and modules-load.d in /etc" local_ok

# What meta-iotsec's iotsec recipe passes (EXTRA_OEMAKE and do_install).
d=$tmp/yocto
yocto_ok() {
	run mk install DESTDIR="$d" VERSION=0.1 SAN=0 PREFIX=/usr SYSCONFDIR=/etc \
		LIBDIR=/usr/lib SYSTEMDUNITDIR=/lib/systemd/system INSTALL_MODULES_LOAD=0 &&
	[ -f "$d/lib/systemd/system/iotsecd.service" ] && [ -f "$d/etc/iotsec/iotsecd.yaml" ] &&
	[ ! -e "$d/usr/lib/modules-load.d" ] && grep -qx 'Version: 0.1' "$d/usr/lib/pkgconfig/libiotsec.pc"
}
check "with meta-iotsec's variables: unit in /lib/systemd/system, no modules-load.d, pc Version 0.1" yocto_ok

# The real tree installs what it has today, and uninstalls it.
d=$tmp/real
real_ok() {
	run make -C "$top" --no-print-directory install DESTDIR="$d" PREFIX=/usr || return 1
	echo "# the tree installs today:"; (cd "$d" && find . ! -type d | sed 's/^/#   /')
	[ -f "$d/usr/lib/modules-load.d/iotsec.conf" ] &&
	run make -C "$top" --no-print-directory uninstall DESTDIR="$d" PREFIX=/usr &&
	[ -z "$(cd "$d" && find . ! -type d)" ]
}
check "the real tree: make install then uninstall, nothing left" real_ok

echo "1..$n"
exit $((failed > 0))
