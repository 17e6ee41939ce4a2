# SPDX-License-Identifier: MIT
#
# eiofs: a FUSE passthrough that fails reads of one file with EIO, the
# failing disk of tests/host/delivery-eio.sh. Built only where libfuse3's
# headers are (libfuse3-dev); the test skips itself without it.
ifneq ($(shell pkg-config --exists fuse3 && echo y),)
EIOFS := $(BUILD)/tests/tools/eiofs
tests: $(EIOFS)

$(EIOFS): tests/tools/eiofs.c
	$(quiet) CC-TOOL $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -Wno-unused-parameter \
		$(shell pkg-config --cflags fuse3) -o $@ $< \
		$(shell pkg-config --libs fuse3)
endif
