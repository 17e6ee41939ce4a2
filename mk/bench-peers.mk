# SPDX-License-Identifier: MIT
#
# make bench-peers: iotsec against other collectors people run on Linux
# devices (auditd, the proc connector, bcc's tools, sysdig with the Falco
# kernel module), side by side in one boot of the QEMU lab: the overhead on
# exec, connect and open/close loops, and how many of N very short
# processes each one reports with the right executable and full arguments.
# Not part of `make check`. The table lands in $(BUILD)/bench/peers.txt;
# docs/benchmarks-peers.md records the method and the figures.
# BENCH_ROUNDS, BENCH_EXEC, BENCH_CONNECT, BENCH_OPEN, BENCH_SHORT,
# BENCH_PEERS (which modes) and BENCH_START_TIMEOUT pass through;
# BENCH_PEERS_TIMEOUT bounds the whole lab run (seconds; default 15 minutes
# plus 5 a round: a default run takes about 16 minutes on the shared host).
PEER_TOOLS := $(BUILD)/tests/tools/procconn $(BUILD)/tests/tools/shortproc
BENCH_PEERS_VARS := BENCH_ROUNDS BENCH_EXEC BENCH_CONNECT BENCH_OPEN \
	BENCH_SHORT BENCH_PEERS BENCH_START_TIMEOUT
BENCH_PEERS_TIMEOUT ?= $(shell echo $$((900 + 300 * $(or $(BENCH_ROUNDS),3))))

.PHONY: bench-peers
test-tools: $(PEER_TOOLS)

bench-peers: all test-tools
	$(Q)scripts/install-bench-deps.sh
	$(Q)rm -rf $(BUILD)/bench/peers && mkdir -p $(BUILD)/bench/peers
	$(Q)LAB_ACCEL=$${LAB_ACCEL:-tcg,thread=single} scripts/lab.sh --kdir $(KDIR) \
		--out $(BUILD)/bench/peers --timeout $(BENCH_PEERS_TIMEOUT) -- \
		env IOTSEC_TOP=$(CURDIR) IOTSEC_BUILD=$(abspath $(BUILD)) \
		IOTSEC_KO=$(CURDIR)/kmod/iotsec.ko \
		$(foreach v,$(BENCH_PEERS_VARS),$(if $($(v)),$(v)='$($(v))')) \
		$(CURDIR)/tests/bench/peers.sh
	$(Q)cp $(BUILD)/bench/peers/peers.txt $(BUILD)/bench/peers.txt
	$(Q)echo && cat $(BUILD)/bench/peers.txt
