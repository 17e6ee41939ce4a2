# SPDX-License-Identifier: MIT
SUMMARY = "iotsec: kernel collector and forwarder"
LICENSE = "MIT"

# Depends on a kernel module, which is machine specific.
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

RDEPENDS:${PN} = "iotsec iotsec-mod"
