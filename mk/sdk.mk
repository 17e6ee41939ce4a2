# SPDX-License-Identifier: MIT
#
# libiotsec, the SDK programs link to send security events to iotsecd:
#   $(BUILD)/libiotsec.so.1   shared, exports only include/iotsec/iotsec.h
#                             (forwarder/sdk/libiotsec.map)
#   $(BUILD)/libiotsec.a      static
#   $(BUILD)/libiotsec.pc     pkg-config (PREFIX, default /usr/local)
#   $(BUILD)/examples/send_event
# and the fuzz targets of the local sources' parsers, $(BUILD)/fuzz/sdk_msg
# and login_record (clang, libFuzzer).
# The library needs only libc.

PREFIX ?= /usr/local
SDK_SONAME := libiotsec.so.1
SDK_OBJ := $(BUILD)/sdk
SDK_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -Iforwarder \
	-fvisibility=hidden -MMD -MP
SDK_PIC_OBJS := $(patsubst forwarder/sdk/%.c,$(SDK_OBJ)/pic/%.o,$(SDK_SRCS))
SDK_STATIC_OBJS := $(patsubst forwarder/sdk/%.c,$(SDK_OBJ)/static/%.o,$(SDK_SRCS))
SDK_EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/%,$(wildcard examples/*.c))

.PHONY: sdk fuzz
sdk: $(BUILD)/$(SDK_SONAME) $(BUILD)/libiotsec.so $(BUILD)/libiotsec.a \
	$(BUILD)/libiotsec.pc $(SDK_EXAMPLES)
all: sdk
tests: sdk fuzz-sdk

$(SDK_OBJ)/pic/%.o: forwarder/sdk/%.c
	$(quiet) CC-PIC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SDK_CFLAGS) $(CFLAGS) -fPIC -c -o $@ $<

$(SDK_OBJ)/static/%.o: forwarder/sdk/%.c
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SDK_CFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/$(SDK_SONAME): $(SDK_PIC_OBJS) forwarder/sdk/libiotsec.map
	$(quiet) LD $@
	$(Q)$(CC) $(CFLAGS) -shared -Wl,-soname,$(SDK_SONAME) \
		-Wl,--version-script=forwarder/sdk/libiotsec.map -Wl,-z,defs \
		-o $@ $(SDK_PIC_OBJS)

$(BUILD)/libiotsec.so: $(BUILD)/$(SDK_SONAME)
	$(Q)ln -sf $(SDK_SONAME) $@

$(BUILD)/libiotsec.a: $(SDK_STATIC_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/libiotsec.pc: forwarder/sdk/libiotsec.pc.in
	$(quiet) GEN $@
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' $< >$@

# The example links the shared library the way a device maker's program
# would (-liotsec), finding it in the build tree at run time.
$(BUILD)/examples/%: examples/%.c $(BUILD)/$(SDK_SONAME) $(BUILD)/libiotsec.so
	$(quiet) LD $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(WARN) -Iinclude $(CFLAGS) -o $@ $< \
		-L$(BUILD) -liotsec -Wl,-rpath,'$$ORIGIN/..'

# Host tests that talk to the SDK server through the real client library.
SDK_CLIENT_TESTS := $(BUILD)/tests/host/sdk_server $(BUILD)/tests/host/sdk_env
$(SDK_CLIENT_TESTS): $(BUILD)/tests/host/%: tests/host/%.c $(HOST_TEST_CORE) \
		$(SDK_STATIC_OBJS) $(KSFT)/kselftest_harness.h
	$(quiet) CC-TEST $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(HOST_TEST_FLAGS) $(TEST_CFLAGS) \
		-o $@ $< $(SDK_STATIC_OBJS) $(HOST_TEST_CORE) $(PKG_LIBS)

# libFuzzer targets for the SDK request parser and wtmp/btmp records;
# skipped without clang. (Other fuzz targets have their own rules.)
SDK_FUZZ_CC ?= clang
SDK_FUZZ := $(BUILD)/fuzz/sdk_msg $(BUILD)/fuzz/login_record
.PHONY: fuzz-sdk
ifneq ($(shell command -v $(SDK_FUZZ_CC) 2>/dev/null),)
fuzz-sdk: $(SDK_FUZZ)
else
fuzz-sdk:
	@echo "  SKIP     $(SDK_FUZZ): $(SDK_FUZZ_CC) not found"
endif
fuzz: fuzz-sdk

# Each target with just the code it exercises, and the event object
# (serialize.c) that both build.
SDK_FUZZ_EVENT := forwarder/pipeline/serialize.c forwarder/common/utf8.c \
	forwarder/common/buf.c forwarder/intake/event.c
$(BUILD)/fuzz/sdk_msg: forwarder/sources/sdk_msg.c \
	forwarder/sources/sdk_msg.h $(SDK_FUZZ_EVENT)
$(BUILD)/fuzz/login_record: forwarder/sources/login.c \
	forwarder/sources/login.h forwarder/common/fs.c \
	forwarder/common/users.c $(SDK_FUZZ_EVENT)
$(SDK_FUZZ): $(BUILD)/fuzz/%: tests/fuzz/%.c
	$(quiet) FUZZ $@
	@mkdir -p $(dir $@)
	$(Q)$(SDK_FUZZ_CC) -std=gnu11 -g -O1 -D_GNU_SOURCE -Iinclude -Iforwarder \
		$(PKG_CFLAGS) -fsanitize=fuzzer,address,undefined \
		-o $@ $< $(filter %.c,$(filter-out $<,$^)) $(PKG_LIBS)

-include $(wildcard $(SDK_OBJ)/*/*.d)

# sdk-check: the SDK validator over files, for tests/host/sdk-schema.sh.
$(BUILD)/tools/sdk-check: tests/tools/sdk-check.c $(CORE)
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $< $(CORE) $(PKG_LIBS)
tests: $(BUILD)/tools/sdk-check

# make install-sdk [DESTDIR=...] [PREFIX=/usr/local]: header, libraries,
# pkg-config file (written for this PREFIX).
.PHONY: install-sdk
install-sdk: sdk
	$(quiet) INSTALL $(DESTDIR)$(PREFIX)
	$(Q)install -d $(DESTDIR)$(PREFIX)/include/iotsec \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig
	$(Q)install -m 0644 include/iotsec/iotsec.h $(DESTDIR)$(PREFIX)/include/iotsec/
	$(Q)install -m 0755 $(BUILD)/$(SDK_SONAME) $(DESTDIR)$(PREFIX)/lib/
	$(Q)ln -sf $(SDK_SONAME) $(DESTDIR)$(PREFIX)/lib/libiotsec.so
	$(Q)install -m 0644 $(BUILD)/libiotsec.a $(DESTDIR)$(PREFIX)/lib/
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
		forwarder/sdk/libiotsec.pc.in >$(DESTDIR)$(PREFIX)/lib/pkgconfig/libiotsec.pc

# utmp-write: append a wtmp/btmp record with updwtmpx (tests/host/sdk-e2e.sh).
$(BUILD)/tools/utmp-write: tests/tools/utmp-write.c
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -o $@ $<
tests: $(BUILD)/tools/utmp-write

# sdk-stream: numbered custom events at a steady rate through the static
# library, each answer logged (tests/host/delivery*.sh).
$(BUILD)/tools/sdk-stream: tests/tools/sdk-stream.c $(BUILD)/libiotsec.a
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) -std=gnu11 $(WARN) -Iinclude $(CFLAGS) -o $@ $< $(BUILD)/libiotsec.a
tests: $(BUILD)/tools/sdk-stream
