/*
 * nngerr.c — the one border where NNG's error numbers become uns_err.
 *
 * The mapping follows gRPC's client conventions: a dropped connection is
 * UNAVAILABLE (the call may or may not have run), a local timeout is
 * DEADLINE_EXCEEDED, and TLS failures get their own local code so callers can
 * tell "wrong CA or name" from "nobody listening".
 */
#include <nng/nng.h>

#include "errors.h"

uns_err
uns_err_from_nng(int rv)
{
	switch (rv) {
	case 0:
		return UNS_OK;
	case NNG_ETIMEDOUT:
		return UNS_DEADLINE_EXCEEDED;
	case NNG_ENOMEM:
		return UNS_ENOMEM;
	case NNG_EINVAL:
	case NNG_EADDRINVAL:
	case NNG_ENOTSUP:
		return UNS_EINVAL;
	case NNG_ECLOSED:
		return UNS_ECLOSED;
	case NNG_ECANCELED:
		return UNS_CANCELLED;
	case NNG_ECONNREFUSED:
	case NNG_EUNREACHABLE:
	case NNG_EADDRINUSE:
		return UNS_ECONNECT;
	case NNG_ECRYPTO:
	case NNG_EPEERAUTH:
		return UNS_ETLS;
	case NNG_ECONNRESET:
	case NNG_ECONNSHUT:
	case NNG_ECONNABORTED:
	case NNG_ESTATE:
		return UNS_UNAVAILABLE;
	case NNG_EMSGSIZE:
		return UNS_RESOURCE_EXHAUSTED;
	case NNG_EPROTO:
		return UNS_EPROTO;
	default:
		return (rv & NNG_ESYSERR) ? UNS_EIO : UNS_INTERNAL;
	}
}
