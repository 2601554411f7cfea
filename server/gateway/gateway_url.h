/*
 * gateway_url.h — percent-encoding (RFC 3986 §2.1) for the gateway's URLs:
 * query values written into links (@odata.nextLink, deltaLink).
 *
 * Pure and fuzzed (tests/fuzz/fuzz_gateway_url.c): every byte but the
 * unreserved set (ALPHA, DIGIT, "-", ".", "_", "~") is written as %XX in
 * upper-case hex, which is what curl_easy_escape wrote here before.
 * Rejected: libcurl for the one call (a foreign library in the gateway for
 * ten lines).
 */
#ifndef UNS_GATEWAY_URL_H
#define UNS_GATEWAY_URL_H

#include <stddef.h>

/*
 * Writes s (n bytes) percent-encoded into out (cap bytes, NUL-terminated
 * when cap > 0) and returns the length of the whole encoding, not counting
 * the NUL; a result >= cap means out was cut (as snprintf).
 */
size_t uns_gw_url_encode(const char *s, size_t n, char *out, size_t cap);

#endif /* UNS_GATEWAY_URL_H */
