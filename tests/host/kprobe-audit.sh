#!/bin/bash
# SPDX-License-Identifier: MIT
#
# scripts/kprobe-audit.py on a made-up module and kernel source: it finds
# the kprobes (plain, kretprobe, the designated-initialiser form, syscall
# wrappers), follows a handler into the handler it calls with its regs,
# tells an argument whose cast differs from the prototype, and in `check`
# fails a required symbol missing from kallsyms while an optional one is
# reported unavailable. Then the real kmod/ against Debian's 6.1 source:
# every argument read matches.
set -u
top=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top/tests/lib/tap.sh"
audit=$top/scripts/kprobe-audit.py
tmp=$(mktemp -d /tmp/iotsec-kaudit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "TAP version 13"

mkdir -p "$tmp/kmod" "$tmp/src/kernel" "$tmp/src/net/ipv4"
cat >"$tmp/kmod/a.c" <<'C'
static int inner(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	int len = (int)iotsec_arg(regs, 2);
	return len;
}

static int outer(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct sock *sk = (struct sock *)iotsec_arg(regs, 0);
	return inner(ri, regs);
}

static int swapped_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct file *f = (struct file *)iotsec_arg(regs, 1);
	return 0;
}

static int plain_pre(struct kprobe *p, struct pt_regs *regs)
{
	const struct path *path = (const struct path *)iotsec_arg(regs, 0);
	long req = (long)iotsec_arg(regs, 1);
	return 0;
}

static int sys_pre(struct kprobe *p, struct pt_regs *regs)
{
	int fd = (int)iotsec_arg(regs, 0);
	return fd;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KRETPROBE("dg_connect", IOTSEC_EVENT_CONNECT, outer, ret, 8),
	IOTSEC_KPROBE("swapped_fn", IOTSEC_EVENT_FILE, swapped_pre),
	IOTSEC_KPROBE("plain_fn", IOTSEC_EVENT_FILE, plain_pre),
	{ .type = IOTSEC_EVENT_MODULE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = IOTSEC_SYSCALL_SYM("finit_module"),
		  .pre_handler = sys_pre } },
	{ .type = IOTSEC_EVENT_FILE, .kind = IOTSEC_HOOK_KPROBE,
	  .optional = true,
	  .kp = { .symbol_name = "gone_fn",
		  .pre_handler = swapped_pre } },
};
C
cat >"$tmp/src/net/ipv4/dg.c" <<'C'
int dg_connect(struct sock *sk, struct sockaddr *uaddr, int addr_len)
{
	return 0;
}
C
cat >"$tmp/src/kernel/k.c" <<'C'
static int swapped_fn(struct file *file, struct inode *inode)
{
	return 0;
}

/**
 * plain_fn() - a kernel-doc comment naming the function (security.c since
 * 6.4): not its definition
 * @dir: the directory
 */
int plain_fn(const struct path *dir,
	     enum kernel_read_file_id id)
{
	return 0;
}

SYSCALL_DEFINE3(finit_module, int, fd, const char __user *, uargs, int, flags)
{
	return 0;
}
C
python3 "$audit" protos --kmod "$tmp/kmod" --source "$tmp/src" >"$tmp/table" 2>"$tmp/err"
sed 's/^/# /' "$tmp/table" "$tmp/err"
row() { grep -P "^$1\t" "$tmp/table" | awk -F'\t' -v a="$2" '$4 == a { print $NF }'; }
check "protos: kretprobe args read through the handler it calls (arg0, arg2) match" \
	test "$(row dg_connect 0)$(row dg_connect 2)" = okok
check "protos: a cast that differs from the prototype (struct file * as arg1 of (file, inode)) is a mismatch" \
	test "$(row swapped_fn 1)" = mismatch
check "protos: const pointer and long against an enum, over a split prototype after a kernel-doc comment naming it, match" \
	test "$(row plain_fn 0)$(row plain_fn 1)" = okok
check "protos: the syscall wrapper __x64_sys_finit_module is found by its SYSCALL_DEFINE, and takes regs, not fd" \
	grep -qP '^__x64_sys_finit_module\toptional\ta.c\t0\tint\tkernel/k.c: const struct pt_regs \*regs\tmismatch$' "$tmp/table"
check "protos: a symbol with no definition is noproto" \
	test "$(row gone_fn 1)" = noproto

printf '0 T dg_connect\n0 t swapped_fn\n0 T plain_fn\n0 T __x64_sys_finit_module\n' >"$tmp/kallsyms"
python3 "$audit" check --table "$tmp/table" --kallsyms "$tmp/kallsyms" --label t >"$tmp/check"
rc=$?
sed 's/^/# /' "$tmp/check"
check "check: the mismatches fail the run" test $rc = 1
check "check: the mismatched arguments (swapped_fn arg1, the wrapper's arg0) are the not ok lines" \
	test "$(grep -c '^not ok' "$tmp/check")" = 2 -a "$(grep '^not ok' "$tmp/check" | grep -c 'swapped_fn.*arg1\|finit_module.*arg0')" = 2
check "check: an optional symbol missing from kallsyms is reported unavailable" \
	grep -q '^ok .*gone_fn.*# not in kallsyms: optional, reported unavailable' "$tmp/check"
printf '0 T swapped_fn\n0 T plain_fn\n0 T __x64_sys_finit_module\n' >"$tmp/kallsyms"
python3 "$audit" check --table "$tmp/table" --kallsyms "$tmp/kallsyms" >"$tmp/check2"
check "check: a required symbol missing from kallsyms is not ok" \
	grep -q '^not ok .*dg_connect.*not in kallsyms' "$tmp/check2"

# Fallback hooks (kmod/hooks.c): sys_ptrace stands in for ptrace_attach
# where that is inlined (armmp). A primary missing from kallsyms with its
# fallback there is hooked; a fallback missing with its primary there is
# not needed; both missing fails. --arch names the syscall entries.
mkdir -p "$tmp/fkmod" "$tmp/fsrc/kernel"
cat >"$tmp/fkmod/p.c" <<'C'
static int attach_pre(struct kprobe *p, struct pt_regs *regs)
{
	struct task_struct *task = (struct task_struct *)iotsec_arg(regs, 0);
	return 0;
}

static int sys_pre(struct kprobe *p, struct pt_regs *regs)
{
	long request = (long)iotsec_arg(regs, 0);
	return 0;
}

static int other_pre(struct kprobe *p, struct pt_regs *regs)
{
	return 0;
}

static struct iotsec_hook hooks[] = {
	IOTSEC_KPROBE("inl_attach", IOTSEC_EVENT_PTRACE, attach_pre),
	/* where inl_attach() is inlined */
	{ .type = IOTSEC_EVENT_PTRACE, .kind = IOTSEC_HOOK_KPROBE,
	  .fallback = true,
	  .kp = { .symbol_name = IOTSEC_SYSCALL_SYM("inl"),
		  .pre_handler = sys_pre } },
	IOTSEC_KPROBE("other_fn", IOTSEC_EVENT_PTRACE, other_pre),
};
C
cat >"$tmp/fsrc/kernel/p.c" <<'C'
static int inl_attach(struct task_struct *task, long request)
{
	return 0;
}

SYSCALL_DEFINE2(inl, long, request, unsigned long, pid)
{
	return inl_attach(NULL, request);
}

int other_fn(void)
{
	return 0;
}
C
for arch in x86_64 arm64 arm; do
	python3 "$audit" protos --kmod "$tmp/fkmod" --source "$tmp/fsrc" \
		--arch $arch >"$tmp/ftable-$arch" 2>"$tmp/err"
	sed 's/^/# /' "$tmp/ftable-$arch" "$tmp/err"
done
check "protos: the hook after a primary with .fallback = true is fallback:PRIMARY (syscall entry named per --arch)" \
	test "$(cut -f1,2 "$tmp/ftable-x86_64" "$tmp/ftable-arm64" "$tmp/ftable-arm" | grep fallback | tr '\t\n' ' ')" = \
	"__x64_sys_inl fallback:inl_attach __arm64_sys_inl fallback:inl_attach sys_inl fallback:inl_attach "
check "protos: a hook after the fallback that is no fallback itself stays required" \
	grep -qP '^other_fn\trequired\t' "$tmp/ftable-arm"
check "protos: arm's sys_NAME takes the call's own arguments (SYSCALL_DEFINE), arm64's wrapper the registers" \
	test "$(grep -P '^sys_inl\t' "$tmp/ftable-arm" | cut -f6,7)|$(grep -P '^__arm64_sys_inl\t' "$tmp/ftable-arm64" | cut -f7)" = \
	"kernel/p.c: long request	ok|mismatch"
fcheck() { # KALLSYMS... -> the check's TAP in $tmp/fcheck, its status in $frc
	printf '0 T %s\n' "$@" >"$tmp/fkallsyms"
	python3 "$audit" check --table "$tmp/ftable-arm" --kallsyms "$tmp/fkallsyms" \
		--label armhf >"$tmp/fcheck"
	frc=$?
	sed 's/^/# /' "$tmp/fcheck"
}
fcheck sys_inl other_fn
check "check: a primary not in kallsyms (inlined) whose fallback is there passes" \
	test $frc = 0 -a "$(grep -c '^ok .*inl_attach.*hooked by its fallback sys_inl' "$tmp/fcheck")" = 1
fcheck inl_attach other_fn
check "check: a fallback not in kallsyms whose primary is there passes (not needed)" \
	test $frc = 0 -a "$(grep -c '^ok .*sys_inl.*not needed, inl_attach is there' "$tmp/fcheck")" = 1
fcheck other_fn
check "check: a primary and its fallback both missing fail, both lines not ok" \
	test $frc = 1 -a "$(grep -c '^not ok .*inl' "$tmp/fcheck")" = 2

# The real module against the kernel sources at hand.
. "$top/scripts/lib-cache.sh"
troot=${TRIXIE_ROOT:-$(iotsec_cache "$top")/trixie-root}
for k in 6.1 5.10 6.12; do
	# 6.12's source comes with the trixie root, which takes minutes to make.
	if [ "$k" = 6.12 ] && [ ! -f "$troot/.iotsec-stamp" ]; then
		ok "kmod/ against the $k source # SKIP no trixie root (scripts/trixie-root.sh)"
		continue
	fi
	table=$(BUILD=${IOTSEC_BUILD:-$top/build} "$top/scripts/kernels.sh" audit "$k" 2>"$tmp/err") || {
		ok "kmod/ against the $k source # SKIP no source ($(tail -n 1 "$tmp/err"))"
		continue
	}
	# Only an optional symbol may have no definition in the source.
	bad=$(grep -vP '\tok$' "$table" | grep -vP '^[^\t]+\toptional\t.*\tnoproto$')
	echo "$bad" | sed '/^$/d; s/^/# /'
	check "kmod/ against the $k source: every argument read matches its prototype" test -z "$bad"
done
echo "1..$n"
exit $((failed > 0))
