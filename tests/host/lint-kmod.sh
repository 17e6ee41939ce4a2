#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Static checks of the kernel module, one TAP case per check:
#
#   kmod/*, include/uapi/*  --checkpatch --strict--> one case per file
#   copy of the source      --make C=2 (sparse)---> no warning at all
#   copy of the source      --make, per flavour---> no warning at all
#                             of Debian's 6.1 headers: generic, cloud, rt
#   copy of the source      --make C=2 ARCH=arm64 / ARCH=arm with the cross
#                             compiler, against bookworm's arm64 / armmp
#                             headers (scripts/kernel-pkgs.sh), sparse
#                             included--> no warning at all, an ELF of the
#                             architecture
#
# Every build happens in a copy of the source in a temporary directory, so
# that the tree's own kmod/*.o stay as they are. A flavour whose headers are
# not installed (scripts/install-deps.sh installs all three) is skipped;
# IOTSEC_KHEADERS may name more directories holding linux-headers-*.
#
# Environment: IOTSEC_TOP (the tree), IOTSEC_BUILD (its build directory),
# KDIR (headers for the sparse run; default scripts/kdir.sh).
set -eu

top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# Run from `make -s check`, the kernel's make would inherit -s and print no
# CHECK lines, and the sparse case could not tell what sparse looked at.
unset MAKEFLAGS MFLAGS MAKELEVEL
build=${IOTSEC_BUILD:-$top/build}
checkpatch=$build/linux-source/scripts/checkpatch.pl
tmp=

cleanup() {
	[ -z "$tmp" ] || rm -rf "$tmp"
}
trap cleanup EXIT
tmp=$(mktemp -d /tmp/iotsec-lint.XXXXXX)

n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
# Show a log as TAP diagnostics, bounded.
diag() { sed -n '1,60p' "$1" | sed 's/^/# /'; }

# The files under check: sources and build files, not build products.
files=$(cd "$top" && find kmod include/uapi -type f \
	\( -name '*.[ch]' -o -name Kbuild -o -name Makefile \) ! -name '*.mod.c' | sort)

# The build flavours: generic, cloud, rt; the newest of each.
flavour_dir() {
	local roots="/usr/src ${IOTSEC_KHEADERS:-} $build/kheaders" r d
	for r in $roots; do
		# shellcheck disable=SC2086
		ls -d "$r"/linux-headers-*-$1 2>/dev/null
	done | grep -v -e '-common' |
		if [ "$1" = amd64 ]; then grep -v -e '-rt-' -e '-cloud-'; else cat; fi |
		while read -r d; do [ -f "$d/Makefile" ] && echo "$d"; done |
		sort -V | tail -n 1
}

# A fresh copy of the module's source: Kbuild at the top, kmod/, include/.
fresh_copy() {
	rm -rf "$1"
	mkdir -p "$1"
	cp -r "$top/Kbuild" "$top/kmod" "$top/include" "$1/"
	find "$1" \( -name '*.o' -o -name '*.ko' -o -name '*.mod' \
		-o -name '*.mod.c' -o -name '.*.cmd' -o -name modules.order \
		-o -name Module.symvers \) -delete
}

# Anything a compiler, sparse or modpost says counts.
noisy() {
	grep -E '(warning|error|WARNING|ERROR)[: ]' "$1" |
		grep -v 'Skipping BTF generation' || true
}

# not_ok_noisy TEXT BASE: a failure with the warnings of BASE.log (in
# BASE.noise), or the whole log when it has none
not_ok_noisy() {
	not_ok "$1"
	noisy "$2.log" >"$2.noise"
	diag "$2.noise"
	[ -s "$2.noise" ] || diag "$2.log"
}

echo "TAP version 13"
nfiles=$(echo "$files" | wc -w)
echo "1..$((nfiles + 6))"

if [ ! -f "$checkpatch" ]; then
	(cd "$top" && make -s kselftest >/dev/null 2>&1) || true
fi
for f in $files; do
	if [ ! -f "$checkpatch" ]; then
		not_ok "checkpatch --strict $f (no $checkpatch)"
		continue
	fi
	ignore=
	# compat.h is where DESIGN.md puts version checks: there, and only
	# there, comparing LINUX_VERSION_CODE is the point, not a defect.
	[ "$f" != kmod/compat.h ] ||
		ignore=--ignore=LINUX_VERSION_CODE,CONSTANT_COMPARISON
	# shellcheck disable=SC2086
	if (cd "$top" && perl "$checkpatch" --strict --no-tree --no-summary \
		--terse --show-types $ignore -f "$f") >"$tmp/cp.log" 2>&1; then
		if [ -s "$tmp/cp.log" ]; then
			not_ok "checkpatch --strict $f"
			diag "$tmp/cp.log"
		else
			ok "checkpatch --strict $f"
		fi
	else
		not_ok "checkpatch --strict $f"
		diag "$tmp/cp.log"
	fi
done

kdir=${KDIR:-$("$top/scripts/kdir.sh" 2>/dev/null || true)}
if ! command -v sparse >/dev/null; then
	not_ok "sparse (make C=2): sparse is not installed"
elif [ -z "$kdir" ]; then
	not_ok "sparse (make C=2): no kernel headers"
else
	fresh_copy "$tmp/sparse"
	# Sparse must have looked at every .c file, or the case proves nothing.
	unchecked=
	if make -C "$kdir" M="$tmp/sparse" C=2 modules >"$tmp/sparse.log" 2>&1; then
		for c in $files; do
			case $c in kmod/*.c) ;; *) continue ;; esac
			grep -q "CHECK .*/$c\$" "$tmp/sparse.log" ||
				unchecked="$unchecked $c"
		done
	fi
	[ -z "$unchecked" ] ||
		echo "sparse did not check (warning): $unchecked" >>"$tmp/sparse.log"
	if [ -z "$unchecked" ] && grep -q ' CHECK ' "$tmp/sparse.log" &&
	   [ -z "$(noisy "$tmp/sparse.log")" ]; then
		ok "sparse (make C=2) against $(basename "$kdir"): no warnings"
	else
		not_ok_noisy "sparse (make C=2) against $(basename "$kdir")" \
			"$tmp/sparse"
	fi
fi

for flavour in amd64 cloud-amd64 rt-amd64; do
	dir=$(flavour_dir "$flavour")
	if [ -z "$dir" ]; then
		skip "build against linux-headers-*-$flavour" \
		     "headers not installed (scripts/install-deps.sh)"
		continue
	fi
	fresh_copy "$tmp/$flavour"
	if make -C "$dir" M="$tmp/$flavour" modules >"$tmp/$flavour.log" 2>&1 &&
	   [ -f "$tmp/$flavour/kmod/iotsec.ko" ] &&
	   [ -z "$(noisy "$tmp/$flavour.log")" ]; then
		ok "build against $(basename "$dir"): no warnings"
	else
		not_ok_noisy "build against $(basename "$dir")" "$tmp/$flavour"
	fi
done

# The ARM builds: the module with the cross compiler against the
# architecture's headers, sparse over every file (C=2) as for amd64.
for arch in arm64 armhf; do
	case $arch in
	arm64) machine=AArch64 ;;
	armhf) machine=ARM ;;
	esac
	if ! kenv=$("$top/scripts/kernel-pkgs.sh" bookworm $arch 2>"$tmp/$arch.log"); then
		not_ok "$arch build: scripts/kernel-pkgs.sh bookworm $arch failed"
		diag "$tmp/$arch.log"
		continue
	fi
	dir=$(echo "$kenv" | sed -n 's/^KDIR=//p')
	karch=$(echo "$kenv" | sed -n 's/^KARCH=//p')
	cross=$(echo "$kenv" | sed -n 's/^CROSS_COMPILE=//p')
	if ! command -v "${cross}gcc" >/dev/null; then
		not_ok "$arch build: no ${cross}gcc (scripts/install-deps.sh)"
		continue
	fi
	sp=
	! command -v sparse >/dev/null || sp=C=2
	fresh_copy "$tmp/$arch"
	# shellcheck disable=SC2086
	if make -C "$dir" M="$tmp/$arch" ARCH="$karch" CROSS_COMPILE="$cross" \
		$sp modules >"$tmp/$arch.log" 2>&1 &&
	   [ -f "$tmp/$arch/kmod/iotsec.ko" ] &&
	   readelf -h "$tmp/$arch/kmod/iotsec.ko" | grep -q "Machine: *$machine\$" &&
	   { [ -z "$sp" ] || grep -q ' CHECK ' "$tmp/$arch.log"; } &&
	   [ -z "$(noisy "$tmp/$arch.log")" ]; then
		ok "build${sp:+ and sparse} against $(basename "$dir") ($karch): no warnings"
	else
		not_ok_noisy "build${sp:+ and sparse} against $(basename "$dir") ($karch)" "$tmp/$arch"
	fi
done
