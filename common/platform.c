/*
 * platform.c — see platform.h: the name list made into one table, searched
 * both ways (six rows: a scan is all it needs).
 */
#include <stddef.h>
#include <strings.h>

#include "platform.h"

static const struct {
	Uns__V1__Platform value;
	const char *name;
} names[] = {
#define ROW(v, n) {v, n},
    UNS_PLATFORM_NAMES(ROW)
#undef ROW
};
#define N_NAMES (sizeof(names) / sizeof(names[0]))

const char *
uns_platform_name(int platform)
{
	for (size_t i = 0; i < N_NAMES; i++) {
		if ((int)names[i].value == platform) {
			return names[i].name;
		}
	}
	return NULL;
}

bool
uns_platform_parse(const char *name, Uns__V1__Platform *out)
{
	for (size_t i = 0; name != NULL && i < N_NAMES; i++) {
		if (strcasecmp(names[i].name, name) == 0) {
			*out = names[i].value;
			return true;
		}
	}
	return false;
}
