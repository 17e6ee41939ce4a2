// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module: warns when loaded, so that the lab's own tests can
 * check that a kernel warning fails the run.
 */
#include <linux/bug.h>
#include <linux/module.h>

static int __init warn_init(void)
{
	WARN(1, "iotsec test: deliberate warning\n");
	return 0;
}

static void __exit warn_exit(void)
{
}

module_init(warn_init);
module_exit(warn_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iotsec test module that warns on load");
