# SPDX-License-Identifier: MIT
#
# For the VM tests written in shell (source it; bash, root, in the lab):
# everything broker.sh gives (TOP, BUILD, TMP, TAP, wait_for, mosquitto,
# iotsecd_start), with BIN the plain build as the lab runs it, KO the
# module (IOTSEC_KO), and the module unloaded on exit when a test stops
# before it unloads it itself.
TMP_NAME=${TMP_NAME:-iotsec-$(basename "$0" .sh)}
. "$(dirname "${BASH_SOURCE[0]}")/broker.sh"
KO=${IOTSEC_KO:-$TOP/kmod/iotsec.ko}
BIN=$BUILD

module_unload() {
	if grep -q '^iotsec ' /proc/modules; then
		rmmod iotsec || true
	fi
}
CLEANUP_HOOK=module_unload
