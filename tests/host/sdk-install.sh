#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The SDK as a device maker gets it: installed into a prefix, found with
# pkg-config, the example built against it (shared and static), and the
# shared library exporting the public API only.
#
#   make install-sdk PREFIX=tmp --> pkg-config libiotsec --> cc send_event.c
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$top/tests/lib/tap.sh"

echo "TAP version 13"
echo "1..6"
if make -C "$top" -s BUILD="$build" PREFIX="$tmp/prefix" install-sdk \
	>"$tmp/install.log" 2>&1 &&
   [ -f "$tmp/prefix/include/iotsec/iotsec.h" ] &&
   [ -f "$tmp/prefix/lib/libiotsec.so.1" ] &&
   [ -f "$tmp/prefix/lib/pkgconfig/libiotsec.pc" ]; then
	ok "make install-sdk installs header, libraries and libiotsec.pc"
else
	notok "make install-sdk"
	sed 's/^/# /' "$tmp/install.log" | tail -n 20
fi

export PKG_CONFIG_PATH=$tmp/prefix/lib/pkgconfig
if cc -Wall -Wextra -Werror -o "$tmp/send_event" "$top/examples/send_event.c" \
	$(pkg-config --cflags --libs libiotsec) \
	-Wl,-rpath,"$tmp/prefix/lib" 2>"$tmp/cc.log" &&
   "$tmp/send_event" -s "$tmp/none.sock" -c T 2>"$tmp/run.log";
   [ $? = 1 ] && grep -q "cannot reach iotsecd" "$tmp/run.log"; then
	ok "the example builds with pkg-config and runs (no daemon: clean error)"
else
	notok "the example builds with pkg-config and runs"
	cat "$tmp/cc.log" "$tmp/run.log" 2>/dev/null | sed 's/^/# /' | tail -n 20
fi

if cc -o "$tmp/send_event_static" "$top/examples/send_event.c" \
	$(pkg-config --cflags libiotsec) "$tmp/prefix/lib/libiotsec.a" \
	2>"$tmp/cc2.log" && ! ldd "$tmp/send_event_static" | grep -q libiotsec; then
	ok "the example links the static library"
else
	notok "the example links the static library"
	sed 's/^/# /' "$tmp/cc2.log" | tail -n 20
fi

syms=$(nm -D --defined-only "$tmp/prefix/lib/libiotsec.so.1" | awk '{print $3}' |
	grep -v '^LIBIOTSEC_1$' | sed 's/@.*//' | sort | tr '\n' ' ')
want="iotsec_close iotsec_last_error iotsec_open iotsec_send_custom iotsec_send_event iotsec_set_timeout "
if [ "$syms" = "$want" ]; then
	ok "libiotsec.so.1 exports exactly the public API, versioned LIBIOTSEC_1"
else
	notok "libiotsec.so.1 exports: $syms"
fi

needed=$(readelf -d "$tmp/prefix/lib/libiotsec.so.1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
soname=$(readelf -d "$tmp/prefix/lib/libiotsec.so.1" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
if [ "$needed" = "libc.so.6 " ] && [ "$soname" = libiotsec.so.1 ]; then
	ok "libiotsec.so.1 has its soname and needs libc only"
else
	notok "libiotsec.so.1: soname '$soname', needs '$needed'"
fi

if ! command -v c++ >/dev/null; then
	ok "the header builds as C++ # SKIP no C++ compiler"
elif printf '#include <iotsec/iotsec.h>\nint main() { struct iotsec *h; return iotsec_open(&h, nullptr) == 0; }\n' \
	>"$tmp/t.cc" && c++ -Wall -Wextra -Werror -o "$tmp/tcc" "$tmp/t.cc" \
	$(pkg-config --cflags --libs libiotsec) 2>"$tmp/cxx.log"; then
	ok "the header builds and links as C++"
else
	notok "the header builds and links as C++"
	sed 's/^/# /' "$tmp/cxx.log" | tail -n 10
fi
