/*
 * fdlimit.h — the process's limit on open descriptors. Each waiting client
 * is a socket; the soft limit (often 1,024) would cap them long before
 * memory does, so unsd and uns-gateway raise it to the hard limit at start
 * and say what they got (the hard limit can only be raised by root or the
 * service manager: LimitNOFILE= in systemd).
 */
#ifndef UNS_FDLIMIT_H
#define UNS_FDLIMIT_H

#include <stdint.h>

/* Raises the soft RLIMIT_NOFILE to the hard one; returns the soft limit
 * now in force (0 if it cannot be read). */
uint64_t uns_fdlimit_raise(void);

#endif /* UNS_FDLIMIT_H */
