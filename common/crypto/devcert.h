/*
 * devcert.h — development TLS material (a private CA, server and client
 * certificates) written with mbedTLS, so that a fresh checkout can run unsd
 * over tls+tcp:// without openssl.
 *
 * Conventions:
 *  1. Every function returns a uns_err; UNS_OK (0) is success. UNS_EINVAL
 *     means a bad argument, UNS_EIO a file or system error (including a PEM
 *     file that cannot be parsed), UNS_ENOMEM out of memory and UNS_INTERNAL
 *     a failure inside mbedTLS.
 *  2. `why` may be NULL (whylen is then ignored). Otherwise it receives a
 *     NUL-terminated, lowercase reason that names the file involved, e.g.
 *     "cannot write uns-data/tls/ca.key: Permission denied"; it is set to ""
 *     on success.
 *  3. All files are PEM. Keys are ECDSA P-256, so a TLS peer can only
 *     negotiate ECDHE-ECDSA suites; leaf certificates carry keyUsage
 *     digitalSignature only. Certificates are valid from one hour ago for
 *     `days` days (1..36500). Serial numbers are 16 random bytes.
 *  4. Files are written atomically (temporary file, fsync, rename), all
 *     with mode 0600, certificates too: they live in the owner's data
 *     directory, which unsd keeps 0700 (files.h) and would tighten a
 *     0644 certificate in anyway.
 *  5. The functions keep no global state and may be called from several
 *     threads, but two callers writing the same directory race (the last
 *     rename wins). This is development tooling, not a CA.
 */
#ifndef UNS_DEVCERT_H
#define UNS_DEVCERT_H

#include <stddef.h>

#include "uns/uns.h"

/* Largest number of DNS names one server certificate may carry. */
#define UNS_DEVCERT_MAX_NAMES 32

/*
 * Creates a new CA: writes dir/ca.key (mode 0600) and then dir/ca.pem
 * (CA:TRUE, pathlen 0, keyUsage keyCertSign). Creates dir and its missing
 * parents with mode 0700. Replaces an existing CA, which orphans every
 * certificate it signed.
 */
uns_err uns_devcert_make_ca(const char *dir, int days, char *why,
                            size_t whylen);

/*
 * Issues a server certificate signed by dir/ca.pem + dir/ca.key and writes
 * it, followed by its private key, to dir/server.pem (mode 0600; this is
 * the layout nng_tls_config_cert_key_file wants). CN is dns_names[0]
 * ("localhost" when n_names is 0); subjectAltName lists every name as a
 * dNSName, plus "localhost" if it was not given. extendedKeyUsage is
 * serverAuth. Names are host names ([A-Za-z0-9-] labels, an optional
 * leading "*." wildcard); IP addresses are refused because mbedTLS 2.28
 * cannot match IP SANs. At most UNS_DEVCERT_MAX_NAMES names (UNS_EINVAL).
 */
uns_err uns_devcert_make_server(const char *dir, const char *const *dns_names,
                                size_t n_names, int days, char *why,
                                size_t whylen);

/*
 * Issues a client certificate (CN=name, extendedKeyUsage clientAuth)
 * signed by the CA in dir and writes it with its private key to
 * dir/client-<name>.pem (mode 0600). name must match [A-Za-z0-9._-]{1,64};
 * otherwise UNS_EINVAL and nothing is written.
 */
uns_err uns_devcert_make_client(const char *dir, const char *name, int days,
                                char *why, size_t whylen);

/*
 * First-run helper for the server. Does nothing if dir/ca.pem and
 * dir/server.pem both exist. Otherwise creates the CA if dir/ca.pem is
 * missing (3650 days) and then a server certificate for "localhost" (825
 * days). An existing dir/server.pem is replaced only when the CA was just
 * created, because the old one would no longer verify against ca.pem.
 */
uns_err uns_devcert_ensure(const char *dir, char *why, size_t whylen);

/* CLI entry */

/*
 * `unsctl cert ...`: argv[0] is "cert", argv[1] the subcommand (ca, server,
 * client, ensure). Prints the files written to stdout and errors to stderr.
 * Returns the process exit status: 0 success, 1 failure, 2 usage error.
 */
int unsctl_cert_main(int argc, char **argv);

#endif /* UNS_DEVCERT_H */
