#!/bin/bash
# SPDX-License-Identifier: MIT
#
# meta-iotsec without bitbake (it cannot run here: no network for sources).
# What can be checked offline is checked for real:
#
#   layer.conf                 collection, LAYERDEPENDS (mosquitto's layer),
#                              LAYERSERIES_COMPAT
#   recipes                    the variables each must set; SRC_URI files
#                              exist; LIC_FILES_CHKSUM md5s match the files
#   iotsec-mod, do_unpack      SRC_URI copied to $work/${BP}/... as the file
#                              fetcher does (subdir=${BP}), S=${BP}/kmod
#              do_compile      make KERNEL_SRC=... O=... in S (module.bbclass)
#              do_install      make modules_install MODLIB=$D/lib/modules/<ver>
#                              DEPMOD=echo, and the INSTALL_MOD_PATH form
#   iotsec,    do_compile/install with the recipe's EXTRA_OEMAKE
#   top level                  "make module" still builds with kmod/Makefile
#   source (issue 19)          a pinned git revision (SRCREV in this
#                              repository, unpacked with git archive as the
#                              git fetcher would), the externalsrc override,
#                              SkipRecipe when the layer is copied out without
#                              its checkout (the inc's anonymous python run
#                              with a stand-in for bitbake's d and bb)
#   iotsec                     libiotsec built and installed (-dev has its
#                              library), $(AR) used, no kdir.sh error, the
#                              sysvinit script started/reloaded/stopped
#   README                     yocto-check-layer's test_readme
#   qemuarm64, qemuarm         nothing amd64-specific in the recipes; the
#                              pinned revision's module built as
#                              module.bbclass does with the cross compiler
#                              against arm64 / armmp headers, the forwarder
#                              recipe's do_compile with the cross CC
#
# Every build happens in a temporary copy, never in the work tree.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
layer=$top/meta-iotsec

. "$top/tests/lib/tap.sh"
skip() { n=$((n + 1)); echo "ok $n $1 # SKIP $2"; }

tmp=$(mktemp -d /tmp/iotsec-yocto.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
log=$tmp/log
run() { "$@" >"$log" 2>&1 || { sed 's/^/# /' "$log" | tail -n 30; return 1; }; }

# bbvar FILE VAR: the value of VAR after the file's (and its required
# files') plain assignments: =, ?=, ??=, :=, +=, .=, :append, :prepend,
# with a few of bitbake.conf's variables expanded as OE sets them.
bbvar() {
	python3 - "$layer" "$1" "$2" <<'PY'
import os, re, sys
layer, path, want = sys.argv[1:]
base = os.path.basename(path)
pn, pv = (base[:-3].split("_") + ["1.0"])[:2] if base.endswith(".bb") else ("", "")
vals = {"PN": pn, "BPN": pn, "PV": pv, "prefix": "/usr", "sysconfdir": "/etc",
        "libdir": "/usr/lib", "bindir": "/usr/bin", "sbindir": "/usr/sbin",
        "nonarch_base_libdir": "/lib", "systemd_system_unitdir": "/lib/systemd/system",
        "LAYERDIR": layer}
vals["BP"] = "${BPN}-${PV}"
def expand(v, depth=0):
    if depth > 10:
        return v
    e = re.sub(r"\$\{([A-Za-z0-9_:-]+)\}",
               lambda m: vals.get(m.group(1), m.group(0)), v)
    return e if e == v else expand(e, depth + 1)
def parse(p):
    text = open(p).read().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"(require|include)\s+(\S+)", line)
        if m:
            f = expand(m.group(2))
            for d in (os.path.dirname(p), layer):
                if os.path.exists(os.path.join(d, f)):
                    parse(os.path.join(d, f))
                    break
            continue
        m = re.match(r'([A-Za-z0-9_${}:./-]+?)(:append|:prepend)?\s*(\?\?=|\?=|:=|\+=|\.=|=)\s*"(.*)"\s*$', line)
        if not m:
            continue
        var, suffix, op, v = m.groups()
        var = expand(var)
        v = " ".join(v.split())
        old = vals.get(var)
        if suffix == ":append" or op == ".=":
            vals[var] = (old or "") + v
        elif suffix == ":prepend":
            vals[var] = v + (old or "")
        elif op == "+=":
            vals[var] = ((old or "") + " " + v).strip()
        elif op in ("?=", "??=") and old is not None:
            pass
        else:
            vals[var] = v
parse(path)
v = vals.get(want)
if v is None:
    sys.exit(1)
print(expand(v))
PY
}
has() { # has FILE VAR WORD...: VAR is set and contains every WORD
	local v w
	v=$(bbvar "$1" "$2") || { echo "# $2 not set in ${1#$top/}"; return 1; }
	shift 2
	for w in "$@"; do
		[[ " $v " == *" $w "* ]] || { echo "# missing '$w' in: $v"; return 1; }
	done
}

echo "TAP version 13"

conf=$layer/conf/layer.conf
mod=$layer/recipes-kernel/iotsec-mod/iotsec-mod_0.1.bb
fwd=$layer/recipes-security/iotsec/iotsec_0.1.bb
pg=$layer/recipes-core/packagegroups/packagegroup-iotsec.bb

check "layer.conf: collection iotsec with pattern and priority" \
	bash -c "grep -q '^BBFILE_COLLECTIONS += \"iotsec\"' '$conf' &&
		 grep -q '^BBFILE_PATTERN_iotsec = \"^\${LAYERDIR}/\"' '$conf' &&
		 grep -q '^BBFILE_PRIORITY_iotsec = \"[0-9]*\"' '$conf'"
check "layer.conf: LAYERDEPENDS core, openembedded-layer, networking-layer (mosquitto)" \
	has "$conf" LAYERDEPENDS_iotsec core openembedded-layer networking-layer
check "layer.conf: LAYERSERIES_COMPAT kirkstone scarthgap styhead walnascar" \
	has "$conf" LAYERSERIES_COMPAT_iotsec kirkstone scarthgap styhead walnascar
bbfiles_ok() {
	local f found=0
	for f in "$layer"/recipes-*/*/*.bb; do found=$((found + 1)); done
	[ $found = 3 ] && grep -q 'recipes-\*/\*/\*.bb' "$conf"
}
check "BBFILES pattern finds the three recipes" bbfiles_ok
spdx_ok() {
	local f bad=0
	while IFS= read -r f; do
		head -n 3 "$f" | grep -q 'SPDX-License-Identifier:' || { echo "# no SPDX line: ${f#$top/}"; bad=1; }
	done < <(find "$layer" -type f)
	return $bad
}
check "every file in meta-iotsec carries an SPDX line" spdx_ok

# Where a recipe's paths point in the source tree: SRC_URI file:// entries
# are looked up in IOTSEC_SRCDIR (the tree above the layer), and
# ${WORKDIR}/${BP} is where they are unpacked (subdir=${BP}).
srcdir=$(cd "$layer/.." && pwd)
[ "$(bbvar "$conf" IOTSEC_SRCDIR)" = "$layer/.." ] || notok "IOTSEC_SRCDIR defaults to the tree above the layer"

daemon_landed=0
[ -f "$top/forwarder/daemon/iotsecd.c" ] && daemon_landed=1
inc=$layer/conf/include/iotsec-source.inc
srcrev=$(bbvar "$inc" IOTSEC_SRCREV)
srcrev_ok() {
	[[ $srcrev =~ ^[0-9a-f]{40}$ ]] || { echo "# IOTSEC_SRCREV '$srcrev' is not a commit id"; return 1; }
	git -C "$top" cat-file -e "$srcrev^{commit}" 2>/dev/null ||
		{ echo "# $srcrev is not in this repository"; return 1; }
	git -C "$top" merge-base --is-ancestor "$srcrev" HEAD ||
		{ echo "# $srcrev is not an ancestor of HEAD"; return 1; }
	git -C "$top" cat-file -e "$srcrev:kmod/Kbuild" && git -C "$top" cat-file -e "$srcrev:Makefile"
}
if git -C "$top" rev-parse -q --verify HEAD >/dev/null 2>&1; then
	check "source: IOTSEC_SRCREV pins a commit of this repository's history ($srcrev)" srcrev_ok
else
	skip "source: IOTSEC_SRCREV pins a commit" "not a git checkout"
fi
srcuri_check() { # srcuri_check RECIPE: a git URI pinned by SRCREV; file:// from the layer
	local r=$1 uri p git=0
	[ "$(bbvar "$r" SRCREV)" = "$srcrev" ] || { echo "# SRCREV is not IOTSEC_SRCREV"; return 1; }
	for uri in $(bbvar "$r" SRC_URI); do
		case $uri in
		git://*)
			[[ $uri == *";protocol=https"* && $uri == *";branch="* &&
			   $uri == *";destsuffix=$(bbvar "$r" BP)"* ]] ||
				{ echo "# $uri: protocol, branch or destsuffix=\${BP} missing"; return 1; }
			git=1 ;;
		file://*)
			p=${uri#file://}; p=${p%%;*}
			[ -e "$(dirname "$r")/files/$p" ] || { echo "# $p not in the layer"; return 1; } ;;
		*) echo "# $uri: neither the pinned git source nor a layer file"; return 1 ;;
		esac
	done
	[ $git = 1 ]
}
for r in "$mod" "$fwd"; do
	check "${r##*/}: SRC_URI is the pinned git revision (plus layer files)" srcuri_check "$r"
done
check "source: no file:// copy of the tree (FILESEXTRAPATHS into the checkout)" \
	bash -c "! grep -rq 'FILESEXTRAPATHS.*IOTSEC_SRCDIR' '$layer'"
extsrc_ok() {
	grep -q "^inherit \${@'externalsrc' if d.getVar('IOTSEC_EXTERNALSRC') == '1' else ''}" "$inc" &&
	[ "$(bbvar "$mod" EXTERNALSRC)" = "\${IOTSEC_SRCDIR}/kmod" ] &&
	[ "$(bbvar "$fwd" EXTERNALSRC)" = "\${IOTSEC_SRCDIR}" ] &&
	[ "$(bbvar "$conf" IOTSEC_SRCDIR)" = "$layer/.." ]
}
check "source: IOTSEC_EXTERNALSRC = \"1\" builds the checkout (externalsrc; kmod/ for the module)" extsrc_ok
# The inc's anonymous python, run as bitbake runs it, with a stand-in for
# d and bb: SkipRecipe when the checkout is missing, nothing otherwise.
anon() { # anon EXTERNALSRC SRCDIR: prints "skip: ..." or "build"
	python3 - "$inc" "$1" "$2" <<'PY'
import re, sys
inc, ext, src = sys.argv[1:]
text = open(inc).read()
body = re.search(r"^python \(\) \{\n(.*?)^\}", text, re.S | re.M).group(1)
class SkipRecipe(Exception): pass
class bb: pass
bb.parse = type("parse", (), {"SkipRecipe": SkipRecipe})
class D:
    def getVar(self, k):
        return {"IOTSEC_EXTERNALSRC": ext, "IOTSEC_SRCDIR": src}.get(k)
code = "def anon(d):\n" + "".join("    " + l + "\n" for l in body.splitlines())
ns = {"bb": bb}
exec(code, ns)
try:
    ns["anon"](D())
    print("build")
except SkipRecipe as e:
    print("skip:", e)
PY
}
copied_ok() {
	local out
	out=$(anon 1 "$tmp/copied-layer/..") || return 1
	echo "# copied out, externalsrc: $out"
	[[ $out == "skip: "*"not an iotsec checkout"* ]] || return 1
	out=$(anon 0 "$tmp/copied-layer/..") && [ "$out" = build ] || { echo "# pinned: $out"; return 1; }
	out=$(anon 1 "$top") && [ "$out" = build ] || { echo "# in the tree: $out"; return 1; }
}
check "source: a layer copied out of the tree skips only its recipes (SkipRecipe), builds the pinned revision by default" copied_ok

lic_check() { # lic_check RECIPE: LIC_FILES_CHKSUM entries match the files
	local r=$1 s e path md5 f sum params begin end
	s=$(bbvar "$r" S) || return 1
	s=${s/\$\{WORKDIR\}\/$(bbvar "$r" BP)/$srcdir}
	e=$(bbvar "$r" LIC_FILES_CHKSUM) || return 1
	for e in $e; do
		path=${e#file://}; path=${path%%;*}
		params=";${e#*;};"
		md5=$(sed -n 's/.*;md5=\([0-9a-f]*\);.*/\1/p' <<<"$params")
		begin=$(sed -n 's/.*;beginline=\([0-9]*\);.*/\1/p' <<<"$params")
		end=$(sed -n 's/.*;endline=\([0-9]*\);.*/\1/p' <<<"$params")
		f=$(realpath -m "$s/$path")
		[ -f "$f" ] || { echo "# $path: no such file ($f)"; return 1; }
		sum=$(sed -n "${begin:-1},${end:-\$}p" "$f" | md5sum | cut -d' ' -f1)
		[ "$sum" = "$md5" ] || { echo "# ${f#$srcdir/}: md5 $sum, recipe says $md5"; return 1; }
		echo "# ${f#$srcdir/}: md5 $sum"
	done
}
check "iotsec-mod: LICENSE GPL-2.0-only" has "$mod" LICENSE GPL-2.0-only
check "iotsec-mod: LIC_FILES_CHKSUM md5 matches LICENSES/preferred/GPL-2.0" lic_check "$mod"
check "iotsec: LICENSE MIT" has "$fwd" LICENSE MIT
check "iotsec: LIC_FILES_CHKSUM md5 matches LICENSES/preferred/MIT" lic_check "$fwd"
check "iotsec-mod: inherit module" grep -qx 'inherit module' "$mod"
check "iotsec-mod: RPROVIDES:\${PN} kernel-module-iotsec" has "$mod" 'RPROVIDES:iotsec-mod' kernel-module-iotsec
check "iotsec-mod: KERNEL_MODULE_AUTOLOAD iotsec" has "$mod" KERNEL_MODULE_AUTOLOAD iotsec
check "iotsec: DEPENDS libnl mosquitto openssl libyaml json-c" \
	has "$fwd" DEPENDS libnl mosquitto openssl libyaml json-c
check "iotsec: inherit systemd update-rc.d pkgconfig" grep -qx 'inherit systemd update-rc.d pkgconfig' "$fwd"
check "iotsec: SYSTEMD_SERVICE iotsecd.service" has "$fwd" 'SYSTEMD_SERVICE:iotsec' iotsecd.service
check "iotsec: CONFFILES /etc/iotsec/iotsecd.yaml" has "$fwd" 'CONFFILES:iotsec' /etc/iotsec/iotsecd.yaml
check "iotsec: do_install runs make install DESTDIR=\${D}" grep -q 'oe_runmake install DESTDIR=${D}' "$fwd"
check "packagegroup-iotsec: inherit packagegroup, RDEPENDS iotsec iotsec-mod" \
	bash -c "grep -qx 'inherit packagegroup' '$pg' && $(declare -f has bbvar); layer='$layer' top='$top' has '$pg' 'RDEPENDS:packagegroup-iotsec' iotsec iotsec-mod"

# do_unpack as the git fetcher does it: the pinned revision's tree in
# $work/${BP} (destsuffix), the layer's file:// entries in $work. Without git
# (a tarball of the tree), the committed files of the work tree.
unpack() { # unpack RECIPE WORKDIR
	local r=$1 w=$2 uri p bp
	bp=$(bbvar "$r" BP)
	mkdir -p "$w/$bp"
	if git -C "$top" cat-file -e "$srcrev^{commit}" 2>/dev/null; then
		git -C "$top" archive "$srcrev" | tar x -C "$w/$bp"
	else
		(cd "$top" && tar cf - --exclude=./build --exclude='*.o' --exclude='*.ko' .) | tar x -C "$w/$bp"
	fi
	for uri in $(bbvar "$r" SRC_URI); do
		case $uri in file://*) ;; *) continue ;; esac
		p=${uri#file://}; p=${p%%;*}
		cp -a "$(dirname "$r")/files/$p" "$w/"
	done
}

kdir=$("$top/scripts/kdir.sh" 2>/dev/null) && kdir=$(realpath "$kdir")
if [ -z "$kdir" ]; then
	skip "iotsec-mod: module.bbclass build" "no kernel headers (scripts/install-deps.sh)"
else
	# The release the kernel reports (Debian's kernel.release holds the
	# upstream version; Yocto's KERNEL_VERSION is the same as UTS_RELEASE).
	kver=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$kdir/include/generated/utsrelease.h")
	w=$tmp/iotsec-mod
	unpack "$mod" "$w"
	S=$w/$(bbvar "$mod" BP)/kmod
	D=$tmp/image-mod
	check "iotsec-mod: do_unpack gives S=\${WORKDIR}/\${BP}/kmod with ../include/uapi beside it" \
		test -f "$S/Kbuild" -a -f "$S/Makefile" -a -f "$S/../include/uapi/iotsec.h"
	# module_do_compile and module_do_install, with the host's compiler in
	# place of KERNEL_CC & co and the Debian headers as both the kernel
	# source and build directory.
	kmake() { (unset CFLAGS CPPFLAGS CXXFLAGS LDFLAGS; cd "$S" &&
		make -j2 KERNEL_SRC="$kdir" "$@"); }
	check "iotsec-mod: do_compile (make KERNEL_SRC=... KERNEL_PATH KERNEL_VERSION CC LD O=...)" \
		run kmake KERNEL_PATH="$kdir" KERNEL_VERSION="$kver" CC=gcc LD=ld AR=ar \
			OBJCOPY=objcopy STRIP=strip O="$kdir" KBUILD_EXTRA_SYMBOLS=
	built_ok() {
		[ -f "$S/iotsec.ko" ] && modinfo -F vermagic "$S/iotsec.ko" | grep -q "^$kver " &&
		[ "$(modinfo -F license "$S/iotsec.ko")" = GPL ] && [ -f "$S/Module.symvers" ]
	}
	check "iotsec-mod: kmod/iotsec.ko for $kver, license GPL, Module.symvers in \${B}" built_ok
	check "iotsec-mod: do_install (make modules_install DEPMOD=echo MODLIB=\${D}/lib/modules/$kver)" \
		run kmake DEPMOD=echo MODLIB="$D/lib/modules/$kver" INSTALL_FW_PATH="$D/lib/firmware" \
			CC=gcc LD=ld OBJCOPY=objcopy STRIP=strip O="$kdir" KBUILD_EXTRA_SYMBOLS= modules_install
	image_ok() {
		local kos
		kos=$(cd "$D" && find . -name '*.ko*' | sort)
		echo "# image: $kos"
		# kernel-module-split names the package after the file:
		# kernel-module-iotsec, what RPROVIDES and the packagegroup use.
		[ "$kos" = "./lib/modules/$kver/extra/iotsec.ko" ] &&
		cmp -s "$S/iotsec.ko" "$D/lib/modules/$kver/extra/iotsec.ko"
	}
	check "iotsec-mod: \${D} holds lib/modules/$kver/extra/iotsec.ko only" image_ok
	D=$tmp/root
	check "iotsec-mod: make KERNEL_SRC=... modules_install INSTALL_MOD_PATH=<root>" \
		run kmake DEPMOD=echo INSTALL_MOD_PATH="$D" modules_install
	check "iotsec-mod: INSTALL_MOD_PATH puts it in <root>/lib/modules/$kver/extra/iotsec.ko" \
		test -f "$D/lib/modules/$kver/extra/iotsec.ko"
	check "iotsec-mod: make KERNEL_SRC=... clean removes the module" \
		bash -c "cd '$S' && make KERNEL_SRC='$kdir' clean >/dev/null 2>&1 && [ ! -e iotsec.ko ]"

	# kbuild reads kmod/Kbuild, not kmod/Makefile: the top-level build is
	# unchanged.
	c=$tmp/top
	mkdir -p "$c"
	cp -a "$top/Makefile" "$top/Kbuild" "$top/kmod" "$top/include" "$top/mk" "$top/scripts" "$c/"
	find "$c/kmod" \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \) -delete
	check "top level: make module KDIR=... still builds kmod/iotsec.ko" \
		bash -c "cd '$c' && make module KDIR='$kdir' >'$log' 2>&1 && test -f kmod/iotsec.ko ||
			 { sed 's/^/# /' '$log' | tail -n 20; false; }"
fi

# MACHINE=qemuarm64 and qemuarm (issue 17): nothing in the layer or in what
# its recipes run (kmod/Makefile, the top Makefile's forwarder build) ties
# them to amd64, and the module builds the way module.bbclass builds it for
# those machines: ARCH exported (kernel-arch.bbclass), the cross compiler
# as KERNEL_CC/LD/AR, against bookworm's arm64 / armmp headers
# (scripts/kernel-pkgs.sh) as STAGING_KERNEL_DIR and _BUILDDIR.
amd64_free() {
	local hits
	hits=$(grep -nE 'x86|amd64|i[3-6]86|qemux86|COMPATIBLE_(HOST|MACHINE)|-m(64|32)\b|-march|-mtune' \
		-r "$layer" "$top/kmod/Makefile" "$top/kmod/Kbuild" 2>/dev/null)
	[ -z "$hits" ] || { echo "$hits" | sed 's/^/# /'; return 1; }
}
check "recipes: nothing amd64-specific for MACHINE=qemuarm64/qemuarm (layer, kmod/Makefile, kmod/Kbuild)" \
	amd64_free
for arch in arm64 armhf; do
	case $arch in
	arm64) machine=qemuarm64 elf=AArch64 vm=aarch64 ;;
	armhf) machine=qemuarm elf=ARM vm=ARMv7 ;;
	esac
	kenv=$("$top/scripts/kernel-pkgs.sh" bookworm $arch 2>/dev/null) || kenv=
	akdir=$(echo "$kenv" | sed -n 's/^KDIR=//p')
	karch=$(echo "$kenv" | sed -n 's/^KARCH=//p')
	cross=$(echo "$kenv" | sed -n 's/^CROSS_COMPILE=//p')
	if [ -z "$akdir" ] || ! command -v "${cross}gcc" >/dev/null; then
		notok "iotsec-mod MACHINE=$machine: no $arch headers or ${cross:-cross }gcc (scripts/install-deps.sh)"
		notok "iotsec-mod MACHINE=$machine: iotsec.ko"
		continue
	fi
	akver=$(sed -n 's/^#define UTS_RELEASE "\(.*\)"$/\1/p' "$akdir/include/generated/utsrelease.h")
	w=$tmp/iotsec-mod-$arch
	# The pinned IOTSEC_SRCREV's tree, as the git fetcher unpacks it: what
	# a qemuarm64 / qemuarm image builds is that revision, so it must hold
	# the ARM fixes (armhf's task_pt_regs() header, kmod/compat.h).
	unpack "$mod" "$w"
	S=$w/$(bbvar "$mod" BP)/kmod
	akmake() { (unset CFLAGS CPPFLAGS CXXFLAGS LDFLAGS; export ARCH=$karch CROSS_COMPILE=$cross;
		cd "$S" && make -j2 KERNEL_SRC="$akdir" "$@"); }
	check "iotsec-mod MACHINE=$machine: do_compile of IOTSEC_SRCREV ${srcrev:0:12} (ARCH=$karch, CC=${cross}gcc, O=<$arch headers>)" \
		run akmake KERNEL_PATH="$akdir" KERNEL_VERSION="$akver" CC="${cross}gcc" \
			LD="${cross}ld" AR="${cross}ar" OBJCOPY="${cross}objcopy" \
			STRIP="${cross}strip" O="$akdir" KBUILD_EXTRA_SYMBOLS=
	arm_ok() {
		[ -f "$S/iotsec.ko" ] &&
		readelf -h "$S/iotsec.ko" | grep -q "Machine: *$elf\$" &&
		modinfo -F vermagic "$S/iotsec.ko" | grep -q "^$akver .* $vm" ||
		{ echo "# $(readelf -h "$S/iotsec.ko" 2>&1 | grep Machine:) $(modinfo -F vermagic "$S/iotsec.ko" 2>&1)"; false; }
	}
	check "iotsec-mod MACHINE=$machine: iotsec.ko is $elf, vermagic $akver ... $vm" arm_ok

	# The forwarder recipe for the same machine: its EXTRA_OEMAKE and
	# do_compile with the toolchain in the environment, as OE exports it
	# (CC, AR; pkg-config reading the target's .pc files: here Debian's
	# multiarch ones instead of the recipe sysroot's).
	fw=$tmp/iotsec-$arch
	unpack "$fwd" "$fw"
	triplet=${cross%-}
	foemake=$(bbvar "$fwd" EXTRA_OEMAKE | sed "s|\${D}|$tmp/image-$arch|g; s|\${WORKDIR}|$fw|g")
	fcompile=$(sed -n '/^do_compile() {/,/^}/s/^\toe_runmake //p' "$fwd")
	# shellcheck disable=SC2086
	check "iotsec MACHINE=$machine: do_compile (make $fcompile) with CC=${cross}gcc from the environment" \
		bash -c "cd '$fw' && env CC='${cross}gcc' AR='${cross}ar' \
			PKG_CONFIG_LIBDIR=/usr/lib/$triplet/pkgconfig:/usr/share/pkgconfig PKG_CONFIG_PATH= \
			make -j2 $foemake $fcompile >'$log' 2>&1 || { sed 's/^/# /' '$log' | tail -n 20; false; }"
	fwd_arm_ok() {
		local f m
		for f in iotsecd iotsecctl libiotsec.so.1; do
			m=$(readelf -h "$fw/iotsec-build/$f" 2>/dev/null | sed -n 's/^ *Machine: *//p')
			[ "$m" = "$elf" ] || { echo "# $f: machine '$m'"; return 1; }
		done
	}
	check "iotsec MACHINE=$machine: iotsecd, iotsecctl and libiotsec.so.1 are $elf" fwd_arm_ok
done

# The forwarder recipe's do_compile and do_install with its EXTRA_OEMAKE.
w=$tmp/iotsec
unpack "$fwd" "$w"
S=$w/$(bbvar "$fwd" BP)
D=$tmp/image-fwd
oemake=$(bbvar "$fwd" EXTRA_OEMAKE | sed "s|\${D}|$D|g; s|\${WORKDIR}|$w|g")
compile=$(sed -n '/^do_compile() {/,/^}/s/^\toe_runmake //p' "$fwd")
# shellcheck disable=SC2086
check "iotsec: do_compile (make $compile) and do_install (make install DESTDIR) succeed" \
	bash -c "cd '$w' && make $oemake $compile >'$log' 2>&1 &&
		 make $oemake install DESTDIR='$D' >>'$log' 2>&1 ||
		 { sed 's/^/# /' '$log' | tail -n 20; false; }"
libs_ok() {
	local lib=$D/usr/lib
	[ -f "$lib/libiotsec.so.1" ] && [ "$(readlink "$lib/libiotsec.so")" = libiotsec.so.1 ] &&
	[ -f "$lib/libiotsec.a" ] && [ -f "$D/usr/include/iotsec/iotsec.h" ] &&
	grep -qx 'libdir=/usr/lib' "$lib/pkgconfig/libiotsec.pc" &&
	objdump -p "$lib/libiotsec.so.1" | grep -q 'SONAME *libiotsec.so.1$'
}
check "iotsec: \${D} has libiotsec.so.1 (SONAME), the .so link, .a, header and libiotsec.pc (-dev has its library)" libs_ok
ar_ok() {
	local out
	out=$(cd "$S" && make -B -n $oemake BUILD="$tmp/ar-build" AR=iotsec-test-ar \
		"$tmp/ar-build/obj/libcore.a" "$tmp/ar-build/libiotsec.a" 2>&1)
	[ "$(grep -c 'iotsec-test-ar rcs' <<<"$out")" = 2 ] && ! grep -qE '(^|[ ;&])ar rcs' <<<"$out"
}
check "Makefile: static libraries made with \$(AR), not plain ar" ar_ok
nokdir_ok() {
	local c=$tmp/nokdir err
	mkdir -p "$c" && cp -a "$S/." "$c/" && rm -rf "$c/scripts"
	err=$(cd "$c" && make -n $oemake -C "$c" forwarder 2>&1 >/dev/null)
	[ -z "$err" ] || { echo "# stderr: $err"; return 1; }
	# base.bbclass's do_configure runs "make clean" first
	err=$(cd "$c" && make $oemake -C "$c" clean 2>&1 >/dev/null)
	[ -z "$err" ] || { echo "# make clean, stderr: $err"; return 1; }
}
check "Makefile: no error from a missing scripts/ (kdir.sh, version.sh) with KDIR and VERSION given, in make forwarder and make clean" nokdir_ok
nowerror_ok() {
	local cmds
	cmds=$(bash -c "cd '$S' && make -B -n V=1 $oemake forwarder" 2>&1 | grep -- ' -c ')
	[ -n "$cmds" ] || { echo "# no compile commands (no forwarder sources yet)"; return 0; }
	! grep -q -- '-Werror' <<<"$cmds" && grep -q -- '-Wall' <<<"$cmds"
}
check "iotsec: the recipe compiles with the project's warnings but without -Werror" nowerror_ok
pkg_ok() {
	local unit conf exe
	unit=$(bbvar "$fwd" 'SYSTEMD_SERVICE:iotsec') conf=$(bbvar "$fwd" 'CONFFILES:iotsec')
	echo "# image: $(cd "$D" 2>/dev/null && find . ! -type d | tr '\n' ' ')"
	[ -f "$D/lib/systemd/system/$unit" ] && [ -f "$D$conf" ] && [ -x "$D/usr/sbin/iotsecd" ] &&
	[ ! -e "$D/usr/lib/modules-load.d" ] && [ ! -e "$D/etc/modules-load.d" ] || return 1
	# every program the unit runs is in the image
	for exe in $(sed -n 's/^Exec[A-Za-z]*=[-@+!:]*\([^ ]*\).*/\1/p' "$D/lib/systemd/system/$unit"); do
		case $exe in /bin/*|/usr/bin/kill) continue ;; esac
		[ -x "$D$exe" ] || { echo "# $unit runs $exe, not in the image"; return 1; }
	done
}
if [ $daemon_landed = 1 ]; then
	check "iotsec: \${D} has iotsecd, the SYSTEMD_SERVICE unit (its Exec programs too) and the CONFFILES config, no modules-load.d" pkg_ok
else
	skip "iotsec: \${D} has iotsecd, its unit and its config" "the daemon has not landed"
fi

# The sysvinit script: installed for sysvinit distros, and it works (a
# stand-in daemon that records its arguments and signals).
init=$layer/recipes-security/iotsec/files/iotsecd.init
check "iotsec: inherit update-rc.d, INITSCRIPT_NAME iotsecd, installed when DISTRO_FEATURES has sysvinit" \
	bash -c "grep -q '^inherit .*update-rc.d' '$fwd' && grep -q '^INITSCRIPT_NAME = \"iotsecd\"' '$fwd' &&
		 grep -q \"contains('DISTRO_FEATURES', 'sysvinit'\" '$fwd' &&
		 grep -q 'install -D -m 0755 \${UNPACKDIR}/iotsecd.init \${D}\${sysconfdir}/init.d/iotsecd' '$fwd'"
initd_ok() {
	local fake=$tmp/fake-iotsecd st=$tmp/initd e
	mkdir -p "$st"
	cat >"$fake" <<EOS
#!/bin/sh
echo "\$*" >>$st/args
case "\$1" in --check-config) exit 0 ;; esac
trap 'echo HUP >>$st/args' HUP
trap 'echo TERM >>$st/args; exit 0' TERM
while :; do sleep 1; done
EOS
	chmod +x "$fake"
	e="IOTSECD=$fake IOTSECD_CONFIG=$st/c.yaml IOTSECD_PIDFILE=$st/pid IOTSECD_RUNDIR=$st/run IOTSECD_STATEDIR=$st/state"
	sh -n "$init" &&
	env $e sh "$init" start >/dev/null && env $e sh "$init" status >/dev/null &&
	[ -d "$st/run" ] && [ "$(stat -c %a "$st/state")" = 700 ] &&
	grep -q "^--foreground --config $st/c.yaml" "$st/args" &&
	env $e sh "$init" reload >/dev/null && sleep 2 && grep -q '^HUP' "$st/args" &&
	env $e sh "$init" stop >/dev/null && grep -q '^TERM' "$st/args" &&
	! env $e sh "$init" status >/dev/null && [ ! -e "$st/pid" ] ||
		{ echo "# args: $(tr '\n' '|' <"$st/args" 2>/dev/null)"; env $e sh "$init" stop >/dev/null 2>&1; return 1; }
}
check "iotsecd.init: start (dirs, --check-config, --foreground), status, reload (HUP), stop (TERM)" initd_ok

# yocto-check-layer's test_readme (scripts/lib/checklayer/cases/common.py):
# a README, not empty, that names a maintainer, how to send patches, and an
# email address (unless it only points at another README).
readme_ok() {
	python3 - "$layer/README.md" <<'PY'
import re, sys
data = open(sys.argv[1]).read()
assert data
if not re.search("README", data, re.IGNORECASE):
    assert "maintainer" in data.lower(), "no maintainer"
    assert "patch" in data.lower(), "no patch"
    assert re.compile(r"[^@]+@[^@]+").match(data), "no email"
PY
}
check "README: yocto-check-layer test_readme (maintainer, patches, email)" readme_ok

echo "1..$n"
exit $((failed > 0))
