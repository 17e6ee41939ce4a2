# SPDX-License-Identifier: MIT
#
# slowcall.so: an LD_PRELOAD shim that makes NSS lookups and fdatasync
# slow (tests/tools/slowcall.c), for tests/host/loop-stall.sh.
SLOWCALL := $(BUILD)/tests/tools/slowcall.so
tests: $(SLOWCALL)

$(SLOWCALL): tests/tools/slowcall.c
	$(quiet) CC-PLUG $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -fPIC -shared -o $@ $< -ldl
