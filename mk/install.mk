# SPDX-License-Identifier: MIT
#
# make install [DESTDIR=...] [PREFIX=/usr/local] [SYSCONFDIR=/etc]
# make uninstall (same variables)
#
# Installs what has been built and what the tree ships, each only when
# present: iotsecd (sbin), iotsecctl (bin), the SDK (include/iotsec/*.h,
# $(BUILD)/libiotsec.so*, libiotsec.a, a generated libiotsec.pc), systemd
# units (systemd/*), the modules-load.d entry, man pages (man/*.[1-8]) and
# the default configuration (config/iotsecd.yaml). An existing
# /etc/iotsec/iotsecd.yaml is never overwritten: the new default goes next to
# it as iotsecd.yaml.new. The kernel module is installed by DKMS
# (mk/dkms.mk) or by "make -C kmod modules_install".
#
# Directories (override any): BINDIR SBINDIR LIBDIR INCLUDEDIR PKGCONFIGDIR
# MANDIR SYSTEMDUNITDIR MODULESLOADDIR. Units and modules-load.d go below
# /usr/lib for PREFIX=/usr, else to PREFIX/lib/systemd and /etc, where
# systemd reads them. INSTALL_MODULES_LOAD=0 leaves out modules-load.d (for
# packagers whose module package loads it, e.g. Yocto's
# KERNEL_MODULE_AUTOLOAD).
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
MANDIR ?= $(PREFIX)/share/man
ifeq ($(PREFIX),/usr)
SYSTEMDUNITDIR ?= /usr/lib/systemd/system
MODULESLOADDIR ?= /usr/lib/modules-load.d
else
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
MODULESLOADDIR ?= $(SYSCONFDIR)/modules-load.d
endif
INSTALL_MODULES_LOAD ?= 1
INSTALL ?= install
CONFDIR = $(SYSCONFDIR)/iotsec

# Units name the programs and the config by their PREFIX=/usr paths (or
# by placeholders); both follow PREFIX and SYSCONFDIR at install time.
UNIT_SUBST = -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
	-e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@CONFDIR@|$(CONFDIR)|g' \
	-e 's|/usr/sbin/iotsecd|$(SBINDIR)/iotsecd|g' \
	-e 's|/usr/bin/iotsecctl|$(BINDIR)/iotsecctl|g' \
	-e 's|/etc/iotsec/|$(CONFDIR)/|g'
PC_VERSION = $(patsubst v%,%,$(VERSION))

.PHONY: install uninstall libs

# libs: the SDK's libraries alone (libiotsec.so.1, libiotsec.so,
# libiotsec.a; mk/sdk.mk builds them), what packagers install with the
# programs (debian/rules, the Yocto recipe), without the SDK's examples.
libs: $(BUILD)/libiotsec.so.1 $(BUILD)/libiotsec.so $(BUILD)/libiotsec.a

install: $(PROGS)
	$(quiet) INSTALL "$(DESTDIR) (PREFIX=$(PREFIX))"
	$(Q)set -e; \
	for p in $(PROGS); do \
		case $${p##*/} in iotsecd) d=$(SBINDIR) ;; *) d=$(BINDIR) ;; esac; \
		$(INSTALL) -D -m 0755 $$p $(DESTDIR)$$d/$${p##*/}; \
	done; \
	for h in include/iotsec/*.h; do \
		[ -f "$$h" ] || continue; \
		$(INSTALL) -D -m 0644 $$h $(DESTDIR)$(INCLUDEDIR)/iotsec/$${h##*/}; \
	done; \
	lib=0; \
	for l in $(BUILD)/libiotsec.so* $(BUILD)/libiotsec.a; do \
		[ -e "$$l" ] || [ -L "$$l" ] || continue; \
		$(INSTALL) -d $(DESTDIR)$(LIBDIR); \
		cp -P $$l $(DESTDIR)$(LIBDIR)/; \
		[ -L "$$l" ] || chmod 0644 $(DESTDIR)$(LIBDIR)/$${l##*/}; \
		lib=1; \
	done; \
	if [ $$lib = 1 ]; then \
		$(INSTALL) -d $(DESTDIR)$(PKGCONFIGDIR); \
		sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(PC_VERSION)|' \
		    mk/libiotsec.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/libiotsec.pc; \
		chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/libiotsec.pc; \
	fi; \
	for u in systemd/*.service systemd/*.socket systemd/*.timer; do \
		[ -f "$$u" ] || continue; \
		$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR); \
		sed $(UNIT_SUBST) $$u >$(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
		chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
	done; \
	if [ "$(INSTALL_MODULES_LOAD)" = 1 ]; then \
		$(INSTALL) -d $(DESTDIR)$(MODULESLOADDIR); \
		printf '# Load the iotsec security event collector at boot.\niotsec\n' \
			>$(DESTDIR)$(MODULESLOADDIR)/iotsec.conf; \
		chmod 0644 $(DESTDIR)$(MODULESLOADDIR)/iotsec.conf; \
	fi; \
	for m in man/*.[1-8]; do \
		[ -f "$$m" ] || continue; \
		$(INSTALL) -D -m 0644 $$m $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; \
	done; \
	if [ -f config/iotsecd.yaml ]; then \
		c=$(DESTDIR)$(CONFDIR)/iotsecd.yaml; \
		$(INSTALL) -d -m 0755 $(DESTDIR)$(CONFDIR); \
		if [ ! -e "$$c" ]; then \
			$(INSTALL) -m 0600 config/iotsecd.yaml "$$c"; \
		elif ! cmp -s config/iotsecd.yaml "$$c"; then \
			$(INSTALL) -m 0600 config/iotsecd.yaml "$$c.new"; \
			echo "install: kept $$c; the new default is $$c.new"; \
		fi; \
	fi; \
	for r in config/rules/*.yaml; do \
		[ -f "$$r" ] || continue; \
		$(INSTALL) -D -m 0644 $$r $(DESTDIR)$(CONFDIR)/rules/$${r##*/}; \
	done

# The configuration stays when it differs from the shipped default.
uninstall:
	$(quiet) UNINSTALL "$(DESTDIR) (PREFIX=$(PREFIX))"
	$(Q)set -e; \
	for p in $(PROGS); do \
		rm -f $(DESTDIR)$(SBINDIR)/$${p##*/} $(DESTDIR)$(BINDIR)/$${p##*/}; \
	done; \
	rm -f $(DESTDIR)$(SBINDIR)/iotsecd $(DESTDIR)$(BINDIR)/iotsecctl; \
	rm -rf $(DESTDIR)$(INCLUDEDIR)/iotsec; \
	rm -f $(DESTDIR)$(LIBDIR)/libiotsec.so* $(DESTDIR)$(LIBDIR)/libiotsec.a \
		$(DESTDIR)$(PKGCONFIGDIR)/libiotsec.pc; \
	for u in systemd/*.service systemd/*.socket systemd/*.timer; do \
		[ -f "$$u" ] || continue; \
		rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/$${u##*/}; \
	done; \
	rm -f $(DESTDIR)$(MODULESLOADDIR)/iotsec.conf; \
	for m in man/*.[1-8]; do \
		[ -f "$$m" ] || continue; \
		rm -f $(DESTDIR)$(MANDIR)/man$${m##*.}/$${m##*/}; \
	done; \
	for r in config/rules/*.yaml; do \
		rm -f $(DESTDIR)$(CONFDIR)/rules/$${r##*/}; \
	done; \
	rmdir $(DESTDIR)$(CONFDIR)/rules 2>/dev/null || true; \
	c=$(DESTDIR)$(CONFDIR)/iotsecd.yaml; \
	rm -f "$$c.new"; \
	if [ -f "$$c" ] && [ -f config/iotsecd.yaml ] && cmp -s config/iotsecd.yaml "$$c"; then \
		rm -f "$$c"; \
	elif [ -f "$$c" ]; then \
		echo "uninstall: kept $$c (changed from the default)"; \
	fi; \
	rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true
