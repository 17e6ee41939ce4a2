# SPDX-License-Identifier: MIT
#
# Helper programs the VM tests and benchmarks run: a consumer of the
# family and the load generator (the SDK's tools are in mk/sdk.mk). Built into
# $(BUILD)/tests/tools/, outside tests/vm/, so the VM runner does not take
# them for tests.
TEST_TOOLS := $(BUILD)/tests/tools/iotsec-consume $(BUILD)/tests/tools/loadgen

.PHONY: test-tools
test-tools: $(TEST_TOOLS)
tests: test-tools

$(BUILD)/tests/tools/%: tests/tools/%.c tests/lib/iotsec-raw.h tests/lib/tool.h
	$(quiet) CC-TOOL $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Itests -o $@ $<
