# SPDX-License-Identifier: MIT
#
# make deb [DEB_ARCH=arm64|armhf] [DEB_REVISION=1]
#   The Debian packages iotsec-dkms, iotsecd, libiotsec1 and libiotsec-dev,
#   built with dpkg-buildpackage from make dist's tarball (the committed
#   tree at HEAD, with its debian/) in $(BUILD)/deb/. The version is
#   scripts/version.sh's, the Debian revision DEB_REVISION. DEB_ARCH other
#   than the build machine's cross-builds (dpkg-buildpackage -a) and needs
#   the cross compiler and the architecture's -dev packages (docs/install.md).
#   Build dependencies: scripts/install-deps.sh.
# make deb-lint   lintian on them (tests/host/deb-lintian.sh)
#   Without DEB_ARCH, the build machine's packages in $(BUILD)/deb and, for
#   each of DEB_CROSS_ARCHS (arm64 armhf) whose cross compiler is installed
#   (scripts/install-deps.sh), that architecture's in $(BUILD)/deb/ARCH
#   (DEB_CROSS_ARCHS= builds none).
DEB_ARCH ?=
DEB_CROSS_ARCHS ?= arm64 armhf
DEB_REVISION ?= 1
DEB_DIR = $(BUILD)/deb

.PHONY: deb deb-lint
deb: dist
	$(Q)scripts/deb-build.sh "$(DIST_TARBALL)" "$(DEB_DIR)" "$(DEB_REVISION)" "$(DEB_ARCH)"
ifeq ($(DEB_ARCH),)
	$(Q)for a in $(DEB_CROSS_ARCHS); do \
		gnu=$$(dpkg-architecture -a$$a -qDEB_HOST_GNU_TYPE 2>/dev/null); \
		if command -v $$gnu-gcc >/dev/null; then \
			scripts/deb-build.sh "$(DIST_TARBALL)" "$(DEB_DIR)/$$a" "$(DEB_REVISION)" $$a || exit 1; \
		else \
			echo "  make deb: no $$gnu-gcc, no $$a packages (scripts/install-deps.sh)"; \
		fi; \
	done
endif

deb-lint:
	$(Q)lintian --fail-on error --info --display-info $(DEB_DIR)/*.deb \
		$(wildcard $(DEB_DIR)/*/*.deb)

# The package tests (host: tests/host/deb-lintian.sh; lab:
# tests/vm/test-deb-install.sh) use the packages of this checkout. A failed
# build does not stop make check: deb-lintian.sh reports it (not ok).
# make check lints the amd64 packages (tests/host/deb-lintian.sh); the
# arm64/armhf ones cost two more package builds: DEB_CHECK_ARCHS="arm64
# armhf" to build them too.
DEB_CHECK_ARCHS ?=
.PHONY: deb-for-check
deb-for-check:
	$(Q)rm -rf $(DEB_DIR) && mkdir -p $(BUILD)
	$(Q)$(MAKE) deb DEB_CROSS_ARCHS="$(DEB_CHECK_ARCHS)" >$(BUILD)/deb.log 2>&1 || \
		echo "  make deb failed: $(BUILD)/deb.log (tests/host/deb-lintian.sh reports it)"
check-all check-vm: deb-for-check

# make check runs tests/vm/test-deb-install.sh's fast mode in its 6.1 lab
# run (one DKMS build: iotsecd alone is upgraded). make check-packages: its
# full mode (IOTSEC_DEB_VM=1: all four packages upgraded, so DKMS builds the
# module twice).
#
# Then the arm64 packages (cross-built: DEB_CHECK_ARCHS=arm64) in the arm64
# lab, the fast mode (IOTSEC_DEB_VM=fast): the lab's root is
# scripts/arm-root.sh's with apt, DKMS, gcc and the kernel's arm64 headers
# (ARM_ROOT_DEB), so DKMS builds the module with the guest's own compiler.
# DEB_CHECK_PACKAGES_ARM= leaves it out.
DEB_CHECK_PACKAGES_ARM ?= arm64
.PHONY: check-packages
check-packages: DEB_CHECK_ARCHS = $(DEB_CHECK_PACKAGES_ARM)
check-packages: tests deb-for-check
	$(Q)rm -rf $(BUILD)/results-deb && mkdir -p $(BUILD)/results-deb
	$(Q)IOTSEC_DEB_VM=1 VM_ONLY=test-deb-install IOTSEC_KERNEL=6.1 \
		tests/run-vm.sh $(BUILD) $(BUILD)/results-deb $(KDIR) || true
	$(Q)for a in $(DEB_CHECK_PACKAGES_ARM); do \
		kenv=$$(scripts/kernel-pkgs.sh bookworm $$a) || { \
			echo "  check-packages: no $$a kernel (scripts/kernel-pkgs.sh)"; continue; }; \
		kdir=$$(echo "$$kenv" | sed -n 's/^KDIR=//p'); \
		kver=$$(echo "$$kenv" | sed -n 's/^KVER=//p'); \
		ARM_ROOT_DEB=linux-headers-$$kver IOTSEC_DEB_VM=fast VM_ONLY=test-deb-install \
		IOTSEC_KERNEL=$$a VM_TIMEOUT=$${VM_TIMEOUT:-2400} \
		IOTSEC_DEB_APT_TIMEOUT=$${IOTSEC_DEB_APT_TIMEOUT:-1800} \
			tests/run-vm.sh $(BUILD) $(BUILD)/results-deb $$kdir || true; \
	done
	$(Q)tests/summary.sh $(BUILD)/results-deb
