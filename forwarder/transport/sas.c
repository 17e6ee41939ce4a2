// SPDX-License-Identifier: MIT
/*
 * IoT Hub shared access signatures, built exactly as Azure's device SDKs
 * build them:
 *
 *   sr  = encodeUriComponentStrict("host/devices/id[/modules/m]")
 *   sig = encodeUriComponentStrict(base64(HMAC-SHA256(base64dec(key),
 *                                                     sr + "\n" + se)))
 *   "SharedAccessSignature sr=<sr>&sig=<sig>[&skn=<name>]&se=<se>"
 *
 * (azure-iot-common's SharedAccessSignature.create() and toString()).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "transport/mqtt_priv.h"

static bool unreserved(unsigned char c, bool strict)
{
	if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
		return true;
	if (!strict && (c == '!' || c == '*' || c == '\'' || c == '(' ||
			c == ')'))
		return true;
	return false;
}

char *mqtt_url_encode(const char *s, bool strict)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out, *p;

	out = malloc(3 * n + 1);
	if (!out)
		return NULL;
	for (p = out; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (unreserved(c, strict)) {
			*p++ = (char)c;
		} else if (strict && unreserved(c, false)) {
			/* The SDK's replace() writes these in lower case. */
			p += sprintf(p, "%%%02x", c);
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return out;
}

bool mqtt_base64_valid(const char *s)
{
	size_t n = strlen(s), i, pad = 0;

	if (n == 0 || n % 4)
		return false;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '=')
			pad++;
		else if (pad || !(isalnum(c) || c == '+' || c == '/'))
			return false;
	}
	return pad <= 2;
}

/*
 * EVP_DecodeBlock() accepts the input's padding but counts it as zero
 * bytes of output, so take those back off.
 */
int mqtt_base64_decode(const char *in, unsigned char *out, size_t outlen)
{
	size_t n = strlen(in);
	int len, pad;

	if (!mqtt_base64_valid(in) || n / 4 * 3 > outlen)
		return -1;
	pad = (in[n - 1] == '=') + (in[n - 2] == '=');
	len = EVP_DecodeBlock(out, (const unsigned char *)in, (int)n);
	if (len < 0)
		return -1;
	return len - pad;
}

char *sas_token(const char *resource, const char *key, const char *key_name,
		time_t expiry)
{
	unsigned char rawkey[512], mac[EVP_MAX_MD_SIZE];
	unsigned char sig64[4 * ((EVP_MAX_MD_SIZE + 2) / 3) + 1];
	char *sr = NULL, *sig = NULL, *skn = NULL, *tosign = NULL;
	char *token = NULL;
	unsigned int maclen = 0;
	int keylen, n;

	if (!resource || !key || !*resource)
		return NULL;
	keylen = mqtt_base64_decode(key, rawkey, sizeof(rawkey));
	if (keylen <= 0)
		return NULL;
	sr = mqtt_url_encode(resource, true);
	if (!sr)
		goto out;
	if (asprintf(&tosign, "%s\n%lld", sr, (long long)expiry) < 0) {
		tosign = NULL;
		goto out;
	}
	if (!HMAC(EVP_sha256(), rawkey, keylen, (unsigned char *)tosign,
		  strlen(tosign), mac, &maclen))
		goto out;
	EVP_EncodeBlock(sig64, mac, (int)maclen);
	sig = mqtt_url_encode((char *)sig64, true);
	if (!sig)
		goto out;
	if (key_name && *key_name) {
		skn = mqtt_url_encode(key_name, true);
		if (!skn)
			goto out;
	}
	/* The SDK's field order: sr, sig, skn, se. */
	n = asprintf(&token, "SharedAccessSignature sr=%s&sig=%s%s%s&se=%lld",
		     sr, sig, skn ? "&skn=" : "", skn ? skn : "",
		     (long long)expiry);
	if (n < 0)
		token = NULL;
out:
	/* the key, and the signature that is as good as it until expiry */
	OPENSSL_cleanse(rawkey, sizeof(rawkey));
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(sig64, sizeof(sig64));
	if (sig)
		OPENSSL_cleanse(sig, strlen(sig));
	free(sr);
	free(sig);
	free(skn);
	free(tosign);
	return token;
}

/*
 * Azure's SDKs renew a token 15 minutes before it expires when it lives an
 * hour or more; shorter lifetimes (tests, tight policies) renew after three
 * quarters of their life.
 */
unsigned int mqtt_sas_margin(unsigned int ttl)
{
	unsigned int margin;

	if (ttl >= 3600)
		return 900;
	margin = ttl / 4;
	return margin ? margin : 1;
}
