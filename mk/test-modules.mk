# SPDX-License-Identifier: MIT
#
# Tiny kernel modules the tests load (tests/modules/<name>/<name>.c with a
# Kbuild), built against KDIR into $(BUILD)/test-modules/<name>.ko.
TEST_MODULES := $(notdir $(patsubst %/,%,$(dir $(wildcard tests/modules/*/Kbuild))))
TEST_MODULE_KOS := $(patsubst %,$(BUILD)/test-modules/%.ko,$(TEST_MODULES))

.PHONY: test-modules
test-modules: $(TEST_MODULE_KOS)
tests: test-modules

.SECONDEXPANSION:
$(BUILD)/test-modules/%.ko: $$(wildcard tests/modules/$$*/*.c) tests/modules/%/Kbuild
	$(quiet) KMOD $@
	$(Q)$(MAKE) -C $(KDIR) M=$(KMOD_SRC)/tests/modules/$* modules >/dev/null 2>&1 || $(MAKE) -C $(KDIR) M=$(KMOD_SRC)/tests/modules/$* modules
	@mkdir -p $(dir $@)
	$(Q)cp $(KMOD_SRC)/tests/modules/$*/$*.ko $@
