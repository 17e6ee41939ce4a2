# SPDX-License-Identifier: MIT
SUMMARY = "iotsec forwarder: iotsecd, iotsecctl and the libiotsec SDK"
DESCRIPTION = "Reads security events from the iotsec kernel module and the \
SDK socket, analyses and aggregates them and publishes them to Azure IoT Hub \
or any MQTT broker over TLS."
SECTION = "net"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSES/preferred/MIT;md5=e56184c15c4c8f7e6629c6346768a393"

require conf/include/iotsec-source.inc

S = "${UNPACKDIR}/${BP}"
EXTERNALSRC = "${IOTSEC_SRCDIR}"
# the sysvinit script (below), from the layer
SRC_URI += "file://iotsecd.init"

DEPENDS = "libnl mosquitto openssl libyaml json-c"

inherit systemd update-rc.d pkgconfig

# The Makefile links with $(CC) $(CFLAGS) only: pass LDFLAGS through CC so
# the binaries and libiotsec.so.1 get the distro's linker flags (GNU_HASH,
# relro, ...).
TARGET_CC_ARCH += "${LDFLAGS}"

# VERSION: no scripts/version.sh of whatever repository TMPDIR sits in.
# SAN=0: no sanitizers on target builds. WARN: the project's warnings
# without -Werror, so a newer compiler's new warning does not break an
# image build. BUILD: objects in the work directory, also with externalsrc
# (never in a developer's build/). KDIR: the module is iotsec-mod's. The
# module's autoload comes from iotsec-mod (KERNEL_MODULE_AUTOLOAD), not from
# the forwarder's package.
EXTRA_OEMAKE = "-C ${S} VERSION=${PV} SAN=0 BUILD=${WORKDIR}/iotsec-build KDIR=/nonexistent \
                PREFIX=${prefix} SYSCONFDIR=${sysconfdir} \
                LIBDIR=${libdir} SYSTEMDUNITDIR=${systemd_system_unitdir} \
                INSTALL_MODULES_LOAD=0 \
                WARN='-Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter'"

# the daemon, the CLI and libiotsec (libiotsec.so.1 in ${PN}, the .so
# link, header and libiotsec.pc in ${PN}-dev, libiotsec.a in
# ${PN}-staticdev)
do_compile() {
	oe_runmake forwarder libs
}

do_install() {
	oe_runmake install DESTDIR=${D}
	if ${@bb.utils.contains('DISTRO_FEATURES', 'sysvinit', 'true', 'false', d)}; then
		install -D -m 0755 ${UNPACKDIR}/iotsecd.init ${D}${sysconfdir}/init.d/iotsecd
	fi
}

SYSTEMD_SERVICE:${PN} = "iotsecd.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

# sysvinit images: /etc/init.d/iotsecd, started in runlevels 2-5
INITSCRIPT_NAME = "iotsecd"
INITSCRIPT_PARAMS = "defaults 90 10"

CONFFILES:${PN} = "${sysconfdir}/iotsec/iotsecd.yaml"

# The daemon is useless without the module; a device may still load it
# from elsewhere, so recommend rather than depend.
RRECOMMENDS:${PN} += "kernel-module-iotsec"
RDEPENDS:${PN} += "ca-certificates"
