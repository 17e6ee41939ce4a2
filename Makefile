# SPDX-License-Identifier: MIT
#
# iotsec: the user-facing entry point.
#
#   make                build the module (kmod/iotsec.ko) and the forwarder
#   make check          build everything, run host and VM tests
#   make demo           boot the lab with the module and show it working
#   make deps           install the Debian packages everything needs (root)
#   make lab            a shell in the QEMU lab with the module loaded
#
# Variables: KDIR (kernel build dir), KERNEL (a kernel of scripts/kernels.sh,
# 6.1 or 5.10: sets KDIR to its headers, fetched when needed; mk/kernels.mk),
# BUILD (output dir, default build), V=1 (show commands), SAN=0 (host tests
# without sanitizers).

# VERSION: scripts/version.sh (docs/install.md, "Versions"); a packager's
# VERSION=... on the command line is used as is, without running it.
# ARCH=arm64 / ARCH=arm with CROSS_COMPILE: a cross build for ARM into
# build/ARCH (mk/cross.mk sets the architecture's variables first).
include mk/cross.mk

ifneq ($(origin VERSION),command line)
VERSION := $(shell scripts/version.sh 2>/dev/null || echo 0.0.0+unknown)
endif
ifneq ($(KERNEL),)
KERNEL_ENV := $(shell scripts/kernels.sh env $(KERNEL))
KDIR := $(patsubst KDIR=%,%,$(filter KDIR=%,$(KERNEL_ENV)))
KMAKE := $(patsubst KMAKE=%,%,$(filter KMAKE=%,$(KERNEL_ENV)))
ifeq ($(KDIR),)
$(error no headers for KERNEL=$(KERNEL) (scripts/kernels.sh env $(KERNEL)))
endif
endif
KDIR ?= $(shell test -x scripts/kdir.sh && scripts/kdir.sh)
BUILD ?= build
SAN ?= 1

ifeq ($(V),1)
Q :=
quiet = @true
else
Q := @
quiet = @printf '  %-8s %s\n'
MAKEFLAGS += --no-print-directory
endif

PKGS := libnl-genl-3.0 libmosquitto libssl libcrypto yaml-0.1 json-c
PKG_CONFIG ?= pkg-config
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

CC ?= cc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-unused-parameter
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -DIOTSEC_VERSION='"$(VERSION)"' \
	-Iinclude -Iforwarder $(PKG_CFLAGS) -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=all

# The forwarder, a folder per stage (docs/architecture.md): every .c in
# them but the programs' mains is library code that the daemon, the CLI and
# the tests link. The SDK (forwarder/sdk/) is built on its own (mk/sdk.mk).
FWD_DIRS := common intake pipeline sources transport daemon cli
FWD_PROGS := forwarder/daemon/iotsecd.c forwarder/cli/iotsecctl.c
FWD_SRCS := $(filter-out $(FWD_PROGS),$(sort $(foreach d,$(FWD_DIRS),$(wildcard forwarder/$(d)/*.c))))
SDK_SRCS := $(wildcard forwarder/sdk/*.c)
PROGS := $(foreach p,$(FWD_PROGS),$(BUILD)/$(basename $(notdir $(p))))

OBJ := $(BUILD)/obj
SAN_OBJ := $(BUILD)/san
CORE := $(OBJ)/libcore.a
SAN_CORE := $(SAN_OBJ)/libcore.a
CORE_OBJS := $(patsubst %.c,$(OBJ)/%.o,$(FWD_SRCS))
SAN_CORE_OBJS := $(patsubst %.c,$(SAN_OBJ)/%.o,$(FWD_SRCS))

# Tests: tests/host/*.c run on the build machine with sanitizers,
# tests/vm/*.c run inside the QEMU lab, tests/vm/*.sh too.
KSFT := $(BUILD)/kselftest
HOST_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/host/*.c))
VM_TESTS := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/vm/*.c))
TEST_CFLAGS := -I$(KSFT) -Itests
ifeq ($(SAN),1)
HOST_TEST_CORE := $(SAN_CORE)
HOST_TEST_FLAGS := $(SAN_FLAGS)
else
HOST_TEST_CORE := $(CORE)
HOST_TEST_FLAGS :=
endif


.PHONY: all module forwarder tests check check-all check-host check-vm demo deps lab \
	clean distclean kselftest

all: module forwarder

deps:
	scripts/install-deps.sh

# Where the module is built: the tree (a cross build: a copy, mk/cross.mk).
KMOD_SRC ?= $(CURDIR)
module:
	$(Q)$(KMAKE) $(MAKE) -C $(KDIR) M=$(KMOD_SRC) modules $(if $(filter 1,$(V)),V=1)

forwarder: $(PROGS)

$(OBJ)/%.o: %.c
	$(quiet) CC $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) -c -o $@ $<

$(SAN_OBJ)/%.o: %.c
	$(quiet) CC-SAN $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(SAN_FLAGS) -c -o $@ $<

$(CORE): $(CORE_OBJS)
	$(quiet) AR $@
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(SAN_CORE): $(SAN_CORE_OBJS)
	$(quiet) AR $@
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(BUILD)/iotsecd: $(OBJ)/forwarder/daemon/iotsecd.o $(CORE)
$(BUILD)/iotsecctl: $(OBJ)/forwarder/cli/iotsecctl.o $(CORE)
$(PROGS):
	$(quiet) LD $@
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(PKG_LIBS)

# kselftest_harness.h and kselftest.h come from Debian's linux-source-6.1
# tarball, extracted once into the build directory, never committed.
kselftest: $(KSFT)/kselftest_harness.h

$(KSFT)/kselftest_harness.h:
	$(quiet) EXTRACT $(KSFT)
	$(Q)scripts/linux-source.sh $(BUILD)/linux-source
	@mkdir -p $(KSFT)
	$(Q)cp $(BUILD)/linux-source/tools/testing/selftests/kselftest_harness.h \
		$(BUILD)/linux-source/tools/testing/selftests/kselftest.h $(KSFT)/

$(BUILD)/tests/host/%: tests/host/%.c $(HOST_TEST_CORE) $(KSFT)/kselftest_harness.h
	$(quiet) CC-TEST $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(HOST_TEST_FLAGS) $(TEST_CFLAGS) \
		-o $@ $< $(HOST_TEST_CORE) $(PKG_LIBS)

$(BUILD)/tests/vm/%: tests/vm/%.c $(CORE) $(KSFT)/kselftest_harness.h
	$(quiet) CC-TEST $@
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(BASE_CFLAGS) $(CFLAGS) $(TEST_CFLAGS) \
		-o $@ $< $(CORE) $(PKG_LIBS)

tests: all $(HOST_TESTS) $(VM_TESTS)

# make check: installs what it needs, builds, runs every test (the ARM
# suite too: tests/run-check.sh, mk/arm.mk; CHECK_ARM=0 leaves it out);
# every test case counts once in the closing summary line. (Re-invokes make
# so that pkg-config sees freshly installed packages.)
check:
	$(Q)scripts/install-deps.sh
	$(Q)$(MAKE) check-all

check-all: tests
	$(Q)rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	$(Q)ARM_KERNELS="$(ARM_KERNELS)" tests/run-check.sh $(BUILD) $(BUILD)/results \
		$(KDIR) $(or $(KERNEL),6.1) || true
	$(Q)tests/summary.sh $(BUILD)/results

check-host: tests
	$(Q)rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	$(Q)tests/run-host.sh $(BUILD) $(BUILD)/results || true
	$(Q)tests/summary.sh $(BUILD)/results

check-vm: tests
	$(Q)rm -rf $(BUILD)/results && mkdir -p $(BUILD)/results
	$(Q)IOTSEC_KERNEL=$(or $(KERNEL),6.1) tests/run-vm.sh $(BUILD) $(BUILD)/results $(KDIR) || true
	$(Q)tests/summary.sh $(BUILD)/results

demo:
	$(Q)scripts/install-deps.sh
	$(Q)$(MAKE) all
	$(Q)scripts/demo.sh

lab: all
	$(Q)scripts/lab.sh --kdir $(KDIR) --insmod kmod/iotsec.ko --shell

clean:
	$(Q)$(MAKE) -C $(KDIR) M=$(KMOD_SRC) clean >/dev/null 2>&1 || true
	$(Q)rm -rf $(OBJ) $(SAN_OBJ) $(BUILD)/tests $(BUILD)/results $(PROGS)

distclean: clean
	$(Q)rm -rf $(BUILD)

# Further targets (install, dkms, bench, lint, ...) live one area a file.
include $(sort $(wildcard mk/*.mk))

# Not the Debian roots and kernel trees kept in BUILD (scripts/trixie-root.sh,
# scripts/kernel-pkgs.sh): their etc/*.d are directories, and large.
# Nor the ARM builds' (mk/cross.mk).
-include $(shell find $(BUILD) \( -path '$(BUILD)/trixie-root*' -o -path $(BUILD)/kernels \
	-o -path $(BUILD)/k -o -path $(BUILD)/arm64 -o -path $(BUILD)/armhf \) -prune \
	-o -name '*.d' -type f -print 2>/dev/null)
