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
DEB_ARCH ?=
DEB_REVISION ?= 1
DEB_DIR = $(BUILD)/deb

.PHONY: deb deb-lint
deb: dist
	$(Q)scripts/deb-build.sh "$(DIST_TARBALL)" "$(DEB_DIR)" "$(DEB_REVISION)" "$(DEB_ARCH)"

deb-lint:
	$(Q)lintian --fail-on error --info --display-info $(DEB_DIR)/*.deb

# The package tests (host: lintian; lab: install, upgrade, purge) use the
# packages of this checkout.
check-all check-vm: deb
