# SPDX-License-Identifier: MIT
#
# make bench-device: issue 8 parts 3-5 in one boot of the QEMU lab
# (tests/bench/device.sh): throughput and exact loss accounting at paced
# rates, bandwidth and IoT Hub cost of a scripted device with aggregation
# on and off against one message per raw event, iotsecd's CPU and RSS,
# module memory and sizes. Not part of `make check`. The table is printed
# and left in $(BUILD)/bench/device.txt; docs/benchmarks-device.md records
# it. Single-threaded TCG, as the VM suite (see tests/run-vm.sh).
# BENCH_DEVICE_{RATES,STEP,WORKERS,TIGHT,TIGHT_RATES,RCVBUF,RCVBUF_RATES,
# SECONDS,PARTS} pass
# through; BENCH_DEVICE_TIMEOUT bounds the lab (default 1500 s).
BENCH_DEVICE_VARS := BENCH_DEVICE_RATES BENCH_DEVICE_STEP BENCH_DEVICE_WORKERS \
	BENCH_DEVICE_TIGHT BENCH_DEVICE_TIGHT_RATES BENCH_DEVICE_SECONDS \
	BENCH_DEVICE_PARTS BENCH_DEVICE_RCVBUF BENCH_DEVICE_RCVBUF_RATES

.PHONY: bench-device
bench-device: module forwarder test-tools
	$(Q)mkdir -p $(BUILD)/bench/device
	$(Q)LAB_ACCEL=$${LAB_ACCEL:-tcg,thread=single} scripts/lab.sh \
		--kdir $(KDIR) --out $(BUILD)/bench/device \
		--timeout $(or $(BENCH_DEVICE_TIMEOUT),1500) -- \
		env IOTSEC_TOP=$(CURDIR) IOTSEC_BUILD=$(abspath $(BUILD)) \
		IOTSEC_KO=$(CURDIR)/kmod/iotsec.ko \
		$(foreach v,$(BENCH_DEVICE_VARS),$(if $(filter-out undefined,$(origin $(v))),$(v)="$($(v))")) \
		$(CURDIR)/tests/bench/device.sh
	$(Q)cp $(BUILD)/bench/device/device.txt $(BUILD)/bench/device.txt
