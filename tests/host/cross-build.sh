#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The ARM cross builds (mk/cross.mk), for arm64 and armhf each:
#   1. make ARCH=... CROSS_COMPILE=... builds (the module with -Werror
#      against bookworm's headers of the architecture, the forwarder, the
#      SDK, the VM test programs, the test modules and tools) into
#      BUILD/ARCH, with no compiler warning in its log
#   2. every output is an ELF of the architecture (readelf -h: class,
#      machine; armhf userspace: the hard-float EABI): iotsec.ko, the test
#      modules, iotsecd, iotsecctl, libiotsec.so.1, libiotsec.a's objects,
#      every tests/vm program and test tool
#   3. iotsec.ko's vermagic names the headers' release and the
#      architecture (what the ARM kernel checks at insmod)
#   4. the tree's own module build is untouched: no object of the
#      architecture under kmod/ or tests/modules/
# The builds are incremental (BUILD/ARCH is kept, as make keeps build/).
#
# Environment: IOTSEC_TOP (the tree), IOTSEC_BUILD (its build directory).
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${IOTSEC_BUILD:-$top/build}
cd "$top" || exit 1
. "$top/tests/lib/tap.sh"
unset MAKEFLAGS MFLAGS MAKELEVEL

echo "TAP version 13"
echo "1..8"

tmp=$(mktemp -d /tmp/iotsec-cross.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# elf_is FILE CLASS MACHINE [FLAG]: readelf -h of FILE (each object of an
# archive) says CLASS and MACHINE (and FLAG among its flags).
elf_is() {
	local f=$1 class=$2 machine=$3 flag=${4:-} hdr
	hdr=$(readelf -h "$f" 2>&1) || { echo "# $f: not an ELF file"; return 1; }
	if ! echo "$hdr" | grep -q "Class: *$class\$"; then
		echo "# $f: $(echo "$hdr" | grep -m1 'Class:' | tr -s ' ')"
		return 1
	fi
	if echo "$hdr" | grep 'Machine:' | grep -vq "Machine: *$machine\$"; then
		echo "# $f: $(echo "$hdr" | grep -m1 'Machine:' | tr -s ' ')"
		return 1
	fi
	if [ -n "$flag" ] && echo "$hdr" | grep 'Flags:' | grep -vq "$flag"; then
		echo "# $f: $(echo "$hdr" | grep -m1 'Flags:' | tr -s ' ')"
		return 1
	fi
}

for arch in arm64 armhf; do
	case $arch in
	arm64) karch=arm64 cross=aarch64-linux-gnu- class=ELF64 machine=AArch64
	       uflag='' vm=aarch64 ;;
	armhf) karch=arm cross=arm-linux-gnueabihf- class=ELF32 machine=ARM
	       uflag='hard-float ABI' vm=ARMv7 ;;
	esac
	out=$build/$arch
	if ! command -v "${cross}gcc" >/dev/null; then
		for c in "make ARCH=$karch" "$arch ELF outputs" "$arch vermagic" \
			 "$arch build leaves kmod/ alone"; do
			notok "$c # no ${cross}gcc (scripts/install-deps.sh)"
		done
		continue
	fi

	# 1. the build
	log=$tmp/$arch.log
	# make check's ARM prep (tests/run-kernels.sh) builds into the same
	# BUILD/ARCH beside the host tests: one make there at a time.
	mkdir -p "$out"
	if flock -w 1800 "$out.lock" \
		make -j2 ARCH=$karch CROSS_COMPILE=$cross BUILD="$out" >"$log" 2>&1 &&
	   ! grep -E '(warning|error)[: ]' "$log" | grep -qv 'Skipping BTF'; then
		ok "make ARCH=$karch CROSS_COMPILE=$cross into $out"
	else
		notok "make ARCH=$karch CROSS_COMPILE=$cross into $out"
		grep -E '(warning|error)[: ]' "$log" | head -n 20 | sed 's/^/# /'
		tail -n 20 "$log" | sed 's/^/# /'
	fi

	# 2. every output of the architecture
	bad=0 seen=0
	for f in "$out/iotsec.ko" "$out"/test-modules/*.ko; do
		seen=$((seen + 1))
		elf_is "$f" "$class" "$machine" || bad=$((bad + 1))
	done
	for f in "$out/iotsecd" "$out/iotsecctl" "$out/libiotsec.so.1" \
		 "$out"/tests/vm/* "$out"/tests/tools/*; do
		case $f in *.d|*.o) continue ;; esac
		[ -d "$f" ] && continue
		seen=$((seen + 1))
		elf_is "$f" "$class" "$machine" "$uflag" || bad=$((bad + 1))
	done
	seen=$((seen + 1))
	elf_is "$out/libiotsec.a" "$class" "$machine" || bad=$((bad + 1))
	nvm=$(ls "$top"/tests/vm/*.c | wc -l)
	nvm_out=$(find "$out/tests/vm" -maxdepth 1 -type f ! -name '*.d' 2>/dev/null | wc -l)
	if [ "$nvm_out" -lt "$nvm" ]; then
		echo "# $nvm tests/vm/*.c, $nvm_out programs in $out/tests/vm"
		bad=$((bad + 1))
	fi
	if [ $bad = 0 ]; then
		ok "$arch ELF outputs: $seen files $class $machine${uflag:+, $uflag}"
	else
		notok "$arch ELF outputs: $bad of $seen wrong or missing"
	fi

	# 3. vermagic
	kver=$(basename "$(sed -n 's/^KDIR=//p' <(scripts/kernel-pkgs.sh bookworm $arch))")
	kver=${kver#linux-headers-}
	vermagic=$(modinfo -F vermagic "$out/iotsec.ko" 2>/dev/null)
	case "$vermagic" in
	"$kver "*" $vm"*|"$kver "*" $vm") ok "$arch vermagic: $vermagic" ;;
	*) notok "$arch vermagic '$vermagic' (want $kver ... $vm)" ;;
	esac

	# 4. no object of the architecture in the tree's own module build
	# (kmod/, tests/modules/: where the amd64 make module writes)
	written=
	while read -r f; do
		if readelf -h "$f" 2>/dev/null | grep -q "Machine: *$machine\$"; then
			written="$written $f"
		fi
	done < <(find kmod tests/modules \( -name '*.o' -o -name '*.ko' \) 2>/dev/null)
	if [ -z "$written" ]; then
		ok "$arch build leaves kmod/ and tests/modules/ alone"
	else
		notok "$arch build wrote $machine objects into the tree"
		echo "$written" | tr ' ' '\n' | grep . | head -n 10 | sed 's/^/# /'
	fi
done
[ $failed = 0 ]
