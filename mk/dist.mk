# SPDX-License-Identifier: MIT
#
# make dist   $(BUILD)/dist/iotsec-<version>.tar.gz, the release tarball:
#             the committed tree at HEAD (git archive: no build outputs, no
#             uncommitted change), plus a VERSION file that
#             scripts/version.sh reads where there is no git. Reproducible:
#             names in git's sorted order, every mtime the commit time, owner
#             and group 0, gzip without a name or a time stamp; two runs on
#             the same commit give the same bytes (tests/host/dist.sh).
# make deb    the Debian packages (mk/deb.mk).
DIST_VERSION = $(shell scripts/version.sh)
DIST_NAME = iotsec-$(DIST_VERSION)
DIST_DIR = $(BUILD)/dist
DIST_TARBALL = $(DIST_DIR)/$(DIST_NAME).tar.gz

.PHONY: dist
dist:
	$(quiet) DIST $(DIST_TARBALL)
	$(Q)git rev-parse --verify -q HEAD >/dev/null || \
		{ echo "make dist: needs a git checkout with a commit" >&2; exit 1; }
	@mkdir -p $(DIST_DIR)
	$(Q)git -c tar.umask=022 archive --format=tar --prefix=$(DIST_NAME)/ \
		--add-virtual-file=$(DIST_NAME)/VERSION:$(DIST_VERSION) HEAD | gzip -9 -n >$(DIST_TARBALL).tmp
	$(Q)mv $(DIST_TARBALL).tmp $(DIST_TARBALL)
	@echo $(DIST_TARBALL)
