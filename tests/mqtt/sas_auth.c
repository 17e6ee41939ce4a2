// SPDX-License-Identifier: MIT
/*
 * A mosquitto 2.0 plugin for the tests: it plays IoT Hub's part in
 * authentication. For every CONNECT with a password it checks the password
 * as a SAS token for the identity in the user name
 * ("{host}/{device}[/{module}]/?api-version=..."), signed with the key given
 * as plugin_opt_key, and not expired; it appends one line per CONNECT to
 * plugin_opt_log:
 *
 *   <client id> TAB <user name> TAB <password or -> TAB <verdict>
 *
 * verdict: ok | expired | bad-resource | bad-signature | malformed | no-key
 * for SAS; for a CONNECT with a user name but no password, the X.509 case,
 * x509-ok when the client's certificate (verified by the listener) has the
 * device id of the user name as CN, else x509-missing | x509-wrong-cn.
 * A CONNECT with neither (the test's subscriber) is left to the broker's
 * other settings. Test material only.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/x509.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

static mosquitto_plugin_id_t *plugin_id;
static char *key_b64, *log_path;

/* The strict URI encoding Azure's SDKs use for SAS fields. */
static void enc(const char *s, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < outlen; s++) {
		unsigned char c = (unsigned char)*s;

		if (isalnum(c) || (c && strchr("-_.~", c))) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

static const char *field(const char *tok, const char *name, char *out,
			 size_t outlen)
{
	size_t n = strlen(name);
	const char *p = tok;

	while (p && *p) {
		if (!strncmp(p, name, n) && p[n] == '=') {
			const char *e = strchr(p + n + 1, '&');
			size_t len = e ? (size_t)(e - p - n - 1) : strlen(p + n + 1);

			if (len >= outlen)
				return NULL;
			memcpy(out, p + n + 1, len);
			out[len] = '\0';
			return out;
		}
		p = strchr(p, '&');
		if (p)
			p++;
	}
	return NULL;
}

static const char *check(const char *user, const char *pass)
{
	char ident[512], resource[600], want_sr[1800], sr[1800], sig[256];
	char se[32], tosign[2000], want_sig[256];
	unsigned char key[256], mac[EVP_MAX_MD_SIZE], b64[128];
	unsigned int maclen = 0;
	char *q, *parts[3] = { 0 }, *save = NULL, *t;
	int keylen, n = 0;
	size_t kl;

	if (!key_b64)
		return "no-key";
	if (!user || strncmp(pass, "SharedAccessSignature ", 22))
		return "malformed";
	pass += 22;
	q = strstr(user, "/?");
	if (!q || (size_t)(q - user) >= sizeof(ident))
		return "malformed";
	memcpy(ident, user, (size_t)(q - user));
	ident[q - user] = '\0';
	for (t = strtok_r(ident, "/", &save); t && n < 3;
	     t = strtok_r(NULL, "/", &save))
		parts[n++] = t;
	if (n == 2)
		snprintf(resource, sizeof(resource), "%s/devices/%s", parts[0],
			 parts[1]);
	else if (n == 3)
		snprintf(resource, sizeof(resource), "%s/devices/%s/modules/%s",
			 parts[0], parts[1], parts[2]);
	else
		return "malformed";
	enc(resource, want_sr, sizeof(want_sr));
	if (!field(pass, "sr", sr, sizeof(sr)) ||
	    !field(pass, "sig", sig, sizeof(sig)) ||
	    !field(pass, "se", se, sizeof(se)))
		return "malformed";
	if (strcmp(sr, want_sr))
		return "bad-resource";
	kl = strlen(key_b64);
	keylen = EVP_DecodeBlock(key, (const unsigned char *)key_b64, (int)kl);
	if (keylen < 0)
		return "no-key";
	while (kl && key_b64[kl - 1] == '=') {
		keylen--;
		kl--;
	}
	snprintf(tosign, sizeof(tosign), "%s\n%s", sr, se);
	HMAC(EVP_sha256(), key, keylen, (unsigned char *)tosign,
	     strlen(tosign), mac, &maclen);
	EVP_EncodeBlock(b64, mac, (int)maclen);
	enc((char *)b64, want_sig, sizeof(want_sig));
	if (strcmp(sig, want_sig))
		return "bad-signature";
	if (strtoll(se, NULL, 10) <= (long long)time(NULL))
		return "expired";
	return "ok";
}

/* IoT Hub's X.509 rule: the certificate's CN is the device id. */
static const char *check_x509(struct mosquitto *client, const char *user)
{
	X509 *cert = mosquitto_client_certificate(client);
	char cn[256] = "", want[256];
	const char *slash = strchr(user, '/'), *end;
	const char *verdict;

	if (!cert)
		return "x509-missing";
	X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName,
				  cn, sizeof(cn));
	X509_free(cert);
	end = slash ? strchr(slash + 1, '/') : NULL;
	if (!end || (size_t)(end - slash - 1) >= sizeof(want))
		return "malformed";
	memcpy(want, slash + 1, (size_t)(end - slash - 1));
	want[end - slash - 1] = '\0';
	verdict = strcmp(cn, want) ? "x509-wrong-cn" : "x509-ok";
	return verdict;
}

static int basic_auth(int event, void *event_data, void *userdata)
{
	struct mosquitto_evt_basic_auth *a = event_data;
	const char *verdict;
	FILE *f;

	if (a->password)
		verdict = check(a->username, a->password);
	else if (a->username)
		verdict = check_x509(a->client, a->username);
	else
		verdict = "anonymous";

	if (log_path) {
		f = fopen(log_path, "a");
		if (f) {
			fprintf(f, "%s\t%s\t%s\t%s\n",
				mosquitto_client_id(a->client),
				a->username ? a->username : "-",
				a->password ? a->password : "-", verdict);
			fclose(f);
		}
	}
	if (!a->username && !a->password)
		return MOSQ_ERR_PLUGIN_DEFER;
	return strcmp(verdict, "ok") && strcmp(verdict, "x509-ok") ?
	       MOSQ_ERR_AUTH : MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_version(int supported_version_count,
			     const int *supported_versions)
{
	return 5;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
			  struct mosquitto_opt *opts, int opt_count)
{
	int i;

	plugin_id = identifier;
	for (i = 0; i < opt_count; i++) {
		if (!strcmp(opts[i].key, "key"))
			key_b64 = strdup(opts[i].value);
		else if (!strcmp(opts[i].key, "log"))
			log_path = strdup(opts[i].value);
	}
	return mosquitto_callback_register(plugin_id, MOSQ_EVT_BASIC_AUTH,
					   basic_auth, NULL, NULL);
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts,
			     int opt_count)
{
	mosquitto_callback_unregister(plugin_id, MOSQ_EVT_BASIC_AUTH,
				      basic_auth, NULL);
	free(key_b64);
	free(log_path);
	return 0;
}
