/*
 * tlscheck.c — which TLS check fails, in words (crypto.h): the names a
 * certificate holds, and a diagnosis of a failed tls+tcp:// dial.
 *
 * NNG reports a refused handshake as one error ("Cryptographic error" or
 * "Peer could not be authenticated") for three different causes: a server
 * certificate not signed by the CA given, one that does not name the host
 * dialed (unsd's development certificate names localhost, while it listens
 * on 127.0.0.1), and a server that wants a client certificate. After such a
 * failure unsctl calls uns_tls_diagnose, which dials once more with
 * mbedTLS directly, lets the handshake finish whatever the certificate
 * (VERIFY_OPTIONAL), and reads mbedTLS's verification flags to name the
 * check, the names the certificate holds, and the fix. It runs only on
 * that error path; it never decides whether a connection is trusted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "crypto.h"
#include "errors.h"
#include "files.h"

#define PEM_MAX (1 << 20)

/* PEM file path into crt (mbedTLS never opens files here). */
static int
read_crt(mbedtls_x509_crt *crt, const char *path, char *why, size_t whylen)
{
	char *pem = NULL;
	size_t len;
	if (uns_file_read(path, PEM_MAX, &pem, &len, why, whylen) != UNS_OK) {
		return -1;
	}
	int rc =
	    mbedtls_x509_crt_parse(crt, (const unsigned char *)pem, len + 1);
	free(pem);
	if (rc < 0) {
		uns_say(why, whylen, "%s: no PEM certificate", path);
		return -1;
	}
	return 0;
}

/* The dNSName entries of crt, ", "-separated, into out. */
static void
dns_names(const mbedtls_x509_crt *crt, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
	for (const mbedtls_x509_sequence *s = &crt->subject_alt_names;
	     s != NULL && s->buf.p != NULL && n < cap; s = s->next) {
		if (s->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
		                   MBEDTLS_X509_SAN_DNS_NAME)) {
			continue;
		}
		int w = snprintf(out + n, cap - n, "%s%.*s", n ? ", " : "",
		                 (int)s->buf.len, (const char *)s->buf.p);
		n += w > 0 ? (size_t)w : 0;
	}
}

uns_err
uns_cert_dns_names(const char *path, char *out, size_t cap, char *why,
                   size_t whylen)
{
	mbedtls_x509_crt crt;
	mbedtls_x509_crt_init(&crt);
	uns_err err = UNS_EINVAL;
	if (cap > 0 && read_crt(&crt, path, why, whylen) == 0) {
		dns_names(&crt, out, cap);
		err = UNS_OK;
	}
	mbedtls_x509_crt_free(&crt);
	return err;
}

typedef struct diag {
	mbedtls_net_context net;
	mbedtls_ssl_context ssl;
	mbedtls_ssl_config conf;
	mbedtls_x509_crt ca, own;
	mbedtls_pk_context key;
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
} diag;

/* The client's certificate and key (one PEM file) into d. */
static int
read_own(diag *d, const char *path, char *why, size_t whylen)
{
	char *pem = NULL;
	size_t len;
	if (read_crt(&d->own, path, why, whylen) != 0 ||
	    uns_file_read(path, PEM_MAX, &pem, &len, why, whylen) != UNS_OK) {
		return -1;
	}
	int rc = mbedtls_pk_parse_key(&d->key, (const unsigned char *)pem,
	                              len + 1, NULL, 0);
	uns_wipe(pem, len);
	free(pem);
	if (rc != 0) {
		uns_say(why, whylen, "%s: no private key", path);
		return -1;
	}
	return 0;
}

static int
setup(diag *d, const char *name, const char *ca_file, const char *cert_key,
      char *why, size_t whylen)
{
	if (mbedtls_ctr_drbg_seed(&d->drbg, mbedtls_entropy_func, &d->entropy,
	                          NULL, 0) != 0 ||
	    mbedtls_ssl_config_defaults(&d->conf, MBEDTLS_SSL_IS_CLIENT,
	                                MBEDTLS_SSL_TRANSPORT_STREAM,
	                                MBEDTLS_SSL_PRESET_DEFAULT) != 0) {
		uns_say(why, whylen, "cannot set up TLS");
		return -1;
	}
	if (read_crt(&d->ca, ca_file, why, whylen) != 0 ||
	    (cert_key != NULL && read_own(d, cert_key, why, whylen) != 0)) {
		return -1;
	}
	mbedtls_ssl_conf_authmode(&d->conf, MBEDTLS_SSL_VERIFY_OPTIONAL);
	mbedtls_ssl_conf_ca_chain(&d->conf, &d->ca, NULL);
	mbedtls_ssl_conf_rng(&d->conf, mbedtls_ctr_drbg_random, &d->drbg);
	mbedtls_ssl_conf_read_timeout(&d->conf, 5000);
	if ((cert_key != NULL &&
	     mbedtls_ssl_conf_own_cert(&d->conf, &d->own, &d->key) != 0) ||
	    mbedtls_ssl_setup(&d->ssl, &d->conf) != 0 ||
	    mbedtls_ssl_set_hostname(&d->ssl, name) != 0) {
		uns_say(why, whylen, "cannot set up TLS");
		return -1;
	}
	return 0;
}

/* What the verification flags say, with the fix. */
static void
explain(uint32_t flags, const mbedtls_x509_crt *peer, const char *name,
        const char *port, const char *ca_file, char *why, size_t whylen)
{
	char names[512] = "", first[256] = "";
	if (peer != NULL) {
		dns_names(peer, names, sizeof(names));
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(names, ","),
		         names);
	}
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED) {
		uns_say(why, whylen,
		        "the server's certificate is not signed by a CA in %s: "
		        "pass the CA that signed it (--ca; unsd's is "
		        "DATA/tls/ca.pem)",
		        ca_file);
	} else if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) {
		uns_say(why, whylen,
		        "the server's certificate names %s, not %s: dial "
		        "tls+tcp://%s:%s (or pass --server-name %s)",
		        names[0] ? names : "no DNS name", name,
		        first[0] ? first : "NAME", port,
		        first[0] ? first : "NAME");
	} else if (flags & MBEDTLS_X509_BADCERT_EXPIRED) {
		uns_say(why, whylen, "the server's certificate has expired");
	} else if (flags & MBEDTLS_X509_BADCERT_FUTURE) {
		uns_say(why, whylen,
		        "the server's certificate is not valid yet (check "
		        "this machine's clock)");
	} else {
		char info[256];
		mbedtls_x509_crt_verify_info(info, sizeof(info), "", flags);
		info[strcspn(info, "\n")] = '\0';
		uns_say(why, whylen, "the server's certificate: %s", info);
	}
}

uns_err
uns_tls_diagnose(const char *host, const char *port, const char *ca_file,
                 const char *cert_key_file, const char *server_name, char *why,
                 size_t whylen)
{
	diag *d = calloc(1, sizeof(*d));
	const char *name = server_name ? server_name : host;
	uns_err err = UNS_INTERNAL;
	int rc;

	if (d == NULL) {
		return UNS_ENOMEM;
	}
	mbedtls_net_init(&d->net);
	mbedtls_ssl_init(&d->ssl);
	mbedtls_ssl_config_init(&d->conf);
	mbedtls_x509_crt_init(&d->ca);
	mbedtls_x509_crt_init(&d->own);
	mbedtls_pk_init(&d->key);
	mbedtls_entropy_init(&d->entropy);
	mbedtls_ctr_drbg_init(&d->drbg);
	if (setup(d, name, ca_file, cert_key_file, why, whylen) != 0) {
		err = UNS_EINVAL;
		goto out;
	}
	if (mbedtls_net_connect(&d->net, host, port, MBEDTLS_NET_PROTO_TCP) !=
	    0) {
		uns_say(why, whylen, "cannot connect to %s:%s", host, port);
		err = UNS_UNAVAILABLE;
		goto out;
	}
	mbedtls_ssl_set_bio(&d->ssl, &d->net, mbedtls_net_send, NULL,
	                    mbedtls_net_recv_timeout);
	while ((rc = mbedtls_ssl_handshake(&d->ssl)) ==
	           MBEDTLS_ERR_SSL_WANT_READ ||
	       rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
	}
	uint32_t flags = mbedtls_ssl_get_verify_result(&d->ssl);
	if (rc == 0 && flags == 0) {
		uns_say(why, whylen, "every certificate check passes");
		err = UNS_OK;
	} else if (flags != 0 && flags != (uint32_t)-1) {
		explain(flags, mbedtls_ssl_get_peer_cert(&d->ssl), name, port,
		        ca_file, why, whylen);
		err = UNS_UNAUTHENTICATED;
	} else if (flags == 0 && cert_key_file == NULL) {
		/* Its certificate checked out, then it hung up on us: what a
		 * server that requires client certificates does. */
		uns_say(why, whylen,
		        "the server's certificate checks out, but the server "
		        "ended the handshake: it wants a client certificate "
		        "(--cert FILE, signed by the CA it trusts)");
		err = UNS_UNAUTHENTICATED;
	} else {
		uns_say(why, whylen,
		        "the handshake failed (mbedTLS -0x%04x): not a TLS "
		        "server, or no cipher suite in common",
		        (unsigned)-rc);
		err = UNS_UNAUTHENTICATED;
	}
out:
	mbedtls_ssl_close_notify(&d->ssl);
	mbedtls_net_free(&d->net);
	mbedtls_ssl_free(&d->ssl);
	mbedtls_ssl_config_free(&d->conf);
	mbedtls_x509_crt_free(&d->ca);
	mbedtls_x509_crt_free(&d->own);
	mbedtls_pk_free(&d->key);
	mbedtls_ctr_drbg_free(&d->drbg);
	mbedtls_entropy_free(&d->entropy);
	free(d);
	return err;
}
