/*
 * push_config.c — uns_push_config_alloc (push.h): the push settings from
 * the config keys, with every credential file read once here. Keys that
 * the server makes on first use (the webhook secret, the VAPID key) live
 * in DATA/push/, mode 0600.
 *
 * Each provider's credentials are optional; a missing one leaves the
 * provider off (its build() says which key to set), so a server without
 * APNs credentials still accepts iOS subscriptions for polling.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "errors.h"
#include "files.h"
#include "push_impl.h"

#define WHY 400

/* "a,b, *.c" into a list; UNS_EINVAL for an empty or oversized entry. */
static uns_err
hosts_parse(const char *csv, push_hosts *out)
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
			return UNS_EINVAL;
		}
		memcpy(out->v[out->n++], p, n);
		p += n;
	}
	return UNS_OK;
}

/* Reads a file of at most cap - 1 bytes, NUL-terminated. */
static uns_err
read_text(const char *path, char *buf, size_t cap, size_t *len)
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

/* A webhook key from path into key (cap bytes): the file's bytes, one
 * final newline off; key_name is the config key the errors name. */
static uns_err
read_webhook_key(const char *path, const char *key_name, uint8_t *key,
                 size_t cap, size_t *len_out, char *why, size_t whylen)
{
	char text[256 + 3];
	size_t len = 0;

	if (read_text(path, text, sizeof(text), &len) != UNS_OK) {
		uns_say(why, whylen, "%s: cannot read %s (at most 256 bytes)",
		        key_name, path);
		return UNS_EIO;
	}
	if (len > 0 && text[len - 1] == '\n') {
		len--;
	}
	if (len > 0 && text[len - 1] == '\r') {
		len--;
	}
	if (len < 16 || len > cap) {
		uns_say(why, whylen, "%s: %s holds %zu bytes, needs 16 to %zu",
		        key_name, path, len, cap);
		uns_wipe(text, sizeof(text));
		return UNS_EINVAL;
	}
	memcpy(key, text, len);
	*len_out = len;
	uns_wipe(text, sizeof(text));
	return UNS_OK;
}

/* DATA/push/webhook.secret, 64 random hex digits, unless it exists. */
static uns_err
make_webhook_secret(const char *path, char *why, size_t whylen)
{
	uint8_t raw[32];
	char hex[65];

	if (uns_random(raw, sizeof(raw)) != UNS_OK) {
		return UNS_INTERNAL;
	}
	for (size_t i = 0; i < sizeof(raw); i++) {
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	}
	hex[64] = '\n';
	if (uns_file_write_new(path, hex, 65) != UNS_OK) {
		uns_say(why, whylen, "webhook_secret: cannot write %s: %s",
		        path, strerror(errno));
		return UNS_EIO;
	}
	return UNS_OK;
}

/* The signing key, and the retired one while webhook_secret_previous
 * names it. */
static uns_err
load_webhook_secret(uns_push_config *p, const uns_config *c, char *why,
                    size_t whylen)
{
	char path[PUSH_STR + 32];
	uns_err err;

	if (c->webhook_secret[0] != '\0') {
		snprintf(path, sizeof(path), "%s", c->webhook_secret);
	} else {
		snprintf(path, sizeof(path), "%s/push/webhook.secret",
		         c->data_dir);
		if ((err = make_webhook_secret(path, why, whylen)) != UNS_OK) {
			return err;
		}
	}
	err = read_webhook_key(path, "webhook_secret", p->webhook_secret,
	                       sizeof(p->webhook_secret),
	                       &p->webhook_secret_len, why, whylen);
	if (err != UNS_OK || c->webhook_secret_previous[0] == '\0') {
		return err;
	}
	return read_webhook_key(c->webhook_secret_previous,
	                        "webhook_secret_previous", p->webhook_previous,
	                        sizeof(p->webhook_previous),
	                        &p->webhook_previous_len, why, whylen);
}

static uns_err
load_vapid(uns_push_config *p, const uns_config *c, char *why, size_t whylen)
{
	char path[PUSH_STR + 32], *b64 = NULL, inner[WHY];
	uns_err err;

	if (c->vapid_key[0] != '\0') {
		snprintf(path, sizeof(path), "%s", c->vapid_key);
	} else {
		snprintf(path, sizeof(path), "%s/push/vapid.pem", c->data_dir);
	}
	if ((err = uns_vapid_key(path, c->vapid_key[0] == '\0', &b64, inner,
	                         sizeof(inner))) != UNS_OK) {
		uns_say(why, whylen, "vapid_key: %s", inner);
		return err;
	}
	free(b64);
	if ((err = uns_key_read_file(&p->vapid, path, inner, sizeof(inner))) !=
	        UNS_OK ||
	    (err = uns_key_p256_public(p->vapid, p->vapid_public)) != UNS_OK) {
		uns_say(why, whylen, "vapid_key: %s", inner);
	}
	return err;
}

static uns_err
load_apns(uns_push_config *p, const uns_config *c, char *why, size_t whylen)
{
	char inner[WHY];

	snprintf(p->apns_url, sizeof(p->apns_url), "%s", c->apns_url);
	snprintf(p->apns_key_id, sizeof(p->apns_key_id), "%s", c->apns_key_id);
	snprintf(p->apns_team_id, sizeof(p->apns_team_id), "%s",
	         c->apns_team_id);
	snprintf(p->apns_topic, sizeof(p->apns_topic), "%s", c->apns_topic);
	p->apns_token_refresh_s = c->apns_token_refresh_s;
	p->apns_ttl_s = c->apns_ttl_s;
	if (c->apns_key[0] == '\0') {
		return UNS_OK;
	}
	if (c->apns_key_id[0] == '\0' || c->apns_team_id[0] == '\0' ||
	    c->apns_topic[0] == '\0') {
		uns_say(why, whylen,
		        "apns_key needs apns_key_id, apns_team_id and "
		        "apns_topic");
		return UNS_EINVAL;
	}
	if (uns_key_read_file(&p->apns_key, c->apns_key, inner,
	                      sizeof(inner)) != UNS_OK ||
	    uns_key_type_of(p->apns_key) != UNS_KEY_P256 ||
	    !uns_key_is_private(p->apns_key)) {
		uns_say(why, whylen, "apns_key: %s",
		        p->apns_key ? "not an ec p-256 private key" : inner);
		return UNS_EINVAL;
	}
	return UNS_OK;
}

/* Copies the string member name of obj into out unless out is set. */
static void
json_fill(json_t *obj, const char *name, char *out, size_t cap)
{
	json_t *v = json_object_get(obj, name);

	if (out[0] == '\0' && json_is_string(v)) {
		snprintf(out, cap, "%s", json_string_value(v));
	}
}

static uns_err
load_fcm(uns_push_config *p, const uns_config *c, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root = NULL, *pk;
	char inner[WHY];
	uns_err err = UNS_EINVAL;

	snprintf(p->fcm_url, sizeof(p->fcm_url), "%s", c->fcm_url);
	snprintf(p->fcm_token_uri, sizeof(p->fcm_token_uri), "%s",
	         c->fcm_token_uri);
	snprintf(p->fcm_project, sizeof(p->fcm_project), "%s", c->fcm_project);
	p->fcm_ttl_s = c->fcm_ttl_s;
	if (c->fcm_credentials[0] == '\0') {
		return UNS_OK;
	}
	if ((root = json_load_file(c->fcm_credentials, 0, &jerr)) == NULL) {
		uns_say(why, whylen, "fcm_credentials: %s: %s",
		        c->fcm_credentials, jerr.text);
		return UNS_EINVAL;
	}
	json_fill(root, "client_email", p->fcm_client_email,
	          sizeof(p->fcm_client_email));
	json_fill(root, "token_uri", p->fcm_token_uri,
	          sizeof(p->fcm_token_uri));
	json_fill(root, "project_id", p->fcm_project, sizeof(p->fcm_project));
	pk = json_object_get(root, "private_key");
	if (p->fcm_client_email[0] == '\0' || p->fcm_token_uri[0] == '\0' ||
	    p->fcm_project[0] == '\0' || !json_is_string(pk)) {
		uns_say(why, whylen,
		        "fcm_credentials: %s needs client_email, private_key, "
		        "token_uri and project_id",
		        c->fcm_credentials);
		goto out;
	}
	if (uns_key_parse(&p->fcm_key, json_string_value(pk),
	                  json_string_length(pk), inner,
	                  sizeof(inner)) != UNS_OK ||
	    uns_key_type_of(p->fcm_key) != UNS_KEY_RSA ||
	    !uns_key_is_private(p->fcm_key)) {
		uns_say(why, whylen,
		        "fcm_credentials: private_key is not an rsa private "
		        "key");
		goto out;
	}
	err = UNS_OK;
out:
	json_decref(root);
	return err;
}

static uns_err
load_wns(uns_push_config *p, const uns_config *c, char *why, size_t whylen)
{
	size_t len = 0;

	snprintf(p->wns_token_url, sizeof(p->wns_token_url), "%s",
	         c->wns_token_url);
	snprintf(p->wns_client_id, sizeof(p->wns_client_id), "%s",
	         c->wns_client_id);
	snprintf(p->wns_scope, sizeof(p->wns_scope), "%s", c->wns_scope);
	p->wns_ttl_s = c->wns_ttl_s;
	if (c->wns_client_secret[0] == '\0') {
		return UNS_OK;
	}
	if (c->wns_client_id[0] == '\0') {
		uns_say(why, whylen, "wns_client_secret needs wns_client_id");
		return UNS_EINVAL;
	}
	if (read_text(c->wns_client_secret, p->wns_client_secret,
	              sizeof(p->wns_client_secret), &len) != UNS_OK) {
		uns_say(why, whylen, "wns_client_secret: cannot read %s",
		        c->wns_client_secret);
		return UNS_EIO;
	}
	while (len > 0 && (p->wns_client_secret[len - 1] == '\n' ||
	                   p->wns_client_secret[len - 1] == '\r')) {
		p->wns_client_secret[--len] = '\0';
	}
	if (len == 0) {
		uns_say(why, whylen, "wns_client_secret: %s is empty",
		        c->wns_client_secret);
		return UNS_EINVAL;
	}
	return UNS_OK;
}

static uns_err
load_hosts(uns_push_config *p, const uns_config *c, char *why, size_t whylen)
{
	static const struct {
		const char *key;
		size_t in, out;
	} lists[] = {
	    {"webhook_hosts", offsetof(uns_config, webhook_hosts),
	     offsetof(uns_push_config, webhook_hosts)},
	    {"webpush_hosts", offsetof(uns_config, webpush_hosts),
	     offsetof(uns_push_config, webpush_hosts)},
	    {"wns_hosts", offsetof(uns_config, wns_hosts),
	     offsetof(uns_push_config, wns_hosts)},
	};

	for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		const char *csv = (const char *)c + lists[i].in;
		push_hosts *h = (push_hosts *)((char *)p + lists[i].out);
		if (hosts_parse(csv, h) != UNS_OK) {
			uns_say(why, whylen,
			        "%s: at most %d hosts of at most 255 bytes",
			        lists[i].key, PUSH_MAX_HOST);
			return UNS_EINVAL;
		}
	}
	return UNS_OK;
}

uns_err
uns_push_config_alloc(uns_push_config **out, const struct uns_config *c,
                      char *why, size_t whylen)
{
	uns_push_config *p;
	uns_err err;

	if (out == NULL || c == NULL) {
		return UNS_EINVAL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		return UNS_ENOMEM;
	}
	p->allow_private = c->push_allow_private != 0;
	snprintf(p->ca_file, sizeof(p->ca_file), "%s", c->push_ca_file);
	snprintf(p->data_dir, sizeof(p->data_dir), "%s", c->data_dir);
	snprintf(p->vapid_subject, sizeof(p->vapid_subject), "%s",
	         c->vapid_subject);
	p->token_timeout_ms = c->push_token_timeout_ms;
	p->webpush_ttl_s = c->webpush_ttl_s;
	p->vapid_lifetime_s = c->vapid_token_lifetime_s;
	if ((err = load_hosts(p, c, why, whylen)) != UNS_OK ||
	    (err = load_webhook_secret(p, c, why, whylen)) != UNS_OK ||
	    (err = load_vapid(p, c, why, whylen)) != UNS_OK ||
	    (err = load_apns(p, c, why, whylen)) != UNS_OK ||
	    (err = load_fcm(p, c, why, whylen)) != UNS_OK ||
	    (err = load_wns(p, c, why, whylen)) != UNS_OK) {
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
	uns_key_free(p->vapid);
	uns_key_free(p->apns_key);
	uns_key_free(p->fcm_key);
	uns_wipe(p, sizeof(*p));
	free(p);
}
