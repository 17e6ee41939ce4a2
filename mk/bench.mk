# SPDX-License-Identifier: MIT
#
# make bench: every benchmark of BENCHMARKS.md, one after the other, each
# bounded: bench-forwarder (the replay pipeline on the host, ~2 min),
# bench-peers (iotsec against auditd, the proc connector, bcc and sysdig:
# overhead and capture completeness, one lab boot) and bench-device
# (throughput and loss, bandwidth and IoT Hub cost, footprint, one lab
# boot). Not part of `make check`; about an hour on the shared 2-core
# host. A failing part does not stop the others; the tables are printed
# at the end and left in $(BUILD)/bench/{forwarder,peers,device}.txt.
.PHONY: bench
bench:
	$(Q)mkdir -p $(BUILD)/bench && cd $(BUILD)/bench && rm -f forwarder.txt peers.txt device.txt
	$(Q)rc=0; for t in bench-forwarder bench-peers bench-device; do \
		echo "=== make $$t"; \
		$(MAKE) --no-print-directory $$t || { rc=1; echo "=== make $$t failed"; }; \
	done; \
	for f in forwarder peers device; do \
		echo; echo "=== $$f ($(BUILD)/bench/$$f.txt)"; \
		cat $(BUILD)/bench/$$f.txt 2>/dev/null || echo "(no figures: the run failed)"; \
	done; exit $$rc

#
# make bench-kmod: the kernel module's overhead on exec, connect and
# open/close loops, with and without the module (plus a consumer with every
# event on), alternating in one boot of the QEMU lab; medians and ratios,
# and the module's kernel memory. Not part of `make check`. The figures land
# in $(BUILD)/bench/bench-kmod.txt; docs/benchmarks-kmod.md records them.
# BENCH_ROUNDS, BENCH_EXEC, BENCH_CONNECT, BENCH_OPEN pass through;
# BENCH_ICOUNT=1 runs the guest under QEMU -icount (instruction counts,
# independent of host load; docs/benchmarks-kmod.md).
.PHONY: bench-kmod
bench-kmod: module test-tools
	$(Q)rm -rf $(BUILD)/bench/kmod && mkdir -p $(BUILD)/bench/kmod
	$(Q)$(if $(BENCH_ICOUNT),LAB_ICOUNT=1 )scripts/lab.sh --kdir $(KDIR) --out $(BUILD)/bench/kmod --timeout 1200 -- \
		env IOTSEC_TOP=$(CURDIR) IOTSEC_BUILD=$(abspath $(BUILD)) \
		IOTSEC_KO=$(CURDIR)/kmod/iotsec.ko \
		$(foreach v,BENCH_ROUNDS BENCH_EXEC BENCH_CONNECT BENCH_OPEN BENCH_ICOUNT,$(if $($(v)),$(v)=$($(v)))) \
		$(CURDIR)/tests/bench/bench-kmod.sh
	$(Q)cp $(BUILD)/bench/kmod/bench-kmod.txt $(BUILD)/bench/bench-kmod.txt
