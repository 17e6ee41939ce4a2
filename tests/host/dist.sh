#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make dist: the release tarball (mk/dist.mk).
#   1. two runs (different umask, different mtimes in the checkout) give the
#      same sha256
#   2. it holds exactly the committed files plus VERSION (no build output)
#   3. owner/group 0, every mtime the commit time, modes 0644/0755
#   4. its name and VERSION are scripts/version.sh's answer
#   5. unpacked alone (no .git, no other file) it builds the forwarder, the
#      SDK and the host unit tests (the C tests of tests/host, without
#      sanitizers to keep this to a few minutes), which all pass, and
#      iotsecd --version prints the tarball's version
# The full make check-host (scripts tests, schemas, brokers) is not run from
# the tarball: it takes most of half an hour.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"
echo "TAP version 13"

if ! git rev-parse --verify -q HEAD >/dev/null 2>&1; then
	skip_all 5 "not a git checkout (make dist archives HEAD)"
fi
tmp=$(mktemp -d /tmp/iotsec-dist.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
ver=$(scripts/version.sh)

(umask 022; make -s dist BUILD="$tmp/a" >"$tmp/a.log" 2>&1)
touch Makefile README.md 2>/dev/null || true
(umask 077; make -s dist BUILD="$tmp/b" >"$tmp/b.log" 2>&1)
ta=$tmp/a/dist/iotsec-$ver.tar.gz
tb=$tmp/b/dist/iotsec-$ver.tar.gz
same() {
	[ -f "$ta" ] && [ -f "$tb" ] || { cat "$tmp/a.log" "$tmp/b.log"; return 1; }
	local a b
	a=$(sha256sum <"$ta"); b=$(sha256sum <"$tb")
	echo "# sha256 ${a%% *}"
	[ "$a" = "$b" ]
}
check "two make dist runs give the same bytes" same

contents() {
	tar tzf "$ta" | grep -v '/$' | sed "s|^iotsec-$ver/||" | sort >"$tmp/tar.list"
	{ git ls-files; echo VERSION; } | sort >"$tmp/git.list"
	diff "$tmp/git.list" "$tmp/tar.list" | head -n 20 | sed 's/^/# /'
	cmp -s "$tmp/git.list" "$tmp/tar.list"
}
check "holds exactly the committed files and VERSION" contents

meta() {
	local ct bad
	ct=$(git log -1 --format=%ct HEAD)
	bad=$(tar tvzf "$ta" --full-time --numeric-owner | awk -v ct="$(date -u -d "@$ct" '+%Y-%m-%d %H:%M:%S')" '
		$2 != "0/0" { print "owner", $0; next }
		($4 " " $5) != ct { print "mtime", $0; next }
		$1 !~ /^(-rw-r--r--|-rwxr-xr-x|drwxr-xr-x|lrwxrwxrwx)$/ { print "mode", $0 }' | head -n 5)
	[ -z "$bad" ] || { echo "$bad" | sed 's/^/# /'; return 1; }
}
TZ=UTC check "owner 0/0, mtimes the commit time, modes 644/755" meta

check "named and versioned $ver (scripts/version.sh)" \
	test "$(tar xzOf "$ta" "iotsec-$ver/VERSION")" = "$ver"

alone() {
	local src=$tmp/alone/iotsec-$ver t rc=0 ran=0
	mkdir -p "$tmp/alone"
	tar xzf "$ta" -C "$tmp/alone" || return 1
	[ ! -e "$src/.git" ] || return 1
	[ "$(cd "$src" && scripts/version.sh)" = "$ver" ] || { echo "# version.sh in the tarball"; return 1; }
	local tests
	tests=$(cd "$src" && ls tests/host/*.c | sed 's|^tests/|build/tests/|; s|\.c$||')
	# shellcheck disable=SC2086
	if ! (cd "$src" && timeout 900 make -j2 SAN=0 KDIR=/nonexistent forwarder sdk $tests) \
		>"$tmp/alone.log" 2>&1; then
		tail -n 20 "$tmp/alone.log" | sed 's/^/# /'
		return 1
	fi
	"$src/build/iotsecd" --version 2>&1 | grep -qF "$ver" ||
		{ echo "# iotsecd --version: $("$src/build/iotsecd" --version 2>&1)"; return 1; }
	for t in $tests; do
		(cd "$src" && IOTSEC_TOP=$src timeout 300 "$t") >"$tmp/t.log" 2>&1 ||
			{ rc=1; echo "# $t failed:"; tail -n 10 "$tmp/t.log" | sed 's/^/# /'; }
		ran=$((ran + 1))
	done
	echo "# $ran host unit tests from the tarball"
	[ "$ran" -gt 0 ] && [ "$rc" = 0 ]
}
check "unpacked alone: builds and passes the host unit tests" alone

echo "1..$n"
exit $((failed > 0))
