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

/* Host names and ids go into topics and user names: no separators. */
static bool bad_chars(const char *s, const char *extra)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '/' || c == '#' || c == '+')
			return true;
		if (extra && strchr(extra, c))
			return true;
	}
	return false;
}

static void replace(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

int mqtt_config_from_connection_string(struct mqtt_config *cfg,
				       const char *cs, char *err,
				       size_t errlen)
{
	char *val[__CS_MAX] = { 0 };
	char *copy, *seg, *save = NULL;
	bool x509 = false;
	int ret = -EINVAL, i;

	if (!cs || !*cs) {
		errf(err, errlen, "connection string is empty");
		return -EINVAL;
	}
	copy = strdup(cs);
	if (!copy)
		return -ENOMEM;

	for (seg = strtok_r(copy, ";", &save); seg;
	     seg = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(seg, '=');
		enum cs_key k;

		if (!eq) {
			errf(err, errlen,
			     "connection string: '%s' is not KEY=VALUE",
			     seg);
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
			else
				errf(err, errlen,
				     "connection string: unknown key '%s' (known, case-sensitive: HostName, DeviceId, ModuleId, SharedAccessKey, SharedAccessKeyName, x509, GatewayHostName)",
				     seg);
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
	for (i = 0; i < __CS_MAX; i++) {
		if (!val[i] || i == CS_KEY || i == CS_X509)
			continue;
		if (bad_chars(val[i], i == CS_HOSTNAME || i == CS_GATEWAY ?
				      "?&=" : "?&")) {
			errf(err, errlen,
			     "connection string: %s '%s' contains a character not allowed there",
			     cs_names[i], val[i]);
			goto out;
		}
	}
	if (val[CS_X509]) {
		if (strcasecmp(val[CS_X509], "true")) {
			errf(err, errlen,
			     "connection string: x509 must be 'true', not '%s'",
			     val[CS_X509]);
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
	replace(&cfg->shared_key, val[CS_KEY]);
	replace(&cfg->key_name, val[CS_KEYNAME]);
	if (!cfg->host || !cfg->device_id ||
	    (val[CS_MODULEID] && !cfg->module_id) ||
	    (val[CS_KEY] && !cfg->shared_key) ||
	    (val[CS_KEYNAME] && !cfg->key_name) ||
	    (val[CS_GATEWAY] && !cfg->hub_host))
		ret = -ENOMEM;
out:
	free(copy);
	return ret;
}
