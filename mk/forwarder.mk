# SPDX-License-Identifier: MIT
#
# The forwarder's extra targets:
#   make bench-forwarder replay a large synthetic stream: events/s,
#                      callgrind instructions/event, RSS, stripped sizes,
#                      the rules' cost per event (default pack)
#   make fuzz          build libFuzzer targets (clang) into build/fuzz/
#   make node-deps     ajv + ajv-formats into build/node (npm, idempotent)

BENCH_SYNTH := $(BUILD)/bench/synth
BENCH_RULES := $(BUILD)/bench/rules-bench
BENCH_IOC := $(BUILD)/bench/ioc-bench
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/*.c))
FUZZ_SRCS := $(filter-out forwarder/transport/mqtt.c,$(FWD_SRCS))

.PHONY: bench-forwarder fuzz node-deps

$(BENCH_SYNTH): tests/bench/synth.c $(CORE)
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE) $(PKG_LIBS)

$(BENCH_RULES): tests/bench/rules-bench.c $(CORE)
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE) $(PKG_LIBS)

$(BENCH_IOC): tests/bench/ioc-bench.c $(CORE)
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE) $(PKG_LIBS)

# events named on the command line (tests/host/ioc-replay.sh)
$(BUILD)/tests/tools/rec-events: tests/tools/rec-events.c $(CORE)
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE) $(PKG_LIBS)

# The host tests use the generators and the node validator.
tests: $(BENCH_SYNTH) $(BUILD)/tests/tools/rec-events node-deps

# A recording from lines of text (tests/host/baseline-replay.sh); the
# baseline's cost per event (bench-forwarder).
EVGEN := $(BUILD)/tests/tools/evgen
BENCH_BASELINE := $(BUILD)/bench/baseline-bench
$(EVGEN): tests/tools/evgen.c $(CORE)
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE) $(PKG_LIBS)
$(BENCH_BASELINE): tests/bench/baseline-bench.c $(CORE)
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE) $(PKG_LIBS)
tests: $(EVGEN)

bench-forwarder: forwarder $(BENCH_SYNTH) $(BENCH_RULES) $(BENCH_IOC) $(BENCH_BASELINE)
	$(Q)mkdir -p $(BUILD)/bench
	$(Q)tests/bench/bench.sh $(BUILD) >$(BUILD)/bench/forwarder.tmp
	$(Q)mv $(BUILD)/bench/forwarder.tmp $(BUILD)/bench/forwarder.txt && cat $(BUILD)/bench/forwarder.txt

$(BUILD)/fuzz/%: tests/fuzz/%.c $(FWD_SRCS)
	$(quiet) FUZZ $@
	@mkdir -p $(dir $@)
	$(Q)clang $(filter-out -MMD -MP,$(BASE_CFLAGS)) -Wno-format-nonliteral -g -O1 \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-o $@ $< $(FWD_SRCS) $(PKG_LIBS)

fuzz: $(FUZZ_TARGETS)

node-deps: $(BUILD)/node/node_modules/ajv-formats/package.json

$(BUILD)/node/node_modules/ajv-formats/package.json:
	$(quiet) NPM $(BUILD)/node
	$(Q)mkdir -p $(BUILD)/node && cd $(BUILD)/node && \
		npm install --no-audit --no-fund --silent ajv@8 ajv-formats@2 >/dev/null

# The programs built with ASan/UBSan for the host script tests
# (tests/host/*.sh use them when they exist).
SAN_PROGS := $(SAN_OBJ)/iotsecd $(SAN_OBJ)/iotsecctl

$(SAN_OBJ)/iotsecd: $(SAN_OBJ)/forwarder/daemon/iotsecd.o $(SAN_CORE)
$(SAN_OBJ)/iotsecctl: $(SAN_OBJ)/forwarder/cli/iotsecctl.o $(SAN_CORE)
$(SAN_PROGS):
	$(quiet) LD-SAN $@
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

ifeq ($(SAN),1)
tests: $(SAN_PROGS)
endif

# make bench-alert-latency: from the kernel's timestamp of a triggering
# event to its RuleAlert at a broker subscriber, p50/p90/p99 over
# BENCH_ALERTS (500) alerts, one every BENCH_GAP_MS (20) ms, in one boot of
# the QEMU lab (tests/bench/alert-latency.sh; BENCHMARKS.md). Not a test.
.PHONY: bench-alert-latency
bench-alert-latency: module forwarder
	$(Q)rm -rf $(BUILD)/bench/latency && mkdir -p $(BUILD)/bench/latency
	$(Q)scripts/lab.sh --kdir $(KDIR) --out $(BUILD)/bench/latency --timeout 900 -- \
		env IOTSEC_TOP=$(CURDIR) IOTSEC_BUILD=$(abspath $(BUILD)) \
		IOTSEC_KO=$(CURDIR)/kmod/iotsec.ko \
		$(foreach v,BENCH_ALERTS BENCH_GAP_MS,$(if $($(v)),$(v)=$($(v)))) \
		$(CURDIR)/tests/bench/alert-latency.sh
	$(Q)cp $(BUILD)/bench/latency/alert-latency.txt $(BUILD)/bench/alert-latency.txt
