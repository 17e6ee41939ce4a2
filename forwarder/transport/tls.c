// SPDX-License-Identifier: MIT
/*
 * TLS through libmosquitto's own settings (CA, client certificate and key,
 * SSL_VERIFY_PEER, tls_insecure off), applied to an SSL_CTX of ours so
 * that the expected name and the verification hook are in place before
 * the first handshake, which over loopback can finish inside
 * mosquitto_connect_async().
 *
 * The server certificate is always verified, and its name: the check is
 * OpenSSL's, with the host name or address pinned on our SSL_CTX and a
 * chain-verify hook that keeps OpenSSL's reason, so "certificate verify
 * failed" comes with a why ("unable to get local issuer certificate",
 * "hostname mismatch").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "common/util.h"
#include "transport/tls.h"

static int keep_verdict(int preverify_ok, X509_STORE_CTX *xs)
{
	return preverify_ok;
}

/*
 * The whole-chain verification: OpenSSL's own X509_verify_cert() with the
 * expected host name or address set on the context (mqtt_tls_setup()),
 * keeping the reason when it fails. libmosquitto's per-certificate
 * callback is set aside: it looks its client up through SSL ex_data that
 * libmosquitto 2.0.11 never indexes when given an SSL_CTX, and then fails
 * every certificate as "unspecified".
 */
static int verify_chain(X509_STORE_CTX *xs, void *arg)
{
	struct mqtt_tls *t = arg;
	X509 *cert;
	char subject[256] = "?";
	int ok, e;

	X509_STORE_CTX_set_verify_cb(xs, keep_verdict);
	ok = X509_verify_cert(xs);
	if (ok > 0)
		return ok;
	e = X509_STORE_CTX_get_error(xs);
	cert = X509_STORE_CTX_get_current_cert(xs);
	if (cert)
		X509_NAME_oneline(X509_get_subject_name(cert), subject,
				  sizeof(subject));
	errf(t->why, t->whylen,
	     "server certificate of %s:%d does not verify: %s (certificate %s, depth %d)",
	     t->cfg->host, t->cfg->port, X509_verify_cert_error_string(e),
	     subject, X509_STORE_CTX_get_error_depth(xs));
	return ok;
}

/* Never prompt on a terminal for a key's passphrase: refuse the key. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	return 0;
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown reason";
}

/*
 * Load the CA file, client certificate and key once here, so that a bad
 * file is a configuration error with its reason now, not a TLS failure
 * retried forever later.
 */
static int check_files(const struct mqtt_config *c, char *err, size_t errlen)
{
	const char *const files[3] = { c->ca_file, c->cert_file, c->key_file };
	SSL_CTX *ctx;
	int ret = -EINVAL;
	size_t i;

	if (!!c->cert_file != !!c->key_file) {
		errf(err, errlen,
		     "a client certificate needs its key, and a key its certificate");
		return -EINVAL;
	}
	for (i = 0; i < ARRAY_SIZE(files); i++) {
		if (files[i] && access(files[i], R_OK)) {
			errf(err, errlen, "%s: %s", files[i], strerror(errno));
			return -EINVAL;
		}
	}
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		errf(err, errlen, "cannot create a TLS context");
		return -ENOMEM;
	}
	ERR_clear_error();
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (c->ca_file && SSL_CTX_load_verify_locations(ctx, c->ca_file,
							NULL) != 1) {
		errf(err, errlen, "CA file %s: no PEM certificate (%s)",
		     c->ca_file, ssl_reason());
		goto out;
	}
	if (c->cert_file &&
	    SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1) {
		errf(err, errlen, "certificate %s: no PEM certificate (%s)",
		     c->cert_file, ssl_reason());
		goto out;
	}
	if (c->key_file && SSL_CTX_use_PrivateKey_file(ctx, c->key_file,
							SSL_FILETYPE_PEM) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) ==
		    X509_R_KEY_VALUES_MISMATCH)
			errf(err, errlen,
			     "key %s does not belong to certificate %s",
			     c->key_file, c->cert_file);
		else
			errf(err, errlen,
			     "key %s: no PEM private key, or an encrypted one, which is not supported (%s)",
			     c->key_file, ssl_reason());
		goto out;
	}
	ret = 0;
out:
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return ret;
}

/* Expect the server's name, or its address when the host is one. */
static int pin_server(SSL_CTX *ctx, const char *host)
{
	X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
	unsigned char addr[16];

	X509_VERIFY_PARAM_set_hostflags(param,
					X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return X509_VERIFY_PARAM_set1_ip_asc(param, host);
	return X509_VERIFY_PARAM_set1_host(param, host, 0);
}

/*
 * The system's CA store and the rest that libmosquitto would set on a
 * context it completes; 0 or -EINVAL.
 */
static int own_context(SSL_CTX *ctx, const struct mqtt_config *c, char *err,
		       size_t errlen)
{
	ERR_clear_error();
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		errf(err, errlen, "the system's CA store: %s", ssl_reason());
		return -EINVAL;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (!c->cert_file)
		return 0;
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	if (SSL_CTX_use_certificate_chain_file(ctx, c->cert_file) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, c->key_file,
					SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		errf(err, errlen, "certificate %s, key %s: %s", c->cert_file,
		     c->key_file, ssl_reason());
		return -EINVAL;
	}
	return 0;
}

int mqtt_tls_setup(struct mqtt_tls *t, struct mosquitto *mosq, char *err,
		   size_t errlen)
{
	const struct mqtt_config *c = t->cfg;
	int rc;

	rc = check_files(c, err, errlen);
	if (rc)
		return rc;
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (!t->ctx) {
		errf(err, errlen, "cannot create a TLS context");
		return -ENOMEM;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_cert_verify_callback(t->ctx, verify_chain, t);
	if (pin_server(t->ctx, c->host) != 1) {
		errf(err, errlen, "cannot expect server name %s", c->host);
		return -EINVAL;
	}
	/*
	 * No CA file: the system's trust store, wherever this OpenSSL keeps
	 * it (its default file and directory, or SSL_CERT_FILE and
	 * SSL_CERT_DIR), not a directory named here that not every
	 * distribution has: libmosquitto's OS-certs option (2.0). That
	 * option does not combine with a context of ours that libmosquitto
	 * completes (MOSQ_OPT_SSL_CTX_WITH_DEFAULTS wants a CA file or
	 * directory, in 2.0.11 as since), so then the context is all ours:
	 * the default paths, which is what the option loads, peer
	 * verification and the client certificate.
	 */
	rc = mosquitto_void_option(mosq, MOSQ_OPT_SSL_CTX, t->ctx);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_int_option(mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS,
					  !!c->ca_file);
	if (rc == MOSQ_ERR_SUCCESS && !c->ca_file)
		rc = mosquitto_int_option(mosq, MOSQ_OPT_TLS_USE_OS_CERTS, 1);
	if (rc != MOSQ_ERR_SUCCESS) {
		errf(err, errlen, "TLS context: %s", mosquitto_strerror(rc));
		return -EINVAL;
	}
	if (c->ca_file)
		rc = mosquitto_tls_set(mosq, c->ca_file, NULL, c->cert_file,
				       c->key_file, no_passphrase);
	else
		rc = own_context(t->ctx, c, err, errlen);
	if (rc < 0)
		return rc;
	if (rc != MOSQ_ERR_SUCCESS) {
		errf(err, errlen, "TLS files (ca %s, cert %s, key %s): %s",
		     c->ca_file, c->cert_file ? c->cert_file : "none",
		     c->key_file ? c->key_file : "none",
		     rc == MOSQ_ERR_INVAL ? "missing or unreadable" :
		     mosquitto_strerror(rc));
		return -EINVAL;
	}
	rc = mosquitto_tls_opts_set(mosq, SSL_VERIFY_PEER, "tlsv1.2", NULL);
	if (rc == MOSQ_ERR_SUCCESS)
		rc = mosquitto_tls_insecure_set(mosq, false);
	if (rc != MOSQ_ERR_SUCCESS) {
		errf(err, errlen, "TLS options: %s", mosquitto_strerror(rc));
		return -EINVAL;
	}
	return 0;
}

void mqtt_tls_free(struct mqtt_tls *t)
{
	SSL_CTX_free(t->ctx);
	t->ctx = NULL;
}
