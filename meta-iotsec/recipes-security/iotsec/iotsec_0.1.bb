# SPDX-License-Identifier: MIT
SUMMARY = "iotsec forwarder: iotsecd, iotsecctl and the libiotsec SDK"
DESCRIPTION = "Reads security events from the iotsec kernel module and the \
SDK socket, analyses and aggregates them and publishes them to Azure IoT Hub \
or any MQTT broker over TLS."
SECTION = "net"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://LICENSES/preferred/MIT;md5=e56184c15c4c8f7e6629c6346768a393"

require conf/include/iotsec-source.inc

DEPENDS = "libnl mosquitto openssl libyaml json-c"

SRC_URI = "file://Makefile;subdir=${BP} \
           file://mk;subdir=${BP} \
           file://forwarder;subdir=${BP} \
           file://include;subdir=${BP} \
           file://config;subdir=${BP} \
           file://systemd;subdir=${BP} \
           file://LICENSES;subdir=${BP} \
"
S = "${WORKDIR}/${BP}"

inherit systemd pkgconfig

# The Makefile links with $(CC) $(CFLAGS) only: pass LDFLAGS through CC so
# the binaries get the distro's linker flags (GNU_HASH, relro, ...).
TARGET_CC_ARCH += "${LDFLAGS}"

# VERSION: no "git describe" of whatever repository TMPDIR sits in.
# SAN=0: no sanitizers on target builds. WARN: the project's warnings
# without -Werror, so a newer compiler's new warning does not break an
# image build. The module's autoload comes from iotsec-mod
# (KERNEL_MODULE_AUTOLOAD), not from the forwarder's package.
EXTRA_OEMAKE = "VERSION=${PV} SAN=0 PREFIX=${prefix} SYSCONFDIR=${sysconfdir} \
                LIBDIR=${libdir} SYSTEMDUNITDIR=${systemd_system_unitdir} \
                INSTALL_MODULES_LOAD=0 \
                WARN='-Wall -Wextra -Wshadow -Wformat=2 -Wno-unused-parameter'"

do_compile() {
	oe_runmake forwarder
}

do_install() {
	oe_runmake install DESTDIR=${D}
}

SYSTEMD_SERVICE:${PN} = "iotsecd.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

CONFFILES:${PN} = "${sysconfdir}/iotsec/iotsecd.yaml"

# The daemon is useless without the module; a device may still load it
# from elsewhere, so recommend rather than depend.
RRECOMMENDS:${PN} += "kernel-module-iotsec"
RDEPENDS:${PN} += "ca-certificates"
