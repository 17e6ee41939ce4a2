/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _IOTSEC_H
#define _IOTSEC_H

#include <linux/types.h>

int iotsec_netlink_init(void);
void iotsec_netlink_exit(void);

#endif /* _IOTSEC_H */
