/*
 * method.c — method lookup in a generated, name-sorted method table.
 */
#include <stdlib.h>
#include <string.h>

#include "uns/method.h"

static int
cmp_name(const void *key, const void *elem)
{
	return strcmp(key, ((const uns_method *)elem)->name);
}

const uns_method *
uns_service_find(const uns_service_desc *svc, const char *name)
{
	return bsearch(name, svc->methods, svc->n_methods,
	               sizeof(svc->methods[0]), cmp_name);
}
