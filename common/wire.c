/*
 * wire.c — see wire.h.
 */
#include <stdio.h>
#include <string.h>

#include "envelope.h"
#include "errors.h"
#include "wire.h"

#define TAG_REQUEST_PAYLOAD  0x2a /* field 5, length-delimited */
#define TAG_RESPONSE_PAYLOAD 0x22 /* field 4, length-delimited */

static size_t
varint_size(uint64_t v)
{
	size_t n = 1;
	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *
put_varint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* Packs head, then tag + length + payload, into a fresh body of m. */
static uns_err
pack_into(nng_msg *m, const ProtobufCMessage *head, uint8_t tag,
          const ProtobufCMessage *payload, size_t max, const char *what)
{
	size_t head_len = protobuf_c_message_get_packed_size(head);
	size_t pay_len =
	    payload ? protobuf_c_message_get_packed_size(payload) : 0;
	size_t total = head_len;
	if (payload) {
		total += 1 + varint_size(pay_len) + pay_len;
	}
	if (total > max) {
		return uns_fail(
		    UNS_RESOURCE_EXHAUSTED,
		    "%s of %zu bytes exceeds the limit of %zu bytes", what,
		    total, max);
	}
	nng_msg_clear(m);
	if (nng_msg_realloc(m, total) != 0) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	uint8_t *p = nng_msg_body(m);
	p += protobuf_c_message_pack(head, p);
	if (payload) {
		*p++ = tag;
		p = put_varint(p, pay_len);
		protobuf_c_message_pack(payload, p);
	}
	return UNS_OK;
}

static Uns__V1__Metadata **
build_metadata(const uns_wire_request *h, uns_arena *a, size_t *n_out)
{
	size_t n = h->n_metadata + (h->token ? 1 : 0);
	Uns__V1__Metadata **md = uns_arena_alloc(a, (n + 1) * sizeof(*md));
	Uns__V1__Metadata *items = uns_arena_alloc(a, (n + 1) * sizeof(*items));
	if (md == NULL || items == NULL) {
		return NULL;
	}
	for (size_t i = 0; i < h->n_metadata; i++) {
		uns__v1__metadata__init(&items[i]);
		items[i].key = (char *)h->metadata[i].key;
		items[i].value.data = (uint8_t *)h->metadata[i].value;
		items[i].value.len = strlen(h->metadata[i].value);
		md[i] = &items[i];
	}
	if (h->token) {
		size_t len = strlen(h->token) + 8;
		char *v = uns_arena_alloc(a, len);
		if (v == NULL) {
			return NULL;
		}
		snprintf(v, len, "Bearer %s", h->token);
		Uns__V1__Metadata *it = &items[h->n_metadata];
		uns__v1__metadata__init(it);
		it->key = UNS_MD_AUTHORIZATION_KEY;
		it->value.data = (uint8_t *)v;
		it->value.len = strlen(v);
		md[h->n_metadata] = it;
	}
	*n_out = n;
	return md;
}

uns_err
uns_wire_pack_request(const uns_wire_request *h,
                      const ProtobufCMessage *payload, uns_arena *a, size_t max,
                      nng_msg **out)
{
	Uns__V1__RequestEnvelope env = UNS__V1__REQUEST_ENVELOPE__INIT;
	nng_msg *m = NULL;
	env.method = (char *)h->method;
	env.request_id = (char *)h->request_id;
	env.timeout_ms = h->timeout_ms;
	env.metadata = build_metadata(h, a, &env.n_metadata);
	if (env.metadata == NULL) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	if (nng_msg_alloc(&m, 0) != 0) {
		return uns_fail(UNS_ENOMEM, "out of memory");
	}
	uns_err err = pack_into(m, &env.base, TAG_REQUEST_PAYLOAD, payload, max,
	                        "request");
	if (err != UNS_OK) {
		nng_msg_free(m);
		return err;
	}
	*out = m;
	return UNS_OK;
}

uns_err
uns_wire_pack_response(nng_msg *m, const Uns__V1__ResponseEnvelope *env,
                       const ProtobufCMessage *payload, size_t max)
{
	return pack_into(m, &env->base, TAG_RESPONSE_PAYLOAD, payload, max,
	                 "reply");
}
