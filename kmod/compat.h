/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Differences between the kernels iotsec supports (5.10 and newer) live
 * here and only here; Kbuild probes the target's headers for features and
 * passes IOTSEC_HAVE_* defines.
 */
#ifndef _IOTSEC_COMPAT_H
#define _IOTSEC_COMPAT_H

#include <linux/version.h>

#if LINUX_VERSION_CODE < KERNEL_VERSION(5, 10, 0)
#error "iotsec needs Linux 5.10 or newer"
#endif

/*
 * Since 6.1 generic netlink validates strictly only the operations at or
 * after resv_start_op; earlier kernels validate every operation strictly
 * unless told otherwise.
 */
#ifdef IOTSEC_HAVE_RESV_START_OP
#define IOTSEC_GENL_RESV_START_OP .resv_start_op = IOTSEC_CMD_SUBSCRIBE,
#else
#define IOTSEC_GENL_RESV_START_OP
#endif

#endif /* _IOTSEC_COMPAT_H */
