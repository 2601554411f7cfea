/*
 * envelope.c — see envelope.h. Each check names the envelope field it
 * rejects, because that text reaches the caller as the status message.
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "pbtext.h"

static int
fail(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return -1;
}

/* "/pkg.Service/Method": one leading slash, one separator, no spaces. */
static int
check_method(const char *m, char *why, size_t whylen)
{
	size_t len = strlen(m);
	if (len == 0) {
		return fail(why, whylen, "envelope.method: empty");
	}
	if (len > UNS_MAX_METHOD_LEN) {
		return fail(why, whylen, "envelope.method: too long");
	}
	const char *sep = strchr(m + 1, '/');
	if (m[0] != '/' || sep == NULL || sep == m + 1 || sep[1] == '\0' ||
	    strchr(sep + 1, '/') != NULL) {
		return fail(
		    why, whylen,
		    "envelope.method: not of the form /package.Service/Method");
	}
	for (const char *p = m; *p; p++) {
		if (*p <= ' ' || *p >= 0x7f) {
			return fail(why, whylen,
			            "envelope.method: invalid character");
		}
	}
	return 0;
}

static int
check_md_key(const char *k)
{
	size_t len = strlen(k);
	if (len == 0 || len > UNS_MAX_MD_KEY_LEN) {
		return -1;
	}
	for (; *k; k++) {
		if (!((*k >= 'a' && *k <= 'z') || (*k >= '0' && *k <= '9') ||
		      *k == '-' || *k == '_' || *k == '.')) {
			return -1;
		}
	}
	return 0;
}

static int
check_request(const Uns__V1__RequestEnvelope *env, char *why, size_t whylen)
{
	if (check_method(env->method, why, whylen) != 0) {
		return -1;
	}
	if (strlen(env->request_id) > UNS_MAX_REQUEST_ID_LEN) {
		return fail(why, whylen, "envelope.request_id: too long");
	}
	if (env->timeout_ms > UNS_MAX_TIMEOUT_MS) {
		return fail(why, whylen,
		            "envelope.timeout_ms: more than one hour");
	}
	if (env->n_metadata > UNS_MAX_METADATA) {
		return fail(why, whylen, "envelope.metadata: too many entries");
	}
	for (size_t i = 0; i < env->n_metadata; i++) {
		const Uns__V1__Metadata *md = env->metadata[i];
		if (check_md_key(md->key) != 0) {
			return fail(why, whylen,
			            "envelope.metadata.key: must be 1-64 chars "
			            "of [a-z0-9._-]");
		}
		if (md->value.len > UNS_MAX_MD_VALUE_LEN) {
			return fail(why, whylen,
			            "envelope.metadata.value: too long");
		}
	}
	return 0;
}

/* Every string of the envelope (method, request id, metadata keys) is
 * UTF-8 without a NUL: a NUL would cut the value unseen. */
static int
check_text(const uint8_t *buf, size_t len, char *why, size_t whylen)
{
	char field[128], reason[128];
	if (uns_pb_check_text(&uns__v1__request_envelope__descriptor, buf, len,
	                      "envelope", UNS_PB_NAMES_PROTO, field,
	                      sizeof(field), reason,
	                      sizeof(reason)) == UNS_OK) {
		return 0;
	}
	snprintf(why, whylen, "%s: %s", field, reason);
	return -1;
}

uns_err
uns_request_decode(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                   Uns__V1__RequestEnvelope **out, char *why, size_t whylen)
{
	Uns__V1__RequestEnvelope *env =
	    uns__v1__request_envelope__unpack(alloc, len, buf);
	if (env == NULL) {
		snprintf(why, whylen,
		         "envelope: %zu bytes are not a uns.v1.RequestEnvelope",
		         len);
		return UNS_INVALID_ARGUMENT;
	}
	if (check_text(buf, len, why, whylen) != 0 ||
	    check_request(env, why, whylen) != 0) {
		uns__v1__request_envelope__free_unpacked(env, alloc);
		return UNS_INVALID_ARGUMENT;
	}
	*out = env;
	return UNS_OK;
}

uns_err
uns_response_decode(const uint8_t *buf, size_t len, ProtobufCAllocator *alloc,
                    Uns__V1__ResponseEnvelope **out, char *why, size_t whylen)
{
	Uns__V1__ResponseEnvelope *env =
	    uns__v1__response_envelope__unpack(alloc, len, buf);
	if (env == NULL) {
		snprintf(why, whylen,
		         "reply: %zu bytes are not a uns.v1.ResponseEnvelope",
		         len);
		return UNS_INVALID_ARGUMENT;
	}
	if (env->code < 0 || env->code > UNS_UNAUTHENTICATED) {
		snprintf(why, whylen, "reply.code: %d is not a status code",
		         (int)env->code);
		uns__v1__response_envelope__free_unpacked(env, alloc);
		return UNS_INVALID_ARGUMENT;
	}
	*out = env;
	return UNS_OK;
}

const ProtobufCBinaryData *
uns_request_metadata(const Uns__V1__RequestEnvelope *env, const char *key)
{
	for (size_t i = 0; i < env->n_metadata; i++) {
		if (strcmp(env->metadata[i]->key, key) == 0) {
			return &env->metadata[i]->value;
		}
	}
	return NULL;
}
