// SPDX-License-Identifier: MIT
/*
 * PackageInventory (sources/snapshot_packages.c): installed packages from
 * a dpkg status file and an opkg one (fabricated, as Yocto/OpenWrt write
 * them), the host's real /var/lib/dpkg/status, the events' shape and
 * their split, the content digest, and hostile input: truncated files,
 * garbage, huge fields, no newline at the end.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <json-c/json.h>
#include "sources/snapshot.h"

static const char dpkg[] =
	"Package: libc6\n"
	"Status: install ok installed\n"
	"Priority: optional\n"
	"Architecture: amd64\n"
	"Version: 2.36-9+deb12u4\n"
	"Description: GNU C Library: Shared libraries\n"
	" Contains the standard libraries.\n"
	" Package: not-a-package\n"
	"\n"
	"Package: removed-one\n"
	"Status: deinstall ok config-files\n"
	"Architecture: amd64\n"
	"Version: 1.0\n"
	"\n"
	"Package: openssh-server\n"
	"Status: hold ok installed\n"
	"Architecture: amd64\n"
	"Version: 1:9.2p1-2+deb12u2\n"
	"Conffiles:\n"
	" /etc/ssh/moduli 0123\n";

static const char opkg[] =
	"Package: busybox\n"
	"Version: 1.36.1-r0\n"
	"Depends: libc6 (>= 2.37)\n"
	"Status: install user installed\n"
	"Architecture: cortexa7t2hf-neon-vfpv4\n"
	"Installed-Time: 1700000000\n"
	"\r\n"
	"Package: dropbear\n"
	"Version: 2022.83-r0\n"
	"Status: install ok installed\n"
	"Architecture: cortexa7t2hf-neon-vfpv4\n";

TEST(dpkg_and_opkg)
{
	struct pkg_list l = { 0 };

	ASSERT_EQ(0, pkg_parse(&l, dpkg, sizeof(dpkg) - 1, "dpkg"));
	ASSERT_EQ(2, l.n);
	EXPECT_STREQ("libc6", l.p[0].name);
	EXPECT_STREQ("2.36-9+deb12u4", l.p[0].version);
	EXPECT_STREQ("amd64", l.p[0].arch);
	EXPECT_STREQ("dpkg", l.p[0].source);
	EXPECT_STREQ("openssh-server", l.p[1].name);
	EXPECT_STREQ("1:9.2p1-2+deb12u2", l.p[1].version);
	ASSERT_EQ(0, pkg_parse(&l, opkg, sizeof(opkg) - 1, "opkg"));
	ASSERT_EQ(4, l.n);
	EXPECT_STREQ("busybox", l.p[2].name);
	EXPECT_STREQ("cortexa7t2hf-neon-vfpv4", l.p[2].arch);
	EXPECT_STREQ("dropbear", l.p[3].name);	/* no blank line at the end */
	EXPECT_STREQ("2022.83-r0", l.p[3].version);
	EXPECT_STREQ("opkg", l.p[3].source);
	pkg_list_free(&l);
}

static void write_file(const char *p, const char *s, size_t n)
{
	FILE *f = fopen(p, "w");

	if (!f || fwrite(s, 1, n, f) != n)
		abort();
	fclose(f);
}

TEST(collect_events_and_digest)
{
	char dir[] = "/tmp/pkg-test.XXXXXX", a[64], b[64];
	struct snapshot_config c;
	struct pkg_list l;
	struct json_object *evs, *ev, *p;
	uint8_t d1[32], d2[32];

	ASSERT_NE(NULL, mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/dpkg", dir);
	snprintf(b, sizeof(b), "%s/opkg", dir);
	write_file(a, dpkg, sizeof(dpkg) - 1);
	write_file(b, opkg, sizeof(opkg) - 1);
	snapshot_config_defaults(&c);
	snprintf(c.pkg_status[0], PKG_PATH_MAX, "%s", a);
	snprintf(c.pkg_status[1], PKG_PATH_MAX, "%s", b);
	c.pkg_status[2][0] = '\0';
	ASSERT_EQ(0, pkg_collect(&c, &l));
	ASSERT_EQ(4, l.n);
	/* sorted by name */
	EXPECT_STREQ("busybox", l.p[0].name);
	EXPECT_STREQ("openssh-server", l.p[3].name);
	pkg_digest(&l, d1);
	evs = snapshot_packages_events(&l);
	ASSERT_EQ(1, json_object_array_length(evs));
	ev = json_object_array_get_idx(evs, 0);
	EXPECT_STREQ("PackageInventory", json_object_get_string(
			     json_object_object_get(ev, "Name")));
	EXPECT_STREQ("Periodic", json_object_get_string(
			     json_object_object_get(ev, "Category")));
	p = json_object_object_get(ev, "Payload");
	ASSERT_EQ(4, json_object_array_length(p));
	EXPECT_STREQ("{ \"Name\": \"busybox\", \"Version\": \"1.36.1-r0\", "
		     "\"Architecture\": \"cortexa7t2hf-neon-vfpv4\", "
		     "\"Source\": \"opkg\" }",
		     json_object_to_json_string(json_object_array_get_idx(p, 0)));
	json_object_put(evs);
	pkg_list_free(&l);
	/* the same content: the same digest; a version changed: another */
	ASSERT_EQ(0, pkg_collect(&c, &l));
	pkg_digest(&l, d2);
	EXPECT_EQ(0, memcmp(d1, d2, 32));
	pkg_list_free(&l);
	{
		uint64_t s1 = pkg_stamp(&c), s2;
		char *m = strdup(opkg);

		*strstr(m, "2022.83") = '3';
		usleep(10000);
		write_file(b, m, strlen(m));
		free(m);
		s2 = pkg_stamp(&c);
		EXPECT_NE(s1, s2);
	}
	ASSERT_EQ(0, pkg_collect(&c, &l));
	pkg_digest(&l, d2);
	EXPECT_NE(0, memcmp(d1, d2, 32));
	pkg_list_free(&l);
	/* none of the files: no packages, one empty event */
	c.pkg_status[0][0] = c.pkg_status[1][0] = '\0';
	ASSERT_EQ(0, pkg_collect(&c, &l));
	EXPECT_EQ(0, l.n);
	evs = snapshot_packages_events(&l);
	ASSERT_EQ(1, json_object_array_length(evs));
	EXPECT_TRUE(json_object_get_boolean(json_object_object_get(
			json_object_array_get_idx(evs, 0), "IsEmpty")));
	json_object_put(evs);
	unlink(a);
	unlink(b);
	rmdir(dir);
}

TEST(real_dpkg_status_split_in_events)
{
	struct snapshot_config c;
	struct pkg_list l;
	struct json_object *evs;
	size_t total = 0;

	if (access("/var/lib/dpkg/status", R_OK))
		SKIP(return, "no /var/lib/dpkg/status");
	snapshot_config_defaults(&c);
	ASSERT_EQ(0, pkg_collect(&c, &l));
	ASSERT_LT(0, l.n);
	evs = snapshot_packages_events(&l);
	EXPECT_EQ((l.n + PKG_PER_EVENT - 1) / PKG_PER_EVENT,
		  json_object_array_length(evs));
	for (size_t i = 0; i < json_object_array_length(evs); i++)
		total += json_object_array_length(json_object_object_get(
				json_object_array_get_idx(evs, i), "Payload"));
	EXPECT_EQ(l.n, total);
	for (size_t i = 0; i < l.n; i++) {
		EXPECT_NE(0, l.p[i].name[0]);
		EXPECT_NE(0, l.p[i].arch[0]);
	}
	TH_LOG("%zu packages in %zu events", l.n,
	       json_object_array_length(evs));
	json_object_put(evs);
	pkg_list_free(&l);
}

/* hostile input: never a crash, fields bounded, text printable */
TEST(truncated_and_garbage)
{
	struct pkg_list l = { 0 };
	unsigned int seed = 7;
	char *big = malloc(1 << 20);

	/* every prefix of the sample */
	for (size_t n = 0; n <= sizeof(dpkg) - 1; n++) {
		ASSERT_EQ(0, pkg_parse(&l, dpkg, n, "dpkg"));
		for (size_t i = 0; i < l.n; i++)
			EXPECT_NE(0, l.p[i].name[0]);
		pkg_list_free(&l);
	}
	/* random bytes with the field names sprinkled in */
	for (int round = 0; round < 20; round++) {
		for (size_t i = 0; i < (1 << 20); i++) {
			seed = seed * 1103515245 + 12345;
			big[i] = (char)(seed >> 16);
			if (seed % 50 == 0)
				big[i] = '\n';
		}
		for (size_t i = 0; i + 40 < (1 << 20); i += 997)
			{
				static const char f[] = "\nPackage: \x01\xff\n"
							"Status: x installed\n";

				memcpy(big + i, f, sizeof(f) - 1);
			}
		ASSERT_EQ(0, pkg_parse(&l, big, 1 << 20, "opkg"));
		EXPECT_LT(0, l.n);
		for (size_t i = 0; i < l.n; i++)
			for (const char *c = l.p[i].name; *c; c++)
				ASSERT_TRUE(*c >= 0x20 && *c < 0x7f);
		pkg_list_free(&l);
	}
	/* a huge field is cut, a huge number of packages capped */
	memset(big, 'v', 1 << 20);
	{
		static const char h[] = "Package: x\nStatus: i ok installed\n"
					"Version: \0";

		memcpy(big, h, sizeof(h) - 1);
	}
	ASSERT_EQ(0, pkg_parse(&l, big, 1 << 20, "dpkg"));
	ASSERT_EQ(1, l.n);
	EXPECT_EQ(sizeof(l.p[0].version) - 1, strlen(l.p[0].version));
	pkg_list_free(&l);
	{
		static const char one[] = "Package: p\nStatus: i ok installed\n\n";
		size_t n = 0;

		while (n + sizeof(one) - 1 <= (1 << 20)) {
			memcpy(big + n, one, sizeof(one) - 1);
			n += sizeof(one) - 1;
		}
		ASSERT_EQ(0, pkg_parse(&l, big, n, "dpkg"));
		EXPECT_EQ(PKG_MAX, l.n);
		EXPECT_TRUE(l.truncated);
		pkg_list_free(&l);
	}
	free(big);
}

TEST_HARNESS_MAIN
