// SPDX-License-Identifier: GPL-2.0
/*
 * iotsec: security event collector for Linux IoT devices.
 */
#include <linux/module.h>

#include "compat.h"
#include "iotsec.h"

static int __init iotsec_init(void)
{
	int ret;

	ret = iotsec_netlink_init();
	if (ret)
		goto err_netlink;

	pr_info("iotsec: loaded\n");
	return 0;

err_netlink:
	return ret;
}

static void __exit iotsec_exit(void)
{
	iotsec_netlink_exit();
	pr_info("iotsec: unloaded\n");
}

module_init(iotsec_init);
module_exit(iotsec_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iotsec security event collector");
MODULE_AUTHOR("The iotsec authors");
