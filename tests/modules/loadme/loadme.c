// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module that does nothing: the module-load event test loads it.
 */
#include <linux/module.h>

static int __init loadme_init(void)
{
	return 0;
}

static void __exit loadme_exit(void)
{
}

module_init(loadme_init);
module_exit(loadme_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iotsec test module to load");
