# SPDX-License-Identifier: MIT
#
# Cross builds for ARM devices from the same Makefile:
#
#   make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-
#   make ARCH=arm CROSS_COMPILE=arm-linux-gnueabihf-
#
# build, into $(BUILD) = build/arm64 or build/armhf (the amd64 build in
# build/ and kmod/ is not touched):
#   iotsec.ko            against Debian bookworm's arm64 / armmp headers,
#                        fetched by scripts/kernel-pkgs.sh (KDIR= overrides;
#                        CROSS_FLAVOUR=armmp-lpae for the LPAE kernel), with
#                        -Werror, in a copy of the module's source under
#                        $(BUILD)/ksrc (Kbuild of 6.1 writes next to the
#                        sources)
#   iotsecd, iotsecctl, libiotsec (.so, .a), the examples
#   tests/vm/* (the programs the ARM guests run), the test modules and
#                        the test tools (iotsec-consume, loadgen)
# against Debian's multiarch libraries (/usr/lib/<triplet>, the -dev
# packages :arm64 / :armhf that scripts/install-deps.sh installs), through
# pkg-config's directory of that architecture. The goal is `cross` (the
# default then); the host tests, fuzzers and sanitizer builds of `make
# tests` and `make check` are for the build machine only.
#
# Read twice: first by the Makefile before its own variables (the
# architecture's BUILD, CC, AR, PKG_CONFIG and KDIR), then with mk/*.mk for
# the rules, which need the Makefile's lists.

ifndef IOTSEC_CROSS_VARS
IOTSEC_CROSS_VARS := 1

CROSS_DEB_ARCH :=
ifeq ($(ARCH),arm64)
CROSS_DEB_ARCH := arm64
CROSS_TRIPLET := aarch64-linux-gnu
CROSS_FLAVOUR ?= arm64
CROSS_ELF_MACHINE := AArch64
endif
ifeq ($(ARCH),arm)
CROSS_DEB_ARCH := armhf
CROSS_TRIPLET := arm-linux-gnueabihf
CROSS_FLAVOUR ?= armmp
CROSS_ELF_MACHINE := ARM
endif

ifneq ($(CROSS_DEB_ARCH),)
CROSS_COMPILE ?= $(CROSS_TRIPLET)-
BUILD ?= build/$(CROSS_DEB_ARCH)
ifeq ($(origin CC),default)
CC := $(CROSS_COMPILE)gcc
endif
ifeq ($(origin AR),default)
AR := $(CROSS_COMPILE)ar
endif
PKG_CONFIG ?= PKG_CONFIG_LIBDIR=/usr/lib/$(CROSS_TRIPLET)/pkgconfig:/usr/share/pkgconfig \
	PKG_CONFIG_PATH= pkg-config
# The architecture's headers: bookworm's, fetched and cached once.
ifeq ($(origin KDIR),undefined)
CROSS_KPKG := $(if $(filter armmp-lpae,$(CROSS_FLAVOUR)),armhf-lpae,$(CROSS_DEB_ARCH))
KDIR := $(shell scripts/kernel-pkgs.sh bookworm $(CROSS_KPKG) 2>/dev/null | sed -n 's/^KDIR=//p')
ifeq ($(KDIR),)
$(error no bookworm $(CROSS_KPKG) kernel headers: scripts/kernel-pkgs.sh bookworm $(CROSS_KPKG) failed)
endif
endif
# The module and the test modules are built in a copy of their sources.
KMOD_SRC := $(abspath $(BUILD))/ksrc
# Warnings are errors in the module on every architecture.
export KCFLAGS := -Werror $(KCFLAGS)
.DEFAULT_GOAL := cross
endif

else # the second reading, with mk/*.mk: the rules

ifneq ($(CROSS_DEB_ARCH),)
# 32-bit: the kselftest harness prints both operands of ASSERT_*/EXPECT_*
# through a cast to intmax_t, which for a pointer (ASSERT_NE(NULL, p)) is
# a widening one, -Wpointer-to-int-cast. That is the harness's code, not
# the tests': it is read as a system header there, so its own casts do not
# warn and everything in the tests still does.
ifeq ($(CROSS_DEB_ARCH),armhf)
TEST_CFLAGS := -isystem $(KSFT) -Itests
endif

.PHONY: cross cross-ksrc
cross: all $(VM_TESTS) test-modules test-tools
	$(Q)cp $(KMOD_SRC)/kmod/iotsec.ko $(BUILD)/iotsec.ko
	$(quiet) DONE "$(BUILD) ($(CROSS_DEB_ARCH), $(notdir $(KDIR)))"

# The copy is refreshed each time (cp -u: only what changed), so that the
# kernel's make sees the tree's edits by their times.
cross-ksrc:
	@mkdir -p $(KMOD_SRC)
	$(Q)cp -ru --parents Kbuild $(shell find kmod include tests/modules \
		\( -name '*.[ch]' -o -name Kbuild -o -name Makefile \) ! -name '*.mod.c') \
		$(KMOD_SRC)/
module: cross-ksrc
$(patsubst tests/modules/%/Kbuild,$(BUILD)/test-modules/%.ko,$(wildcard tests/modules/*/Kbuild)): \
	| cross-ksrc
endif

endif
