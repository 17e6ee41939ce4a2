# SPDX-License-Identifier: MIT
#
# make bench-kmod: the kernel module's overhead on exec, connect and
# open/close loops, with and without the module (plus a consumer with every
# event on), alternating in one boot of the QEMU lab; medians and ratios,
# and the module's kernel memory. Not part of `make check`. The figures land
# in $(BUILD)/bench/bench-kmod.txt; docs/benchmarks-kmod.md records them.
# BENCH_ROUNDS, BENCH_EXEC, BENCH_CONNECT, BENCH_OPEN pass through.
.PHONY: bench-kmod
bench-kmod: module test-tools
	$(Q)rm -rf $(BUILD)/bench && mkdir -p $(BUILD)/bench
	$(Q)scripts/lab.sh --kdir $(KDIR) --out $(BUILD)/bench --timeout 1200 -- \
		env IOTSEC_TOP=$(CURDIR) IOTSEC_BUILD=$(abspath $(BUILD)) \
		IOTSEC_KO=$(CURDIR)/kmod/iotsec.ko \
		$(foreach v,BENCH_ROUNDS BENCH_EXEC BENCH_CONNECT BENCH_OPEN,$(if $($(v)),$(v)=$($(v)))) \
		$(CURDIR)/tests/bench/bench-kmod.sh
