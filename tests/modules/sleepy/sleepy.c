// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only module whose init sleeps for "ms" milliseconds and then
 * returns "ret": loads that block in init, and loads whose init fails.
 */
#include <linux/delay.h>
#include <linux/module.h>

static unsigned int ms;
module_param(ms, uint, 0444);
static int ret;
module_param(ret, int, 0444);

static int __init sleepy_init(void)
{
	msleep(ms);
	return ret;
}

static void __exit sleepy_exit(void)
{
}

module_init(sleepy_init);
module_exit(sleepy_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iotsec test module whose init sleeps");
