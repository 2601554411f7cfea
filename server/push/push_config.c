/*
 * push_config.c — uns_push_add_keys and uns_push_config_alloc (push.h):
 * the keys every transport shares (push_*), and the push configuration
 * made from them and from each transport's own keys, which live in the
 * transport's file with its load() (the credentials they name are read
 * once, here at start, never by build()). Also the small file helpers the
 * loads share: keys the server makes on first use (the webhook secret,
 * the VAPID key) go to DATA/push/, mode 0600.
 *
 * Chosen: each transport's keys are a uns_config_section added to the
 * server's configuration (config.h), rather than push parsing a section
 * of its own: one file format, one parser with its error messages and
 * typo hints, --set and --print-config work for every key, and the
 * example file is written from the same rows. The core knows nothing of
 * push; unsd adds the tables at start.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "errors.h"
#include "files.h"
#include "push_impl.h"

/* The values of the keys every transport shares. */
typedef struct push_vals {
	int allow_private;
	char ca_file[UNS_CONFIG_STR_MAX];
	int64_t token_timeout_ms;
	int64_t dns_cache_ms;
} push_vals;

static const uns_config_key push_keys[] = {
    UNS_CONFIG_KEY("push", "push_allow_private", BOOL, push_vals, allow_private,
                   0, 1, "false",
                   "Let push endpoints resolve to loopback (127.0.0.0/8, "
                   "::1) and\n"
                   "token endpoints be http://. For tests with local "
                   "receivers only;\n"
                   "link-local, private and special ranges stay refused "
                   "(docs/security.md)."),
    UNS_CONFIG_KEY("push", "push_ca_file", PATH, push_vals, ca_file, 0,
                   PUSH_STRLEN, "",
                   "CA bundle (PEM) that push providers' TLS certificates "
                   "must chain\n"
                   "to. \"\" = the system's."),
    UNS_CONFIG_KEY("push", "push_token_timeout", DURATION_MS, push_vals,
                   token_timeout_ms, 100, 120 * 1000, "10s",
                   "Deadline of an OAuth access-token request (FCM, WNS)."),
    UNS_CONFIG_KEY("push", "push_dns_cache", DURATION_MS, push_vals,
                   dns_cache_ms, 0, 3600 * 1000, "30s",
                   "How long the addresses checked for a push host serve "
                   "its requests\n"
                   "before it is resolved and checked again. Each request "
                   "goes only to\n"
                   "checked addresses either way (docs/security.md). 0 = "
                   "for every\n"
                   "request."),
};

static const uns_config_section push_section = {
    push_keys, sizeof(push_keys) / sizeof(push_keys[0]), sizeof(push_vals)};

uns_err
uns_push_add_keys(struct uns_config *c)
{
	uns_err err = uns_config_add(c, &push_section);

	for (size_t i = 0; err == UNS_OK && uns_push_transports[i] != NULL;
	     i++) {
		if (uns_push_transports[i]->keys != NULL) {
			err = uns_config_add(c, uns_push_transports[i]->keys);
		}
	}
	return err;
}

uns_err
push_hosts_parse(const char *csv, const char *key, push_hosts *out, char *why,
                 size_t whylen)
{
	const char *p = csv;

	memset(out, 0, sizeof(*out));
	while (*p != '\0') {
		size_t n;
		while (*p == ' ' || *p == ',') {
			p++;
		}
		n = strcspn(p, ", ");
		if (n == 0) {
			break;
		}
		if (n >= sizeof(out->v[0]) || out->n == PUSH_MAX_HOST) {
			uns_say(why, whylen,
			        "%s: at most %d hosts of at most 255 bytes",
			        key, PUSH_MAX_HOST);
			return UNS_EINVAL;
		}
		memcpy(out->v[out->n++], p, n);
		p += n;
	}
	return UNS_OK;
}

uns_err
push_read_text(const char *path, char *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (f == NULL) {
		return UNS_EIO;
	}
	n = fread(buf, 1, cap - 1, f);
	if (ferror(f) || (n == cap - 1 && fgetc(f) != EOF)) {
		fclose(f);
		return UNS_EIO;
	}
	fclose(f);
	buf[n] = '\0';
	*len = n;
	return UNS_OK;
}

const void *
push_settings(const uns_push_config *cfg, const uns_push_transport_ops *ops)
{
	for (size_t i = 0; uns_push_transports[i] != NULL; i++) {
		if (uns_push_transports[i] == ops) {
			return cfg->settings[i];
		}
	}
	return NULL;
}

/* Each transport's settings from its keys' values in c. */
static uns_err
load_transports(uns_push_config *p, const uns_config *c, char *why,
                size_t whylen)
{
	uns_err err = UNS_OK;

	for (size_t i = 0; err == UNS_OK && uns_push_transports[i] != NULL;
	     i++) {
		const uns_push_transport_ops *ops = uns_push_transports[i];
		void *vals = NULL;
		if (ops->load == NULL) {
			continue;
		}
		if (ops->keys != NULL &&
		    (vals = malloc(ops->keys->size)) == NULL) {
			return UNS_ENOMEM;
		}
		if (vals != NULL) {
			uns_config_values(c, ops->keys, vals);
		}
		err = ops->load(&p->settings[i], vals, p, why, whylen);
		if (vals != NULL) {
			uns_wipe(vals, ops->keys->size);
		}
		free(vals);
	}
	return err;
}

uns_err
uns_push_config_alloc(uns_push_config **out, const struct uns_config *c,
                      char *why, size_t whylen)
{
	uns_push_config *p;
	push_vals v;
	uns_err err;

	if (out == NULL || c == NULL) {
		return UNS_EINVAL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		return UNS_ENOMEM;
	}
	uns_config_values(c, &push_section, &v);
	p->allow_private = v.allow_private != 0;
	snprintf(p->ca_file, sizeof(p->ca_file), "%s", v.ca_file);
	snprintf(p->data_dir, sizeof(p->data_dir), "%s", c->data_dir);
	p->token_timeout_ms = v.token_timeout_ms;
	p->pin_reuse_ms = v.dns_cache_ms;
	if (p->pin_reuse_ms > 0 &&
	    (err = push_pin_cache_open(&p->pins)) != UNS_OK) {
		free(p);
		return err;
	}
	if ((err = load_transports(p, c, why, whylen)) != UNS_OK) {
		uns_push_config_free(p);
		return err;
	}
	*out = p;
	return UNS_OK;
}

void
uns_push_config_free(uns_push_config *p)
{
	if (p == NULL) {
		return;
	}
	for (size_t i = 0; uns_push_transports[i] != NULL; i++) {
		if (p->settings[i] != NULL) {
			uns_push_transports[i]->unload(p->settings[i]);
		}
	}
	push_pin_cache_close(p->pins);
	uns_wipe(p, sizeof(*p));
	free(p);
}
