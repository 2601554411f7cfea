/*
 * gateway_url.h — the gateway's URL pieces: percent-encoding (RFC 3986
 * §2.1) of query values written into links (@odata.nextLink, deltaLink),
 * and the check of a Host header (or a configured public URL's authority).
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

/*
 * 1 when host is HOST[:PORT] as RFC 9110 §7.2 allows it, narrowed to what
 * a client of UNS sends: HOST a DNS name or IPv4 address (letters, digits,
 * '-', '.', '_', '~'; at most 253 bytes) or an IPv6 address in brackets
 * (hex digits, ':', '.'), PORT 1 to 5 digits up to 65535. Anything else
 * (an empty host, spaces, '@', '/', bytes above 0x7e) is 0.
 */
int uns_gw_host_valid(const char *host);

#endif /* UNS_GATEWAY_URL_H */
