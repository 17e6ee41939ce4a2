# SPDX-License-Identifier: MIT
SUMMARY = "iotsec kernel module: security event collector"
DESCRIPTION = "Watches process, network, credential, module, ptrace and file \
events and streams them over the iotsec generic netlink family to iotsecd."
SECTION = "kernel/modules"
LICENSE = "GPL-2.0-only"
LIC_FILES_CHKSUM = "file://../LICENSES/preferred/GPL-2.0;md5=e6a75371ba4d16749254a51215d13f97"

require conf/include/iotsec-source.inc

# kmod/ of the source, with ../include/uapi beside it
S = "${UNPACKDIR}/${BP}/kmod"
EXTERNALSRC = "${IOTSEC_SRCDIR}/kmod"

# module.bbclass runs "make KERNEL_SRC=${STAGING_KERNEL_DIR}" and then
# "make modules_install" in ${S}: kmod/Makefile passes both to kbuild.
inherit module

# The module is an empty meta package depending on the split
# kernel-module-iotsec-<kver>; let images ask for it by its usual name.
RPROVIDES:${PN} += "kernel-module-iotsec"

# Load at boot (/etc/modules-load.d/iotsec.conf). Module parameters go in
# local.conf or a bbappend: module_conf_iotsec = "options iotsec ..." with
# KERNEL_MODULE_PROBECONF += "iotsec".
KERNEL_MODULE_AUTOLOAD += "iotsec"
