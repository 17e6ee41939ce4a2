# SPDX-License-Identifier: MIT
#
# DKMS: put the module source in /usr/src/iotsec-<version> and let DKMS
# build and install it for the target kernel (and every later one).
#
#   make dkms-install [DKMS_KERNEL=<release>]   copy, dkms add, build, install
#   make dkms-uninstall                         dkms remove, delete the copy
#   make dkms-source [DESTDIR=...]              only copy (for packagers)
#
# DKMS_KERNEL defaults to the running kernel; give it when the running
# kernel has no headers (e.g. DKMS_KERNEL=6.1.0-56-amd64).
DKMS_NAME := iotsec
DKMS_VERSION = $(shell sed -n 's/^PACKAGE_VERSION="\(.*\)"$$/\1/p' dkms.conf 2>/dev/null)
DKMS_SRCDIR = $(DESTDIR)/usr/src/$(DKMS_NAME)-$(DKMS_VERSION)
DKMS ?= dkms
DKMS_KERNEL ?=
DKMS_K := $(if $(DKMS_KERNEL),-k $(DKMS_KERNEL))

# What the module build needs, and nothing built: sources, Kbuild files,
# the UAPI header, the licenses.
DKMS_FILES = dkms.conf Kbuild \
	$(shell find kmod include/uapi LICENSES -type f \( -name '*.[ch]' \
		-o -name Kbuild -o -name Makefile -o -name '*.sh' \
		-o -path 'LICENSES/*' \) 2>/dev/null | sort)

.PHONY: dkms-source dkms-install dkms-uninstall

dkms-source:
	$(quiet) DKMS-SRC $(DKMS_SRCDIR)
	$(Q)rm -rf $(DKMS_SRCDIR)
	$(Q)for f in $(DKMS_FILES); do \
		install -D -m 0644 $$f $(DKMS_SRCDIR)/$$f || exit 1; \
	done

# Re-running replaces an earlier registration of the same version, so the
# target always installs what is in this tree.
dkms-install: dkms-source
	$(Q)if $(DKMS) status -m $(DKMS_NAME) -v $(DKMS_VERSION) | grep -q .; then \
		$(DKMS) remove -m $(DKMS_NAME) -v $(DKMS_VERSION) --all; \
	fi
	$(Q)$(DKMS) add -m $(DKMS_NAME) -v $(DKMS_VERSION)
	$(Q)$(DKMS) build -m $(DKMS_NAME) -v $(DKMS_VERSION) $(DKMS_K)
	$(Q)$(DKMS) install -m $(DKMS_NAME) -v $(DKMS_VERSION) $(DKMS_K)

dkms-uninstall:
	$(Q)if $(DKMS) status -m $(DKMS_NAME) -v $(DKMS_VERSION) | grep -q .; then \
		$(DKMS) remove -m $(DKMS_NAME) -v $(DKMS_VERSION) --all; \
	fi
	$(Q)rm -rf $(DKMS_SRCDIR)
