// SPDX-License-Identifier: MIT
/*
 * IoT Hub device connection strings:
 *
 *   HostName=<hub>;DeviceId=<id>[;ModuleId=<m>]
 *       (;SharedAccessKey=<base64>[;SharedAccessKeyName=<policy>] | ;x509=true)
 *       [;GatewayHostName=<edge>]
 *
 * Keys are case-sensitive, as in Azure's SDKs. Anything else (an unknown or
 * repeated key, an empty value, a key that is not base64, both or neither
 * of a key and x509) is refused with the reason, so a typo never turns into
 * a silent "unauthorized" from the hub.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "common/util.h"
#include "transport/mqtt_priv.h"

enum cs_key {
	CS_HOSTNAME,
	CS_DEVICEID,
	CS_MODULEID,
	CS_KEY,
	CS_KEYNAME,
	CS_X509,
	CS_GATEWAY,
	__CS_MAX
};

static const char *const cs_names[__CS_MAX] = {
	[CS_HOSTNAME] = "HostName",
	[CS_DEVICEID] = "DeviceId",
	[CS_MODULEID] = "ModuleId",
	[CS_KEY] = "SharedAccessKey",
	[CS_KEYNAME] = "SharedAccessKeyName",
	[CS_X509] = "x509",
	[CS_GATEWAY] = "GatewayHostName",
};

/*
 * Host names and ids go into topics and user names: no separators. The
 * offset of the first character not allowed, or -1.
 */
static int bad_char(const char *s, const char *extra)
{
	int i;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= ' ' || c >= 0x7f || c == '/' || c == '#' || c == '+')
			return i;
		if (extra && strchr(extra, c))
			return i;
	}
	return -1;
}

static void replace(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

static void replace_secret(char **dst, const char *src)
{
	if (*dst)
		OPENSSL_cleanse(*dst, strlen(*dst));
	replace(dst, src);
}

/*
 * A key name worth showing in an error: a short word. Anything else may be
 * a pasted key (base64 has '=' in it, so it splits into "key" and
 * "value" anywhere) and is never written to a log.
 */
static bool showable(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 24 && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				      "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int mqtt_config_from_connection_string(struct mqtt_config *cfg,
				       const char *cs, char *err,
				       size_t errlen)
{
	char *val[__CS_MAX] = { 0 };
	char *copy, *seg, *save = NULL;
	bool x509 = false;
	int ret = -EINVAL, i, nseg = 0;
	size_t cslen;

	if (!cs || !*cs) {
		errf(err, errlen, "connection string is empty");
		return -EINVAL;
	}
	cslen = strlen(cs);
	copy = strdup(cs);
	if (!copy)
		return -ENOMEM;

	for (seg = strtok_r(copy, ";", &save); seg;
	     seg = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(seg, '=');
		enum cs_key k;

		nseg++;
		if (!eq) {
			/* not shown: it may be a key that lost its name */
			errf(err, errlen,
			     "connection string: part %d (%zu characters) is not KEY=VALUE",
			     nseg, strlen(seg));
			goto out;
		}
		*eq = '\0';
		for (k = 0; k < __CS_MAX; k++)
			if (!strcmp(seg, cs_names[k]))
				break;
		if (k == __CS_MAX) {
			if (!strcmp(seg, "SharedAccessSignature"))
				errf(err, errlen,
				     "connection string: SharedAccessSignature (a fixed token) is not supported; give SharedAccessKey so tokens can be renewed");
			else if (showable(seg))
				errf(err, errlen,
				     "connection string: unknown key '%s' (known, case-sensitive: HostName, DeviceId, ModuleId, SharedAccessKey, SharedAccessKeyName, x509, GatewayHostName)",
				     seg);
			else
				errf(err, errlen,
				     "connection string: part %d is not KEY=VALUE with a known key (known, case-sensitive: HostName, DeviceId, ModuleId, SharedAccessKey, SharedAccessKeyName, x509, GatewayHostName)",
				     nseg);
			goto out;
		}
		if (val[k]) {
			errf(err, errlen,
			     "connection string: %s given twice",
			     cs_names[k]);
			goto out;
		}
		if (!eq[1]) {
			errf(err, errlen,
			     "connection string: %s has an empty value",
			     cs_names[k]);
			goto out;
		}
		val[k] = eq + 1;
	}

	if (!val[CS_HOSTNAME]) {
		errf(err, errlen, "connection string: HostName missing");
		goto out;
	}
	if (!val[CS_DEVICEID]) {
		errf(err, errlen, "connection string: DeviceId missing");
		goto out;
	}
	/*
	 * A value is not shown either: "DeviceId=d SharedAccessKey=..."
	 * (a blank for a ';') has the key in it. The character is.
	 */
	for (i = 0; i < __CS_MAX; i++) {
		unsigned char c;
		int at;

		if (!val[i] || i == CS_KEY || i == CS_X509)
			continue;
		at = bad_char(val[i], i == CS_HOSTNAME || i == CS_GATEWAY ?
				      "?&=" : "?&");
		if (at < 0)
			continue;
		c = val[i][at];
		if (c >= ' ' && c < 0x7f)
			errf(err, errlen,
			     "connection string: %s has '%c' (character %d), not allowed there",
			     cs_names[i], c, at + 1);
		else
			errf(err, errlen,
			     "connection string: %s has byte 0x%02x (character %d), not allowed there",
			     cs_names[i], c, at + 1);
		goto out;
	}
	if (val[CS_X509]) {
		if (strcasecmp(val[CS_X509], "true")) {
			errf(err, errlen,
			     "connection string: x509 must be 'true'");
			goto out;
		}
		x509 = true;
	}
	if (x509 && val[CS_KEY]) {
		errf(err, errlen,
		     "connection string: both SharedAccessKey and x509=true; give one");
		goto out;
	}
	if (!x509 && !val[CS_KEY]) {
		errf(err, errlen,
		     "connection string: neither SharedAccessKey nor x509=true");
		goto out;
	}
	if (val[CS_KEYNAME] && !val[CS_KEY]) {
		errf(err, errlen,
		     "connection string: SharedAccessKeyName without SharedAccessKey");
		goto out;
	}
	if (val[CS_KEY] && !mqtt_base64_valid(val[CS_KEY])) {
		errf(err, errlen,
		     "connection string: SharedAccessKey is not base64");
		goto out;
	}

	ret = 0;
	cfg->mode = MQTT_MODE_IOTHUB;
	cfg->tls = true;
	cfg->auth = x509 ? MQTT_AUTH_X509 : MQTT_AUTH_SAS;
	if (val[CS_GATEWAY]) {
		replace(&cfg->host, val[CS_GATEWAY]);
		replace(&cfg->hub_host, val[CS_HOSTNAME]);
	} else {
		replace(&cfg->host, val[CS_HOSTNAME]);
		replace(&cfg->hub_host, NULL);
	}
	replace(&cfg->device_id, val[CS_DEVICEID]);
	replace(&cfg->module_id, val[CS_MODULEID]);
	replace_secret(&cfg->shared_key, val[CS_KEY]);
	replace(&cfg->key_name, val[CS_KEYNAME]);
	if (!cfg->host || !cfg->device_id ||
	    (val[CS_MODULEID] && !cfg->module_id) ||
	    (val[CS_KEY] && !cfg->shared_key) ||
	    (val[CS_KEYNAME] && !cfg->key_name) ||
	    (val[CS_GATEWAY] && !cfg->hub_host))
		ret = -ENOMEM;
out:
	OPENSSL_cleanse(copy, cslen);
	free(copy);
	return ret;
}
