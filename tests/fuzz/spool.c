// SPDX-License-Identifier: MIT
/*
 * libFuzzer: the spool's recovery. The input becomes segment files of a
 * spool directory (split in two at the position the first two bytes
 * give), which is then opened, published and acknowledged, appended to
 * and closed. Whatever the files hold: no crash, no leak, the counters
 * add up, every payload read back is the length its record says, and the
 * files never exceed the bound after open.
 *   make fuzz && build/fuzz/spool -max_len=65536 build/fuzz/spool-corpus/
 * (a seed: any segment file the host tests leave, or a spool directory's)
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "transport/spool.h"

static char dir[64];

static void put(const char *name, const unsigned char *d, size_t n)
{
	char p[128];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		abort();
	if (n && write(fd, d, n) != (ssize_t)n)
		abort();
	close(fd);
}

static unsigned long long dir_bytes(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	struct stat st;
	unsigned long long sum = 0;
	char p[384];

	while (d && (de = readdir(d))) {
		if (strlen(de->d_name) != 20)
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (!stat(p, &st) && S_ISREG(st.st_mode))
			sum += st.st_size;
	}
	if (d)
		closedir(d);
	return sum;
}

static void clean(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			unlinkat(dirfd(d), de->d_name, 0);
	if (d)
		closedir(d);
}

static void cleanup(void)
{
	clean();
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	struct spool_config cfg = { .size = 256 << 10, .sync_ms = 1000 };
	struct spool *s;
	struct spool_stats st;
	struct spool_rec *r;
	size_t cut;
	int mid = 1;
	char id[37] = "00000000-0000-4000-8000-000000000001";

	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/iotsec-fuzz-spool.%d",
			 (int)getpid());
		mkdir(dir, 0700);
		atexit(cleanup);
	}
	clean();
	cfg.path = dir;
	cut = len >= 2 ? ((size_t)data[0] << 8 | data[1]) : 0;
	if (cut > len)
		cut = len;
	put("0000000000000001.seg", data, cut);
	put("0000000000000002.seg", data + cut, len - cut);
	if (spool_open(&s, &cfg, NULL, 0))
		abort();
	spool_get_stats(s, &st);
	if (st.disk && dir_bytes() > cfg.size)
		abort();
	if (st.recovered_records != st.records + st.dropped_messages[PRIO_LOW] +
	    st.dropped_messages[PRIO_HIGH] + st.dropped_messages[PRIO_ALERT])
		abort();
	/* publish everything, acknowledging every other one */
	while ((r = spool_next(s))) {
		uint32_t n = r->len;
		const char *p = spool_payload(s, r);

		if (!p)
			continue;
		if (p[n] != '\0')	/* read back whole, terminated */
			abort();
		spool_set_inflight(s, r, mid);
		if (mid % 2 && spool_ack_mid(s, mid))
			abort();
		mid++;
	}
	spool_requeue_inflight(s);
	if (spool_append(s, PRIO_ALERT, MSG_AZURE, 1, id, "{}", 2, 1))
		abort();
	spool_get_stats(s, &st);
	if (st.records + st.acked + st.dropped_messages[PRIO_LOW] +
	    st.dropped_messages[PRIO_HIGH] + st.dropped_messages[PRIO_ALERT] !=
	    st.recovered_records + st.written)
		abort();
	spool_close(s);
	return 0;
}
