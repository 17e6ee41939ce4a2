#!/bin/bash
# SPDX-License-Identifier: MIT
#
# make check's own bounds, on a fabricated run (no lab, no VM):
# - tests/run-check.sh: an ARM preparation that hangs (a stub
#   tests/run-kernels.sh that sleeps) is killed after its limit
#   (CHECK_ARM_PREP_TIMEOUT) with a not ok arm-prep.tap, the suite is not
#   run; the suite's wait for a prep that never ends is bounded too (a
#   not ok arm-suite.tap); tests/summary.sh counts both as failures.
# - tests/run-kernels.sh: a guest test that kept its messages for ajv on
#   the host ("kept for ajv on the host") whose directory did not arrive
#   is a not ok NAME-host.tap; one whose directory arrived is checked.
# The functions are read out of the scripts (IOTSEC_TOP's) and run here.
# shellcheck disable=SC2015 # ok/notok: ok never fails
# shellcheck disable=SC2016 # the stub's text, expanded when it runs
set -u
TOP=${IOTSEC_TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
echo "TAP version 13"
echo "1..8"
T=$(mktemp -d /tmp/iotsec-check-bounds.XXXXXX)
trap 'rm -rf "$T"' EXIT

# fn SCRIPT NAME...: the definitions of functions NAME of SCRIPT
fn() {
	local f=$1 name
	shift
	for name; do
		sed -n "/^$name() {/,/^}/p" "$f"
	done
}

# --- run-check.sh: the ARM preparation and the wait for it ---
top=$T/top results=$T/results build=$T/build tmp=$T/tmp
arm_kernels="arm64 armhf"
mkdir -p "$top/tests" "$results" "$build" "$tmp"
cat >"$top/tests/run-kernels.sh" <<'EOS'
#!/bin/bash
echo "$3" >>"$(dirname "$0")/called"
[ "$3" = prep ] && exec sleep 600
exit 0
EOS
chmod +x "$top/tests/run-kernels.sh"
eval "$(sed -n '/^prep_limit=/p;/^wait_limit=/p' "$TOP/tests/run-check.sh")"
eval "$(fn "$TOP/tests/run-check.sh" timed not_ok arm_prep arm_suite)"
prep_limit=2
t0=$SECONDS
if declare -F arm_prep >/dev/null; then
	timeout 30 bash -c "$(declare -f not_ok arm_prep timed)
		$(declare -p top results build tmp arm_kernels prep_limit 2>/dev/null)
		arm_prep"
	rc=$?
else
	rc=127
fi
took=$((SECONDS - t0))
[ "$rc" = 0 ] && [ $took -lt 25 ] &&
	ok "a hanging ARM preparation is killed after its limit ($took s)" ||
	notok "a hanging ARM preparation is killed after its limit (status $rc after $took s)"
grep -q '^not ok 1 arm-prep: .*did not end in 2 s' "$results/arm-prep.tap" 2>/dev/null &&
	ok "arm-prep.tap says so: $(grep '^not ok' "$results/arm-prep.tap")" ||
	notok "no not ok arm-prep.tap in the results"
if declare -F arm_suite >/dev/null && [ -e "$tmp/prep-done" ]; then
	timeout 30 bash -c "$(declare -f arm_suite timed not_ok)
		$(declare -p top results build tmp arm_kernels prep_limit wait_limit)
		arm_suite host"
fi
grep -qx arm "$top/called" 2>/dev/null &&
	notok "the ARM suite ran after its preparation was killed" ||
	ok "the ARM suite is not run after its preparation was killed"

# a preparation that never says it is done: the suite's wait ends
rm -rf "$tmp" "$results" "$top/called"
mkdir -p "$tmp" "$results"
wait_limit=2
t0=$SECONDS
if declare -F arm_suite >/dev/null; then
	timeout 30 bash -c "$(declare -f arm_suite timed not_ok)
		$(declare -p top results build tmp arm_kernels prep_limit wait_limit)
		CHECK_ARM_POLL=1 arm_suite host"
	rc=$?
else
	rc=127
fi
took=$((SECONDS - t0))
[ "$rc" = 0 ] && [ $took -lt 20 ] &&
	ok "the ARM suite's wait for its preparation ends ($took s)" ||
	notok "the ARM suite's wait for its preparation ends (status $rc after $took s)"
grep -q '^not ok 1 arm-suite: waited [0-9]* s' "$results/arm-suite.tap" 2>/dev/null &&
	ok "arm-suite.tap says so: $(grep '^not ok' "$results/arm-suite.tap")" ||
	notok "no not ok arm-suite.tap in the results"
out=$("$TOP/tests/summary.sh" "$results" 2>&1) && rc=0 || rc=$?
[ "$rc" != 0 ] && echo "$out" | grep -q '^FAIL arm-suite: not ok 1' &&
	ok "tests/summary.sh counts it: $(echo "$out" | tail -n 1)" ||
	notok "tests/summary.sh does not count it: $out"

# --- run-kernels.sh: a host check that did not arrive ---
rm -rf "$results"
mkdir -p "$results/host-check-arm64/vm-arm64-test-other" "$top/tests/lib"
printf '#!/bin/sh\necho "ok 1 - $3 host check of $(basename "$1")"\n' \
	>"$top/tests/lib/host-check.sh"
chmod +x "$top/tests/lib/host-check.sh"
for name in test-e2e test-other; do
	printf '1..1\nok 1 - [arm64 6.1] 5 published messages kept for ajv on the host\n' \
		>"$results/vm-arm64-$name.tap"
done
printf '1..1\nok 1 - [arm64 6.1] listen events\n' >"$results/vm-arm64-test-net.tap"
eval "$(fn "$TOP/tests/run-kernels.sh" host_checks)"
if declare -F host_checks >/dev/null; then
	host_checks arm64 6.1 >"$T/hc.log" 2>&1
else
	echo "no host_checks function in run-kernels.sh" >"$T/hc.log"
fi
sed 's/^/# /' "$T/hc.log"
grep -q '^not ok 1 .*test-e2e: the guest kept its messages for ajv on the host, but no host-check-arm64/vm-arm64-test-e2e arrived' \
	"$results/vm-arm64-test-e2e-host.tap" 2>/dev/null &&
	ok "kept for ajv, nothing arrived: $(grep '^not ok' "$results/vm-arm64-test-e2e-host.tap")" ||
	notok "kept for ajv on the host, nothing arrived, and no not ok"
grep -q '^ok 1 .*host check of vm-arm64-test-other' \
	"$results/vm-arm64-test-other-host.tap" 2>/dev/null &&
	[ ! -e "$results/vm-arm64-test-net-host.tap" ] &&
	ok "what arrived is checked; a test that kept nothing has no host check" ||
	notok "what arrived is not checked, or a test that kept nothing has one"
[ "$failed" = 0 ]
