#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The QEMU lab: boot Debian's kernel under software emulation with the host
# root shared read-only over 9p (a tmpfs overlay on top makes it writable
# for the guest) and run one command as root inside.
#
#   host                                guest (QEMU, -accel tcg)
#   /  --9p, read-only------------->    /host --overlay(+tmpfs)--> / (chroot)
#   $RUN --9p, writable------------->   /lab/out
#   (the caller's tree, wherever it is, appears at the same path inside)
#   $RUN/console.log  <--ttyS0---       kernel log (panic_on_warn=1)
#   stdout            <--ttyS1---       the command's output, then its status
#
# The lab's exit status is the command's, or non-zero when the guest kernel
# logged a BUG, WARNING, Oops or call trace, crashed or timed out.
#
# usage: lab.sh [options] [--] [command [args...]]
#   --kdir DIR        boot the kernel whose headers are in DIR
#   --kernel VER      boot /boot/vmlinuz-VER (default: from --kdir, else newest)
#   --vmlinuz FILE    boot this kernel image instead (its release is read
#                     from the --moddir name, or the image)
#   --moddir DIR      its modules tree (default /lib/modules/VER); the
#                     initramfs takes the 9p/virtio modules from there and
#                     the guest sees it as /lib/modules/VER (bind mount)
#   --suite SUITE     boot the default kernel of a Debian suite (bullseye,
#                     bookworm, trixie), fetched by scripts/kernel-pkgs.sh
#   A --kdir inside a tree scripts/kernel-pkgs.sh extracted
#   (CACHE/kernels/VER/root/usr/src/linux-headers-VER, CACHE as in
#   scripts/lib-cache.sh) boots that tree's
#   kernel and modules: the same --kdir builds and boots a kernel.
#   --insmod KO       insmod this module before the command (repeatable)
#   --modparams STR   parameters for the last --insmod
#   --early-insmod KO insmod this module from the guest's init, as soon as
#                     the host root is mounted, before the overlay, the
#                     mounts and the chroot the command runs in (a module
#                     loaded at boot: it sees the boot's own processes);
#                     KO must be under the host root as the guest sees it
#   --early-params P  its parameters, comma-separated (a=1,b=2)
#   --shell           an interactive shell instead of a command
#   --timeout SEC     give up after SEC seconds (default 900)
#   --out DIR         host directory seen as /lab/out in the guest and
#                     holding console.log (default: a new temporary one)
#   --mem MB --smp N  guest size (default 2048, 2)
#   --cmdline STR     extra kernel command line
#   --arch ARCH       amd64 (default), arm64 or armhf: the guest machine
#                     (qemu-system-aarch64 -M virt, cortex-a53; or
#                     qemu-system-arm -M virt, cortex-a15) booting an ARM
#                     kernel (--vmlinuz/--moddir, or a --kdir extracted by
#                     scripts/kernel-pkgs.sh), with the ARM root of
#                     scripts/arm-root.sh as its / (below); the default
#                     for a --kdir whose configuration is ARM64 or ARM
#   --share DIR       (ARM) also show the host's DIR at the same path
#
# On ARM the host's root cannot be the guest's (its binaries are amd64):
#
#   host                                guest (qemu-system-aarch64/-arm)
#   /  --9p, read-only------------->    /host
#   CACHE/arm-root/ARCH-*               /host/<it> --overlay--> / (chroot)
#   the tree, $PWD, the modules tree,   /host/<P> --overlay--> /<P> (each
#   --share DIRs and every absolute               at its own path)
#   path named in the command
#   $RUN  <--9p-->  /lab/out; console.log <--ttyAMA0; stdout <--hvc0
#   (virtio console: the virt machine has one UART)
#
# LAB_CPU overrides the emulated CPU (-cpu).
set -euo pipefail

die() { echo "lab: $*" >&2; exit 2; }

kdir='' kver='' vmlinuz='' moddir='' suite='' shell=0 timeout=900 out='' mem=2048 smp=2 extra=''
arch=amd64 arch_set='' smp_set=0
insmods=() shares=()
early_ko='' early_params=''
while [ $# -gt 0 ]; do
	case "$1" in
	--kdir) kdir=$2; shift 2 ;;
	--kernel) kver=$2; shift 2 ;;
	--vmlinuz) vmlinuz=$(realpath "$2"); shift 2 ;;
	--moddir) moddir=$(realpath "$2"); shift 2 ;;
	--suite) suite=$2; shift 2 ;;
	--insmod) insmods+=("$(realpath "$2")"); shift 2 ;;
	--modparams) [ ${#insmods[@]} -gt 0 ] || die "--modparams before --insmod"
		insmods[-1]="${insmods[-1]} $2"; shift 2 ;;
	--early-insmod) early_ko=$(realpath "$2"); shift 2 ;;
	--early-params) early_params=$2; shift 2 ;;
	--shell) shell=1; shift ;;
	--timeout) timeout=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--smp) smp=$2; smp_set=1; shift 2 ;;
	--cmdline) extra=$2; shift 2 ;;
	--arch) arch=$2; arch_set=1; shift 2 ;;
	--share) shares+=("$(realpath "$2")"); shift 2 ;;
	--) shift; break ;;
	-h|--help) sed -n '3,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) die "unknown option $1" ;;
	*) break ;;
	esac
done
[ $shell = 1 ] || [ $# -gt 0 ] || die "no command (or --shell) given"

top=$(cd "$(dirname "$0")/.." && pwd)
# The headers of an ARM kernel boot it on ARM.
if [ -z "$arch_set" ] && [ -n "$kdir" ]; then
	if grep -qs '^CONFIG_ARM64=y' "$kdir/include/config/auto.conf" "$kdir/.config"; then
		arch=arm64
	elif grep -qs '^CONFIG_ARM=y' "$kdir/include/config/auto.conf" "$kdir/.config"; then
		arch=armhf
	fi
fi
case "$arch" in
amd64|arm64|armhf) ;;
*) die "unknown --arch $arch (amd64, arm64 or armhf)" ;;
esac

if [ -n "$suite" ]; then
	kenv=$("$top/scripts/kernel-pkgs.sh" "$suite") || die "cannot fetch the $suite kernel"
	vmlinuz=$(echo "$kenv" | sed -n 's/^VMLINUZ=//p')
	moddir=$(echo "$kenv" | sed -n 's/^MODDIR=//p')
	kver=$(echo "$kenv" | sed -n 's/^KVER=//p')
fi
if [ -z "$kver" ] && [ -z "$vmlinuz" ] && [ -n "$kdir" ]; then
	# Debian's headers record the upstream version in kernel.release;
	# the directory names carry the release that /boot and /lib/modules use.
	case "$(realpath "$kdir")" in
	/lib/modules/*/build) kver=$(basename "$(dirname "$kdir")") ;;
	*/linux-headers-*) kver=$(basename "$(realpath "$kdir")")
		kver=${kver#linux-headers-} ;;
	*) kver=$(cat "$kdir/include/config/kernel.release" 2>/dev/null) ||
		die "$kdir has no include/config/kernel.release" ;;
	esac
	# Headers extracted with their kernel (scripts/kernel-pkgs.sh): the
	# image and modules of the same root.
	root=$(realpath "$kdir")
	root=${root%/usr/src/linux-headers-*}
	if [ "$root" != / ] && [ -f "$root/boot/vmlinuz-$kver" ]; then
		vmlinuz=$root/boot/vmlinuz-$kver
		for d in "$root/lib/modules/$kver" "$root/usr/lib/modules/$kver"; do
			[ -d "$d" ] && { moddir=$d; break; }
		done
	fi
fi
if [ -n "$vmlinuz" ] && [ -z "$kver" ]; then
	if [ -n "$moddir" ]; then
		kver=$(basename "$moddir")
	else
		kver=$(file -b "$vmlinuz" | sed -n 's/.*version \([^ ]*\) .*/\1/p')
	fi
fi
if [ -z "$kver" ]; then
	kver=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|/boot/vmlinuz-||' |
	       sort -V | tail -n 1)
fi
vmlinuz=${vmlinuz:-/boot/vmlinuz-$kver}
moddir=${moddir:-/lib/modules/$kver}
[ -r "$vmlinuz" ] || die "no $vmlinuz: install linux-image-$kver (scripts/install-deps.sh)"
[ -d "$moddir" ] || die "no $moddir"
armroot=
case "$arch" in
amd64)
	command -v qemu-system-x86_64 >/dev/null || die "no qemu-system-x86_64 (scripts/install-deps.sh)"
	busybox=$(command -v busybox) || die "no busybox (apt-get install busybox-static)"
	outdev=/dev/ttyS1
	;;
arm64|armhf)
	q="qemu-system-aarch64"
	[ "$arch" = arm64 ] || q="qemu-system-arm"
	command -v $q >/dev/null || die "no $q (scripts/install-deps.sh)"
	armroot=$("$top/scripts/arm-root.sh" "$arch") || die "no $arch root"
	# The initramfs's busybox is the root's (static, of the guest's ISA).
	busybox=$armroot/bin/busybox
	outdev=/dev/hvc0
	;;
esac

cache=${LAB_CACHE:-$top/build/lab}
mkdir -p "$cache"

# The initramfs: static busybox, the virtio/9p/overlay modules, and /init.
# Rebuilt when this script or the kernel changes.
stamp=$( (cat "$0" "$vmlinuz"; echo "$moddir $busybox") | sha256sum | cut -c1-16)
initrd=$cache/initramfs-$kver-$stamp.cpio.gz
if [ ! -f "$initrd" ]; then
	file "$busybox" | grep -q 'statically linked' ||
		die "$busybox is not static (apt-get install busybox-static)"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp"/{bin,mods,proc,sys,dev,host,rw,newroot,out}
	cp "$busybox" "$tmp/bin/busybox"
	# Each module after the modules it needs (modules.dep: 6.12's 9pnet
	# needs netfs), unpacked where compressed (busybox's insmod takes
	# plain modules only).
	add_mod() {
		local m=$1 line f d
		grep -qx "$m" "$tmp/mods/order" 2>/dev/null && return 0
		line=$(grep -E "(^|/)$m\.ko(\.xz|\.zst|\.gz)?:" "$moddir/modules.dep" 2>/dev/null | head -n 1) || true
		if [ -n "$line" ]; then
			f=$moddir/${line%%:*}
			for d in ${line#*:}; do
				d=$(basename "$d")
				add_mod "${d%%.ko*}"
			done
		else
			f=$(find "$moddir/kernel" \( -name "$m.ko" -o -name "$m.ko.xz" \
				-o -name "$m.ko.zst" -o -name "$m.ko.gz" \) | head -n 1)
		fi
		[ -n "$f" ] && [ -f "$f" ] || return 0
		case "$f" in
		*.xz) xz -dc "$f" >"$tmp/mods/$m.ko" ;;
		*.zst) zstd -qdc "$f" >"$tmp/mods/$m.ko" ;;
		*.gz) gzip -dc "$f" >"$tmp/mods/$m.ko" ;;
		*) cp "$f" "$tmp/mods/$m.ko" ;;
		esac
		echo "$m" >>"$tmp/mods/order"
	}
	for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
		 virtio_pci 9pnet 9pnet_virtio netfs fscache 9p overlay \
		 virtio-rng virtio_mmio virtio_console; do
		add_mod "$m"
	done
	cat >"$tmp/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /mods/order); do insmod /mods/$m.ko 2>/dev/null; done
fail() { echo "lab-init: $*" >@OUTDEV@; echo "@@LAB-RC=125@@" >@OUTDEV@; poweroff -f; }
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose host /host ||
	fail "cannot mount the host root"
# --early-insmod: the module loaded at boot, before anything else runs.
for a in $(cat /proc/cmdline); do
	case "$a" in
	lab.early=*) early=${a#lab.early=} ;;
	lab.early_params=*) early_params=$(echo "${a#lab.early_params=}" | tr , ' ') ;;
	esac
done
if [ -n "${early:-}" ]; then
	# shellcheck disable=SC2086
	insmod "/host$early" ${early_params:-} || fail "early insmod $early failed"
fi
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /out ||
	fail "cannot mount /lab/out"
# The guest's / is the host's, or (ARM) the root named in lab-root; the
# directories in lab-shares are the host's, each at its own path.
lower=/host
[ -s /out/lab-root ] && lower=/host$(cat /out/lab-root)
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=$lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	fail "cannot mount the overlay"
i=0
[ -f /out/lab-shares ] && while read -r p; do
	i=$((i + 1))
	mkdir -p /rw/s$i/upper /rw/s$i/work /newroot$p
	mount -t overlay overlay -o lowerdir=/host$p,upperdir=/rw/s$i/upper,workdir=/rw/s$i/work /newroot$p ||
		fail "cannot share $p"
done </out/lab-shares
mkdir -p /newroot/lab/out
mount --bind /out /newroot/lab/out || fail "cannot mount /lab/out"
mount -t proc proc /newroot/proc
mount -t sysfs sysfs /newroot/sys
mount -t devtmpfs devtmpfs /newroot/dev
mkdir -p /newroot/dev/pts /newroot/dev/shm
mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/dev/shm
mount -t tmpfs tmpfs /newroot/run
mount -t tracefs tracefs /newroot/sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /newroot/sys/kernel/debug 2>/dev/null
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
hostname iotsec-lab
ip link set lo up
if grep -q 'lab.shell=1' /proc/cmdline; then
	setsid cttyhack chroot /newroot /bin/bash /lab/out/cmd.sh
else
	stty -F @OUTDEV@ raw -echo 2>/dev/null
	chroot /newroot /bin/sh /lab/out/cmd.sh >@OUTDEV@ 2>&1 </dev/null
	echo "@@LAB-RC=$?@@" >@OUTDEV@
fi
sync
poweroff -f
# PID 1 must outlive the power-off, or the kernel panics.
while :; do sleep 1; done
INIT
	sed -i "s|@OUTDEV@|$outdev|g" "$tmp/init"
	chmod +x "$tmp/init"
	(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$initrd.tmp"
	mv "$initrd.tmp" "$initrd"
	rm -rf "$tmp"
	trap - EXIT
fi

if [ -z "$out" ]; then
	out=$(mktemp -d /tmp/iotsec-lab.XXXXXX)
fi
mkdir -p "$out"
out=$(realpath "$out")
console=$out/console.log
output=$out/output.log
: >"$console"
: >"$output"

# ARM: the guest's root, and the host directories it sees at their own
# paths (the tree, the working directory, the modules tree, the modules to
# insmod, --share, and each existing absolute path the command names, as a
# word or as VAR=PATH), parents before children, none inside another.
rm -f "$out/lab-root" "$out/lab-shares"
if [ -n "$armroot" ]; then
	echo "$armroot" >"$out/lab-root"
	cand=("$top" "$(realpath "$PWD")" "$moddir" "${shares[@]}")
	for m in "${insmods[@]}"; do cand+=("$(dirname "${m%% *}")"); done
	for a in "$@"; do
		a=${a#*=}
		case "$a" in /*) ;; *) continue ;; esac
		[ -e "$a" ] || continue
		a=$(realpath "$a")
		[ -d "$a" ] || a=$(dirname "$a")
		cand+=("$a")
	done
	printf '%s\n' "${cand[@]}" | sort -u | awk '
		$0 == "/" { next }
		$0 ~ "^/(bin|sbin|lib|lib32|lib64|usr|etc|proc|sys|dev|run|boot|lab)(/|$)" { next }
		{ for (i = 1; i <= n; i++) if (index($0 "/", kept[i] "/") == 1) next
		  kept[++n] = $0; print }' >"$out/lab-shares"
	# The modules tree's realpath is what cmd.sh binds.
	moddir=$(realpath "$moddir")
fi

# The guest runs cmd.sh from the shared directory: the command, in the
# caller's working directory, with the modules loaded first.
{
	echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	echo "export HOME=/root TERM=${TERM:-dumb} LAB=1 LAB_OUT=/lab/out"
	if [ "$moddir" != "/lib/modules/$kver" ]; then
		# The kernel's modules where modprobe looks for them.
		printf 'mkdir -p /lib/modules/%s && mount --bind %q /lib/modules/%s || exit 125\n' \
			"$kver" "$moddir" "$kver"
	fi
	printf 'cd %q || exit 125\n' "$PWD"
	for m in "${insmods[@]}"; do
		# shellcheck disable=SC2086
		printf 'insmod %s || { echo "lab: insmod %s failed"; exit 125; }\n' \
			"$m" "${m%% *}"
	done
	if [ $shell = 1 ]; then
		echo 'echo "iotsec lab: $(uname -r); the host root is read-only below a tmpfs overlay; exit to power off"'
		echo 'exec /bin/bash -i'
	else
		printf '%q ' "$@"
		echo
	fi
} >"$out/cmd.sh"

# LAB_ACCEL=tcg,thread=single tells a multi-threaded TCG artefact (code
# patched on one vCPU, stale on the other) from a real kernel problem.
# LAB_ICOUNT=1 makes the guest clock count executed instructions (QEMU
# -icount shift=0: 1 ns per instruction; sleep=off: an idle vCPU's clock
# jumps to its next timer at once rather than following the host's). A
# loop that never idles then lasts its instruction count, independent of
# the host's load; idle time (9p I/O) still counts, as whole timer waits
# (docs/benchmarks-kmod.md). icount needs single-threaded TCG; it runs one vCPU.
accel=${LAB_ACCEL:-tcg,thread=multi}
icount=()
if [ "${LAB_ICOUNT:-0}" != 0 ]; then
	# one vCPU: with two, the boot stalls in SMP bring-up for minutes
	accel=tcg,thread=single smp=1
	icount=(-icount "${LAB_ICOUNT_OPTS:-shift=0,sleep=off,align=off}")
fi
case "$arch" in
amd64)
	qemu=(qemu-system-x86_64 -machine q35 -cpu "${LAB_CPU:-max}")
	# no_timer_check: a host too loaded to tick the emulated timer in
	# time must not make the guest panic at boot ("IO-APIC + timer
	# doesn't work")
	append="console=ttyS0 no_timer_check"
	;;
arm64)
	qemu=(qemu-system-aarch64 -machine "virt,gic-version=3" -cpu "${LAB_CPU:-cortex-a53}")
	append="console=ttyAMA0"
	;;
armhf)
	# highmem=off: the armmp kernel (no LPAE) reaches no PCI window above
	# 4 GB. One vCPU unless --smp says otherwise: with two, 6.1's armmp
	# stopped for good after the last driver probe, before running /init.
	[ "$smp_set" = 1 ] || smp=1
	qemu=(qemu-system-arm -machine "virt,highmem=off" -cpu "${LAB_CPU:-cortex-a15}")
	append="console=ttyAMA0"
	;;
esac
qemu+=(-accel "$accel" "${icount[@]}"
      -smp "$smp" -m "$mem" -nodefaults -no-user-config -display none
      -no-reboot -nic none
      -device virtio-rng-pci
      -virtfs "local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap"
      -virtfs "local,path=$out,mount_tag=out,security_model=none"
      -kernel "$vmlinuz" -initrd "$initrd")
append="$append panic_on_warn=1 panic=-1 oops=panic rdinit=/init"
append="$append softlockup_panic=1 nokaslr $extra"
if [ -n "$early_ko" ]; then
	case "$early_ko$early_params" in
	*[[:space:]]*) die "--early-insmod/--early-params: no spaces" ;;
	esac
	append="$append lab.early=$early_ko"
	[ -z "$early_params" ] || append="$append lab.early_params=$early_params"
fi
# ARM: the command's output on a virtio console (the one UART is the
# kernel's console).
serial2=(-serial "file:$output")
if [ "$arch" != amd64 ]; then
	# shellcheck disable=SC2054 # commas of QEMU options
	serial2=(-device virtio-serial-pci -chardev "file,id=labout,path=$output"
		 -device virtconsole,chardev=labout)
fi

if [ $shell = 1 ]; then
	exec "${qemu[@]}" -append "$append lab.shell=1" \
		-chardev "stdio,id=con,signal=off,logfile=$console" \
		-serial chardev:con
fi

rc=0
timeout --kill-after=10 "$timeout" "${qemu[@]}" -append "$append" \
	-serial "file:$console" "${serial2[@]}" </dev/null &
qpid=$!
# Show the command's output as it comes; tail ends once QEMU has.
tail -n +1 -F --pid=$qpid "$output" 2>/dev/null | tr -d '\r' |
	grep --line-buffered -v '^@@LAB-RC=' || true
wait $qpid || rc=$?

status=$(tr -d '\r' <"$output" | sed -n 's/^@@LAB-RC=\([0-9]*\)@@$/\1/p' | tail -n 1)
if [ $rc = 124 ] || [ $rc = 137 ]; then
	echo "lab: timed out after ${timeout}s (kernel log: $console)" >&2
	status=124
elif [ -z "$status" ]; then
	echo "lab: the guest stopped before the command finished (qemu status $rc; kernel log: $console)" >&2
	status=125
fi

# Any sign of a kernel problem fails the run, whatever the command said.
if grep -Eq 'BUG:|WARNING:|Oops|Call Trace:|Kernel panic|general protection fault|UBSAN:|KASAN:|kernel BUG' "$console"; then
	echo "lab: the guest kernel reported a problem:" >&2
	grep -E -m 20 -B 2 -A 3 'BUG:|WARNING:|Oops|Call Trace:|Kernel panic|general protection fault|UBSAN:|KASAN:|kernel BUG' "$console" >&2 || true
	echo "lab: full kernel log: $console" >&2
	[ "$status" != 0 ] || status=126
fi
exit "$status"
