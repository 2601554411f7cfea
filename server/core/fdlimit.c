/*
 * fdlimit.c — see fdlimit.h.
 */
#include <sys/resource.h>

#include "fdlimit.h"

uint64_t
uns_fdlimit_raise(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
		return 0;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = {.rlim_cur = rl.rlim_max,
		                      .rlim_max = rl.rlim_max};
		if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
			rl = want;
		}
	}
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX
	                                    : (uint64_t)rl.rlim_cur;
}
