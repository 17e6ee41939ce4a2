# SPDX-License-Identifier: MIT
#
# The ARM suites: Debian bookworm's arm64 and armhf (armmp) kernels booted
# under TCG in qemu-system-aarch64 / qemu-system-arm -M virt, with a root of
# the guest's architecture (scripts/arm-root.sh), the module, the test
# modules and the programs cross-built (tests/run-kernels.sh, docs/kernels.md).
#
#   make check-arm        the ARM suite on arm64 and armhf: events,
#                         accounting, family, malformed, fuzz, unpriv,
#                         test-load-cycles (5 cycles), test-kprobe-audit,
#                         test-e2e (its messages checked by ajv on the
#                         host); result lines labelled [arm64 KVER] /
#                         [armhf KVER]. make check runs the same suite
#                         (tests/run-check.sh); this runs it alone, and
#                         with arm64 also the DKMS run that only this
#                         target has: DKMS builds the module for the arm64
#                         kernel and the lab loads it (tests/arm/dkms-arm64.sh)
#   make lab-arm64 / lab-armhf   a shell in the ARM lab
#   ARM_KERNELS="arm64"   narrows the list
ARM_KERNELS ?= arm64 armhf

.PHONY: check-arm arm-roots lab-arm64 lab-armhf

check-arm: tests
	$(Q)rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	$(Q)tests/run-kernels.sh $(BUILD) $(BUILD)/results arm $(ARM_KERNELS) || true
	$(Q)$(if $(filter arm64,$(ARM_KERNELS)),timeout 1800 tests/arm/dkms-arm64.sh $(BUILD) >$(BUILD)/results/arm-dkms-arm64.tap 2>&1; echo "# exit: $$?" >>$(BUILD)/results/arm-dkms-arm64.tap)
	$(Q)tests/summary.sh $(BUILD)/results

arm-roots:
	$(Q)for a in $(ARM_KERNELS); do scripts/arm-root.sh $$a || exit 1; done

lab-arm64 lab-armhf:
	$(Q)scripts/lab.sh --kdir "$$(scripts/kernel-pkgs.sh bookworm $(@:lab-%=%) | \
		sed -n 's/^KDIR=//p')" --shell
