/*
 * gateway_encoding.c — see gateway_encoding.h.
 *
 * "deflate" is a zlib stream by the RFC, but some clients send raw deflate
 * (the old IIS confusion): a zlib header is tried first, raw deflate when
 * the first bytes are not one. gzip allows concatenated members; we take
 * one, as most servers do, and refuse trailing bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "gateway_encoding.h"

static const struct {
	const char *name;
	uns_gw_coding coding;
} codings[] = {
    {"identity", UNS_GW_CODING_IDENTITY},
    {"gzip", UNS_GW_CODING_GZIP},
    {"x-gzip", UNS_GW_CODING_GZIP},
    {"deflate", UNS_GW_CODING_DEFLATE},
};

uns_gw_coding
uns_gw_coding_of(const char *header)
{
	if (header == NULL) {
		return UNS_GW_CODING_IDENTITY;
	}
	while (*header == ' ' || *header == '\t') {
		header++;
	}
	size_t len = strlen(header);
	while (len > 0 && (header[len - 1] == ' ' || header[len - 1] == '\t')) {
		len--;
	}
	for (size_t i = 0; i < sizeof(codings) / sizeof(codings[0]); i++) {
		if (strlen(codings[i].name) == len &&
		    strncasecmp(codings[i].name, header, len) == 0) {
			return codings[i].coding;
		}
	}
	return UNS_GW_CODING_UNSUPPORTED;
}

/* zlib's windowBits for the coding and the first bytes. */
static int
window_bits(uns_gw_coding coding, const unsigned char *in, size_t len)
{
	if (coding == UNS_GW_CODING_GZIP) {
		return 16 + MAX_WBITS;
	}
	/* A zlib header: CM = 8 and the check bits make a multiple of 31. */
	if (len >= 2 && (in[0] & 0x0f) == 8 &&
	    ((in[0] << 8) | in[1]) % 31 == 0) {
		return MAX_WBITS;
	}
	return -MAX_WBITS;
}

static uns_err
inflate_all(z_stream *zs, char *buf, size_t max, size_t *out_len, char *why,
            size_t whylen)
{
	int rc;
	zs->next_out = (Bytef *)buf;
	zs->avail_out = (uInt)(max + 1); /* one more: detects "over max" */
	rc = inflate(zs, Z_FINISH);
	if (rc == Z_STREAM_END && zs->avail_in == 0 && zs->total_out <= max) {
		*out_len = zs->total_out;
		return UNS_OK;
	}
	if (zs->total_out > max || (rc == Z_BUF_ERROR && zs->avail_out == 0)) {
		snprintf(why, whylen,
		         "the decoded body exceeds the limit of %zu bytes",
		         max);
		return UNS_RESOURCE_EXHAUSTED;
	}
	snprintf(why, whylen,
	         "the body does not decode as its "
	         "Content-Encoding says: %s",
	         zs->msg
	             ? zs->msg
	             : (rc == Z_STREAM_END ? "trailing bytes" : "truncated"));
	return UNS_INVALID_ARGUMENT;
}

uns_err
uns_gw_decode_body(uns_gw_coding coding, const char *in, size_t len, size_t max,
                   char **out, size_t *out_len, char *why, size_t whylen)
{
	z_stream zs;
	size_t n = 0;
	uns_err err;
	char *buf = malloc(max + 2);
	if (buf == NULL) {
		return UNS_ENOMEM;
	}
	if (coding == UNS_GW_CODING_IDENTITY) {
		if (len > max) {
			free(buf);
			snprintf(why, whylen,
			         "the body exceeds the limit of %zu bytes",
			         max);
			return UNS_RESOURCE_EXHAUSTED;
		}
		memcpy(buf, in, len);
		buf[len] = '\0';
		*out = buf;
		*out_len = len;
		return UNS_OK;
	}
	memset(&zs, 0, sizeof(zs));
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	if (inflateInit2(&zs, window_bits(coding, (const unsigned char *)in,
	                                  len)) != Z_OK) {
		free(buf);
		return UNS_ENOMEM;
	}
	err = inflate_all(&zs, buf, max, &n, why, whylen);
	inflateEnd(&zs);
	if (err != UNS_OK) {
		free(buf);
		return err;
	}
	buf[n] = '\0';
	*out = buf;
	*out_len = n;
	return UNS_OK;
}
