# SPDX-License-Identifier: MIT
#
# Other kernels (scripts/kernels.sh: 6.1, the machine's; 5.10 from Debian
# bullseye; more as they are added): fetched without installing anything
# (scripts/kernel-pkgs.sh), built against in a copy of the source under
# build/k/NAME, booted in the lab.
#
#   make check-kernels         every VM test on every kernel, results labelled
#   make kernels               fetch every kernel and build the module for it
#   make module KERNEL=5.10    build the tree's kmod/iotsec.ko for that kernel
#                              (same as make module KDIR=<its headers>)
#   make lab KERNEL=5.10       a shell in the lab on that kernel
#
# make check runs the core suite (events, accounting, test-e2e) on every
# kernel besides the full run on 6.1 (check-all in the Makefile).
.PHONY: check-kernels kernels

kernels:
	$(Q)for k in $$(scripts/kernels.sh list); do \
		scripts/kernels.sh build $$k || exit 1; \
	done

check-kernels: tests
	$(Q)rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	$(Q)tests/run-kernels.sh $(BUILD) $(BUILD)/results all || true
	$(Q)tests/summary.sh $(BUILD)/results
