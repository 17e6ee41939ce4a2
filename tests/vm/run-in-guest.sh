#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Runs inside the QEMU lab (as root): every VM test binary and script, one
# after another, each with a TAP log in /lab/out. Tests load and unload the
# module themselves (IOTSEC_KO says where it is) and must leave it unloaded.
#
# IOTSEC_KERNEL (a name from scripts/kernels.sh, e.g. 5.10) labels the run:
# the logs are vm-NAME-TEST.tap and every result line says "[NAME KVER]".
# VM_ONLY="events accounting test-e2e" runs only those tests (basenames).
set -u
export IOTSEC_KO=${IOTSEC_KO:-$IOTSEC_TOP/kmod/iotsec.ko}
export IOTSEC_TEST_MODULES=${IOTSEC_TEST_MODULES:-$IOTSEC_BUILD/test-modules}
out=${LAB_OUT:-/tmp}
label= prefix=vm-
if [ -n "${IOTSEC_KERNEL:-}" ]; then
	label="[$IOTSEC_KERNEL $(uname -r)] "
	prefix=vm-$IOTSEC_KERNEL-
fi
for t in "$IOTSEC_BUILD"/tests/vm/* "$IOTSEC_TOP"/tests/vm/test-*.sh; do
	[ -x "$t" ] && [ -f "$t" ] || continue
	base=$(basename "$t" .sh)
	if [ -n "${VM_ONLY:-}" ]; then
		case " $VM_ONLY " in *" $base "*) ;; *) continue ;; esac
	fi
	case " ${VM_SKIP:-} " in *" $base "*) continue ;; esac
	name=$prefix$base
	echo "# vm: $name${label:+ on ${label% }}"
	t0=$SECONDS
	timeout "${VM_TEST_TIMEOUT:-1800}" "$t" >"$out/$name.tap" 2>&1
	rc=$?
	echo "# exit: $rc" >>"$out/$name.tap"
	# how long each test takes (make check's budget, tests/run-check.sh)
	echo "# time: $((SECONDS - t0)) s" >>"$out/$name.tap"
	if [ -n "$label" ]; then
		sed -i -E "s/^((not )?ok [0-9]+)( - | )?/\1 - $label/" "$out/$name.tap"
		sed -i "1i # kernel: $IOTSEC_KERNEL $(uname -r)" "$out/$name.tap"
	fi
	grep -E '^(not )?ok |^# (Totals|PASSED|FAILED|time)' "$out/$name.tap" | sed 's/^/  /'
	if grep -q '^iotsec ' /proc/modules; then
		echo "# $name left the module loaded; unloading" | tee -a "$out/$name.tap"
		echo "not ok 999 $name: left the module loaded" >>"$out/$name.tap"
		rmmod iotsec
	fi
done
