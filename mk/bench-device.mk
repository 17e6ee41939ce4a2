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
#
# On ARM (issue 17) the same script runs in the ARM lab, with the cross
# build of mk/cross.mk (programs, tools and module of build/arm64 or
# build/armhf, booted on bookworm's arm64 / armmp kernel):
#
#   make bench-device ARCH=arm64     (CROSS_COMPILE=aarch64-linux-gnu-)
#   make bench-device ARCH=arm       (armhf, CROSS_COMPILE=arm-linux-gnueabihf-)
#
# There the defaults are bounded, since every ARM instruction is emulated:
# parts 3 and 5, steps of 1000 events/s and as fast as it goes, no
# small-ring and small-receive-buffer series, 2400 s lab timeout (each
# overridable as above). BENCH_DEVICE_ICOUNT=1 runs the guest under QEMU
# -icount (scripts/lab.sh LAB_ICOUNT: one vCPU, its clock counts
# instructions, 1 ns each), so that iotsecd's CPU time per event is its
# instruction count per event, comparable between architectures and
# independent of the host's load; BENCHMARKS.md "Per architecture".
# The stripped sizes of part 5 are taken on the build machine
# ($(CROSS_COMPILE)strip into $(BUILD)/bench/stripped): the ARM roots
# have no binutils.
BENCH_DEVICE_VARS := BENCH_DEVICE_RATES BENCH_DEVICE_STEP BENCH_DEVICE_WORKERS \
	BENCH_DEVICE_TIGHT BENCH_DEVICE_TIGHT_RATES BENCH_DEVICE_SECONDS \
	BENCH_DEVICE_PARTS BENCH_DEVICE_RCVBUF BENCH_DEVICE_RCVBUF_RATES

ifneq ($(CROSS_DEB_ARCH),)
BENCH_DEVICE_PARTS ?= 3 5
BENCH_DEVICE_RATES ?= 1000 0
BENCH_DEVICE_TIGHT ?=
BENCH_DEVICE_RCVBUF ?=
BENCH_DEVICE_TIMEOUT ?= 2400
endif
BENCH_DEVICE_KO := $(KMOD_SRC)/kmod/iotsec.ko
BENCH_DEVICE_STRIP := $(CROSS_COMPILE)strip

.PHONY: bench-device
bench-device: module forwarder test-tools $(BUILD)/libiotsec.so
	$(Q)mkdir -p $(BUILD)/bench/device $(BUILD)/bench/stripped
	$(Q)$(BENCH_DEVICE_STRIP) -o $(BUILD)/bench/stripped/iotsecd $(BUILD)/iotsecd
	$(Q)$(BENCH_DEVICE_STRIP) -o $(BUILD)/bench/stripped/iotsecctl $(BUILD)/iotsecctl
	$(Q)$(BENCH_DEVICE_STRIP) -o $(BUILD)/bench/stripped/libiotsec.so "$$(realpath $(BUILD)/libiotsec.so)"
	$(Q)$(BENCH_DEVICE_STRIP) --strip-debug -o $(BUILD)/bench/stripped/iotsec.ko $(BENCH_DEVICE_KO)
	$(Q)LAB_ACCEL=$${LAB_ACCEL:-tcg,thread=single} \
		$(if $(filter 1,$(BENCH_DEVICE_ICOUNT)),LAB_ICOUNT=1) scripts/lab.sh \
		--kdir $(KDIR) --out $(abspath $(BUILD))/bench/device \
		--timeout $(or $(BENCH_DEVICE_TIMEOUT),1500) -- \
		env IOTSEC_TOP=$(CURDIR) IOTSEC_BUILD=$(abspath $(BUILD)) \
		IOTSEC_KO=$(BENCH_DEVICE_KO) \
		BENCH_DEVICE_STRIPPED=$(abspath $(BUILD))/bench/stripped \
		$(foreach v,$(BENCH_DEVICE_VARS),$(if $(filter-out undefined,$(origin $(v))),$(v)="$($(v))")) \
		$(CURDIR)/tests/bench/device.sh
	$(Q)cp $(BUILD)/bench/device/device.txt $(BUILD)/bench/device.txt
