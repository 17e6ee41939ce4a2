// SPDX-License-Identifier: GPL-2.0
/*
 * iotsec: security event collector for Linux IoT devices.
 */
#include <linux/module.h>

#include "compat.h"
#include "iotsec.h"

/* Not readable in sysfs (mode 0): the token stays a secret. */
static char *lock_token;
module_param(lock_token, charp, 0);
MODULE_PARM_DESC(lock_token,
		 "locked mode: refuse unload and coverage cuts without this token");

bool iotsec_early = true;
module_param_named(early, iotsec_early, bool, 0444);
MODULE_PARM_DESC(early,
		 "record from load and while nobody is subscribed, for the next subscriber (default 1)");

static int __init iotsec_init(void)
{
	int ret;

	ret = iotsec_config_init();
	if (ret)
		goto err_config;
	ret = iotsec_buffer_init();
	if (ret)
		goto err_buffer;
	ret = iotsec_hooks_init();
	if (ret)
		goto err_hooks;
	ret = iotsec_netlink_init();
	if (ret)
		goto err_netlink;
	ret = iotsec_tamper_init(lock_token);
	if (ret)
		goto err_tamper;
	/*
	 * Record from now on, once nothing can fail any more (an attempt
	 * started before a failed init would run module code after it is
	 * freed): the first subscriber gets what the buffers hold.
	 */
	if (iotsec_early)
		iotsec_config_set_active(true);

	pr_info("loaded, events 0x%x, missing 0x%x, %u bytes per CPU%s\n",
		iotsec_hooks_caps(), iotsec_hooks_missing(),
		iotsec_buffer_bytes(), iotsec_early ? ", recording" : "");
	return 0;

err_tamper:
	iotsec_netlink_exit();
err_netlink:
	iotsec_hooks_exit();
	iotsec_attempt_exit();
	iotsec_config_watches_exit();
err_hooks:
	iotsec_buffer_exit();
err_buffer:
	iotsec_config_exit();
err_config:
	return ret;
}

/*
 * Hooks and the watches' fsnotify marks go first, so nothing writes to the
 * buffers; then the family, the flush worker and the consumers; then the
 * memory.
 */
static void __exit iotsec_exit(void)
{
	iotsec_hooks_exit();
	iotsec_attempt_exit();
	iotsec_config_watches_exit();
	iotsec_tamper_exit();
	iotsec_netlink_exit();
	iotsec_buffer_exit();
	iotsec_config_exit();
	pr_info("unloaded\n");
}

module_init(iotsec_init);
module_exit(iotsec_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("iotsec security event collector");
MODULE_AUTHOR("The iotsec authors");
